#include "virtio/pci_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "log/log.h"
#include "virtio/spec.h"

namespace vireo::virtio {

namespace L = pci_layout;

namespace {

// 4.1.4 Virtio structure PCI capabilities.
constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4, kCfgPci = 5;
constexpr uint8_t kBar = 0;

// struct virtio_pci_common_cfg (4.1.4.3).
namespace common {
constexpr uint64_t kDeviceFeatureSelect = 0x00;
constexpr uint64_t kDeviceFeature = 0x04;
constexpr uint64_t kDriverFeatureSelect = 0x08;
constexpr uint64_t kDriverFeature = 0x0c;
constexpr uint64_t kConfigMsixVector = 0x10;
constexpr uint64_t kNumQueues = 0x12;
constexpr uint64_t kDeviceStatus = 0x14;
constexpr uint64_t kConfigGeneration = 0x15;
constexpr uint64_t kQueueSelect = 0x16;
constexpr uint64_t kQueueSize = 0x18;
constexpr uint64_t kQueueMsixVector = 0x1a;
constexpr uint64_t kQueueEnable = 0x1c;
constexpr uint64_t kQueueNotifyOff = 0x1e;
constexpr uint64_t kQueueDesc = 0x20;
constexpr uint64_t kQueueDriver = 0x28;
constexpr uint64_t kQueueDevice = 0x30;
}  // namespace common

// PCI class codes by device type; "other" for the rest.
uint32_t class_code(uint32_t type) {
  switch (type) {
    case device_id::kNet: return 0x020000;      // Ethernet controller
    case device_id::kBlock: return 0x018000;    // other mass storage
    case device_id::kConsole: return 0x078000;  // other communications
    default: return 0xff0000;
  }
}

pci::Identity identity(uint32_t type) {
  const auto id = static_cast<uint16_t>(L::kDeviceIdBase + type);
  return {.vendor_id = L::kVendor,
          .device_id = id,
          .revision = 1,  // modern-only device (4.1.2.1)
          .class_code = class_code(type),
          .subsystem_vendor_id = L::kVendor,
          .subsystem_id = id};
}

// A virtio_pci_cap body (after cap_vndr and cap_next): cap_len, cfg_type, bar, id,
// padding, offset, length, then `extra`.
std::vector<uint8_t> virtio_cap(uint8_t type, uint32_t offset, uint32_t length,
                                std::span<const uint8_t> extra = {}) {
  std::vector<uint8_t> b(14 + extra.size(), 0);
  b[0] = static_cast<uint8_t>(16 + extra.size());
  b[1] = type;
  b[2] = kBar;
  std::memcpy(&b[6], &offset, 4);
  std::memcpy(&b[10], &length, 4);
  std::copy(extra.begin(), extra.end(), b.begin() + 14);
  return b;
}

uint64_t get(std::span<const uint8_t> data) {
  uint64_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 8));
  return v;
}

// [offset, offset+size) lies inside [start, start+len), without overflow for any offset.
bool inside(uint64_t offset, size_t size, uint64_t start, uint64_t len) {
  return offset >= start && offset - start <= len && size <= len - (offset - start);
}

bool overlaps(uint64_t offset, size_t size, uint64_t start, uint64_t len) {
  return offset < start + len && start < offset + size;
}

}  // namespace

Result<std::shared_ptr<PciTransport>> PciTransport::create(std::shared_ptr<VirtioDevice> device,
                                                           const memory::GuestMemory& mem) {
  auto t = std::make_shared<PciTransport>(Key{}, std::move(device), mem);
  VIREO_TRY(t->core_.create_kicks());
  if (auto r = t->build_capabilities(); !r.ok()) return r.error().context(std::string(t->name()));
  return t;
}

PciTransport::PciTransport(Key, std::shared_ptr<VirtioDevice> device,
                           const memory::GuestMemory& mem)
    : core_(std::move(device), mem, *this),
      config_(identity(core_.device().device_type())),
      msix_(static_cast<uint16_t>(core_.queue_count() + 1), kBar, L::kMsixTable, kBar, L::kMsixPba),
      queue_vectors_(std::make_unique<std::atomic<uint16_t>[]>(core_.queue_count())) {
  device_id_ = core_.device().device_type();
  for (size_t q = 0; q < core_.queue_count(); ++q) queue_vectors_[q].store(pci::kNoVector);
}

PciTransport::~PciTransport() = default;

Result<void> PciTransport::build_capabilities() {
  VIREO_TRY(config_.add_bar(kBar, {L::kBarSize, pci::BarKind::kMemory64, false}));
  const uint32_t dev_cfg = core_.device().config_size();
  if (dev_cfg > L::kDeviceConfigMax) return Error("device configuration space too large");
  if (core_.queue_count() * L::kNotifyMultiplier > L::kMsixTable - L::kNotify ||
      msix_.table_bytes() > L::kMsixPba - L::kMsixTable)
    return Error("too many queues for the BAR layout");
  const auto add = [&](std::vector<uint8_t> body, std::vector<uint8_t> mask = {}) {
    return config_.add_capability(kCapVendor, body, mask);
  };
  VIREO_TRY(add(virtio_cap(kCfgCommon, L::kCommon, L::kCommonSize)));
  const uint32_t multiplier = L::kNotifyMultiplier;
  uint8_t mul[4];
  std::memcpy(mul, &multiplier, 4);
  VIREO_TRY(add(virtio_cap(kCfgNotify, L::kNotify,
                           static_cast<uint32_t>(std::max<size_t>(core_.queue_count(), 1) *
                                                 L::kNotifyMultiplier),
                           mul)));
  VIREO_TRY(add(virtio_cap(kCfgIsr, L::kIsr, L::kIsrSize)));
  if (dev_cfg) VIREO_TRY(add(virtio_cap(kCfgDevice, L::kDeviceConfig, dev_cfg)));
  // VIRTIO_PCI_CAP_PCI_CFG: a window into the BARs through configuration space. The
  // driver writes bar, offset and length, then reads or writes pci_cfg_data.
  std::vector<uint8_t> pci_cfg_mask(18, 0);
  pci_cfg_mask[2] = 0xff;                                      // bar
  std::fill(pci_cfg_mask.begin() + 6, pci_cfg_mask.end(), 0xff);  // offset, length, data
  const uint8_t zero4[4] = {};
  VIREO_ASSIGN_OR_RETURN(pci_cfg_cap_, add(virtio_cap(kCfgPci, 0, 0, zero4), pci_cfg_mask));
  VIREO_ASSIGN_OR_RETURN(msix_cap_, config_.add_capability(pci::kCapabilityMsix,
                                                           msix_.capability_body(),
                                                           msix_.capability_mask()));
  return {};
}

// --- Configuration space --------------------------------------------------------------

void PciTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= pci::kConfigSize) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  const auto at = static_cast<uint32_t>(offset);
  // A read of pci_cfg_data reads the BAR window the capability names.
  if (overlaps(at, data.size(), pci_cfg_cap_ + 16, 4)) {
    uint8_t window[4] = {0, 0, 0, 0};
    if (auto w = pci_cfg_window()) read_bar_locked(w->offset, std::span(window, w->len));
    for (int i = 0; i < 4; ++i) config_.set_u8(pci_cfg_cap_ + 16 + i, window[i]);
  }
  config_.read(at, data);
}

void PciTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= pci::kConfigSize) return;
  const auto at = static_cast<uint32_t>(offset);
  config_.write(at, data);
  if (overlaps(at, data.size(), msix_cap_ + 2, 2)) msix_.write_control(config_.u16(msix_cap_ + 2));
  if (overlaps(at, data.size(), pci_cfg_cap_ + 16, 4)) {
    uint8_t window[4];
    for (int i = 0; i < 4; ++i) window[i] = config_.u8(pci_cfg_cap_ + 16 + i);
    if (auto w = pci_cfg_window()) write_bar_locked(w->offset, std::span<const uint8_t>(window, w->len));
  }
}

std::optional<PciTransport::PciCfgWindow> PciTransport::pci_cfg_window() const {
  const uint8_t bar = config_.u8(pci_cfg_cap_ + 4);
  const uint32_t off = config_.u32(pci_cfg_cap_ + 8), len = config_.u32(pci_cfg_cap_ + 12);
  if (bar != kBar || (len != 1 && len != 2 && len != 4) || off % len != 0 || off >= L::kBarSize)
    return std::nullopt;
  return PciCfgWindow{off, len};
}

std::optional<pci::Bar> PciTransport::bar(unsigned index) const {
  std::lock_guard lock(mu_);
  return index < pci::kBarCount ? config_.bar(index) : std::nullopt;
}

std::optional<uint64_t> PciTransport::decoded_bar(unsigned index) const {
  std::lock_guard lock(mu_);
  return config_.decoded_bar(index);
}

void PciTransport::place_bar(unsigned index, uint64_t address) {
  std::lock_guard lock(mu_);
  config_.set_bar_address(index, address);
  config_.commit_initial();
}

void PciTransport::bar_mapped(unsigned index, std::optional<uint64_t> now) {
  std::lock_guard lock(mu_);
  if (index != kBar || routed_ == now) return;
  if (notify_mover_) notify_mover_(routed_, now);
  routed_ = now;
}

// --- BAR 0 ------------------------------------------------------------------------------

void PciTransport::read_bar(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (index != kBar) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  read_bar_locked(offset, data);
}

void PciTransport::write_bar(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (index == kBar) write_bar_locked(offset, data);
}

void PciTransport::read_bar_locked(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  const size_t n = data.size();
  if (inside(offset, n, L::kCommon, L::kCommonSize)) {
    read_common(offset - L::kCommon, data);
  } else if (inside(offset, n, L::kIsr, L::kIsrSize)) {
    // Reading the ISR clears it (4.1.4.5); with MSI-X on it is not used, but still works.
    if (offset == L::kIsr) data[0] = isr_.exchange(0);
  } else if (offset >= L::kDeviceConfig && offset < L::kDeviceConfig + L::kDeviceConfigMax) {
    core_.read_device_config(offset - L::kDeviceConfig, data);
  } else if (offset >= L::kMsixTable && offset < L::kMsixPba) {
    msix_.read_table(offset - L::kMsixTable, data);
  } else if (offset >= L::kMsixPba && offset < L::kBarSize) {
    msix_.read_pba(offset - L::kMsixPba, data);
  }
}

void PciTransport::write_bar_locked(uint64_t offset, std::span<const uint8_t> data) {
  const size_t n = data.size();
  if (inside(offset, n, L::kCommon, L::kCommonSize)) {
    write_common(offset - L::kCommon, data);
  } else if (offset >= L::kDeviceConfig && offset < L::kDeviceConfig + L::kDeviceConfigMax) {
    core_.write_device_config(offset - L::kDeviceConfig, data);
  } else if (offset >= L::kNotify && offset < L::kMsixTable) {
    // A notification that exited to the VMM (no ioeventfd for this queue, or none yet).
    const uint64_t q = (offset - L::kNotify) / L::kNotifyMultiplier;
    if (q < core_.queue_count()) core_.notify(static_cast<uint32_t>(q));
  } else if (offset >= L::kMsixTable && offset < L::kMsixPba) {
    msix_.write_table(offset - L::kMsixTable, data);
  }
}

void PciTransport::read_common(uint64_t offset, std::span<uint8_t> data) const {
  // The structure as the driver sees it now; any access inside it reads its bytes.
  uint8_t cfg[L::kCommonSize] = {};
  const auto put = [&](uint64_t at, uint64_t v, size_t width) { std::memcpy(cfg + at, &v, width); };
  put(common::kDeviceFeatureSelect, device_features_sel_, 4);
  put(common::kDeviceFeature, core_.offered_word(device_features_sel_), 4);
  put(common::kDriverFeatureSelect, driver_features_sel_, 4);
  put(common::kDriverFeature, core_.driver_features_word(driver_features_sel_), 4);
  put(common::kConfigMsixVector, config_vector_.load(), 2);
  put(common::kNumQueues, core_.queue_count(), 2);
  put(common::kDeviceStatus, core_.status(), 1);
  put(common::kConfigGeneration, core_.config_generation(), 1);
  put(common::kQueueSelect, queue_sel_, 2);
  if (const Queue* q = core_.queue(queue_sel_)) {
    const QueueState& s = q->state();
    // Before the driver sets a size, queue_size reads the maximum (4.1.4.3.1).
    put(common::kQueueSize, s.size ? s.size : s.max_size, 2);
    put(common::kQueueMsixVector, queue_vectors_[queue_sel_].load(), 2);
    put(common::kQueueEnable, s.ready ? 1 : 0, 2);
    put(common::kQueueNotifyOff, queue_sel_, 2);
    put(common::kQueueDesc, s.desc, 8);
    put(common::kQueueDriver, s.avail, 8);
    put(common::kQueueDevice, s.used, 8);
  }
  std::memcpy(data.data(), cfg + offset, data.size());
}

void PciTransport::write_common(uint64_t offset, std::span<const uint8_t> data) {
  const uint64_t v = get(data);
  const size_t n = data.size();
  // A vector the function does not have reads back as NO_VECTOR (4.1.5.1.2).
  const auto vector = [&](uint64_t x) {
    return x < msix_.count() ? static_cast<uint16_t>(x) : pci::kNoVector;
  };
  switch (offset) {
    case common::kDeviceFeatureSelect: if (n == 4) device_features_sel_ = static_cast<uint32_t>(v); return;
    case common::kDriverFeatureSelect: if (n == 4) driver_features_sel_ = static_cast<uint32_t>(v); return;
    case common::kDriverFeature:
      if (n == 4) core_.write_driver_features_word(driver_features_sel_, static_cast<uint32_t>(v));
      return;
    case common::kConfigMsixVector: if (n == 2) config_vector_.store(vector(v)); return;
    case common::kDeviceStatus:
      if (n != 1) return;
      if (v == 0) reset_device_locked();
      else core_.write_status(static_cast<uint8_t>(v));
      return;
    case common::kQueueSelect: if (n == 2) queue_sel_ = static_cast<uint16_t>(v); return;
    case common::kQueueMsixVector:
      if (n == 2 && queue_sel_ < core_.queue_count()) queue_vectors_[queue_sel_].store(vector(v));
      return;
    default: break;
  }
  Queue* q = core_.queue_for_setup(queue_sel_);
  if (!q) return;
  QueueState& s = q->state();
  if (offset == common::kQueueEnable) {
    if (n == 2 && v == 1) s.ready = true;  // writing 0 is not allowed (4.1.4.3.2)
    return;
  }
  if (s.ready) return;  // the rest only while the queue is disabled
  // 64-bit fields take one 8-byte write or two 4-byte halves.
  const auto set64 = [&](uint64_t& field, uint64_t base) {
    if (offset == base && n == 8) field = v;
    else if (offset == base && n == 4) field = (field & ~uint64_t{0xffffffff}) | v;
    else if (offset == base + 4 && n == 4) field = (field & 0xffffffff) | (v << 32);
  };
  switch (offset & ~uint64_t{7}) {
    case common::kQueueDesc: set64(s.desc, common::kQueueDesc); return;
    case common::kQueueDriver: set64(s.avail, common::kQueueDriver); return;
    case common::kQueueDevice: set64(s.used, common::kQueueDevice); return;
    default: break;
  }
  if (offset == common::kQueueSize && n == 2) s.size = static_cast<uint16_t>(v);
}

void PciTransport::reset_device_locked() {
  core_.reset();
  device_features_sel_ = driver_features_sel_ = 0;
  queue_sel_ = 0;
  config_vector_.store(pci::kNoVector);
  for (size_t q = 0; q < core_.queue_count(); ++q) queue_vectors_[q].store(pci::kNoVector);
  isr_.store(0);
}

void PciTransport::reset() {
  std::lock_guard lock(mu_);
  reset_device_locked();
  config_.reset();
  msix_.reset();
}

uint8_t PciTransport::status() const {
  std::lock_guard lock(mu_);
  return core_.status();
}

bool PciTransport::active() const {
  std::lock_guard lock(mu_);
  return core_.active();
}

// --- Interrupts ---------------------------------------------------------------------

void PciTransport::used_buffers(uint16_t queue) {
  isr_.fetch_or(1);
  if (queue < core_.queue_count()) msix_.notify(queue_vectors_[queue].load());
}

void PciTransport::config_changed() {
  isr_.fetch_or(2);
  msix_.notify(config_vector_.load());
}

void PciTransport::needs_reset(std::string why) {
  if (!core_.mark_needs_reset()) return;
  LOG_WARN("{}: device needs reset: {}", name(), why);
  config_changed();
}

// --- State ------------------------------------------------------------------------------

devices::DeviceState PciTransport::save() const {
  std::lock_guard lock(mu_);
  StateWriter w;
  config_.save(w);
  msix_.save(w);
  w.u32(device_features_sel_);
  w.u32(driver_features_sel_);
  w.u16(queue_sel_);
  w.u16(config_vector_.load());
  for (size_t q = 0; q < core_.queue_count(); ++q) w.u16(queue_vectors_[q].load());
  w.u8(isr_.load());
  encode_common_state(w, core_.save());
  return {kStateVersion, w.take()};
}

Result<void> PciTransport::restore(const devices::DeviceState& state) {
  const std::string what = fmt::format("{} (virtio-pci) state", name());
  if (state.version != kStateVersion)
    return Error(fmt::format("{}: version {} (this vireo reads {})", what, state.version,
                             kStateVersion));
  std::lock_guard lock(mu_);
  StateReader r(state.bytes, what);
  pci::ConfigSpace config = config_;
  VIREO_TRY(config.restore(r));
  // The MSI-X state is checked on a scratch copy before anything changes.
  pci::Msix scratch(msix_.count(), kBar, L::kMsixTable, kBar, L::kMsixPba);
  const size_t msix_at = state.bytes.size() - r.remaining();
  VIREO_TRY(scratch.restore(r));
  PciState s;
  VIREO_ASSIGN_OR_RETURN(s.device_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.driver_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.queue_sel, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.config_vector, r.u16());
  for (size_t q = 0; q < core_.queue_count(); ++q) {
    VIREO_ASSIGN_OR_RETURN(uint16_t v, r.u16());
    s.queue_vectors.push_back(v);
  }
  VIREO_ASSIGN_OR_RETURN(s.isr, r.u8());
  VIREO_ASSIGN_OR_RETURN(auto common, decode_common_state(r));
  VIREO_TRY(r.finish());
  VIREO_TRY(core_.check(common, what));

  // Vectors first: the device, started again, may interrupt at once. The device's own
  // state is checked only by restoring it, last: if it is refused, all this goes back.
  const pci::ConfigSpace old_config = config_;
  StateWriter old_msix;
  msix_.save(old_msix);
  const PciState old = registers_locked();
  config_ = config;
  StateReader msix_reader(std::span(state.bytes).subspan(msix_at), what);
  (void)msix_.restore(msix_reader);  // checked above on the scratch copy
  set_registers_locked(s);
  if (auto r = core_.restore(common); !r.ok()) {
    config_ = old_config;
    const std::vector<uint8_t> old_msix_bytes = old_msix.take();
    StateReader back(old_msix_bytes, what);
    (void)msix_.restore(back);  // its own state
    set_registers_locked(old);
    return r;
  }
  isr_.store(s.isr);
  return {};
}

PciState PciTransport::registers_locked() const {
  PciState s;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.queue_sel = queue_sel_;
  s.config_vector = config_vector_.load();
  for (size_t q = 0; q < core_.queue_count(); ++q) s.queue_vectors.push_back(queue_vectors_[q].load());
  s.isr = isr_.load();
  return s;
}

void PciTransport::set_registers_locked(const PciState& s) {
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  queue_sel_ = s.queue_sel;
  config_vector_.store(s.config_vector);
  for (size_t q = 0; q < core_.queue_count(); ++q) queue_vectors_[q].store(s.queue_vectors[q]);
}

}  // namespace vireo::virtio
