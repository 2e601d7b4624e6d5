#include "virtio/mmio_transport.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "arch/x86/acpi_tables.h"
#include "util/state_codec.h"
#include "virtio/spec.h"

namespace vireo::virtio {

namespace {

constexpr uint8_t kSettableStatus = status::kAcknowledge | status::kDriver | status::kDriverOk |
                                    status::kFeaturesOk | status::kFailed;
// A saved device state larger than this is not one of ours.
constexpr size_t kMaxDeviceStateBytes = 1 << 20;

uint32_t low(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t high(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
void set_low(uint64_t& v, uint32_t x) { v = (v & ~uint64_t{0xffffffff}) | x; }
void set_high(uint64_t& v, uint32_t x) { v = (v & 0xffffffff) | (uint64_t{x} << 32); }

}  // namespace

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(std::shared_ptr<VirtioDevice> device,
                                                             const memory::GuestMemory& mem) {
  auto t = std::make_shared<MmioTransport>(Key{}, std::move(device), mem);
  for (size_t i = 0; i < t->queues_.size(); ++i) {
    auto fd = EventFd::create();
    if (!fd.ok()) return fd.error().context(fmt::format("{} queue {} kick", t->name(), i));
    t->kicks_.push_back(std::move(*fd));
  }
  return t;
}

MmioTransport::MmioTransport(Key, std::shared_ptr<VirtioDevice> device,
                             const memory::GuestMemory& mem)
    : device_(std::move(device)), mem_(mem) {
  offered_ = device_->offered_features() | feature::bit(feature::kVersion1);
  for (uint16_t max : device_->queue_max_sizes()) queues_.emplace_back(max);
  s_.queues.resize(queues_.size());
}

MmioTransport::~MmioTransport() { device_->deactivate(); }

std::string MmioTransport::cmdline_token(const devices::Placement& where) {
  return fmt::format("virtio_mmio.device={}K@{:#x}:{}", where.len / 1024, where.base,
                     where.gsi.value_or(0));
}

uint8_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return static_cast<uint8_t>(s_.status |
                              (needs_reset_.load() ? status::kDeviceNeedsReset : 0));
}

bool MmioTransport::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  std::lock_guard lock(mu_);
  if (offset >= mmio::kConfig) {
    const uint64_t at = offset - mmio::kConfig;
    if (at < device_->config_size() && data.size() <= device_->config_size() - at)
      device_->read_config(at, data);
    return;
  }
  // Registers are 32 bits wide and read as a whole (4.2.2.2): other accesses read 0.
  if (data.size() != 4 || offset % 4 != 0) return;
  const uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

uint32_t MmioTransport::read_register(uint64_t offset) const {
  const bool queue_ok = s_.queue_sel < queues_.size();
  switch (offset) {
    case mmio::kMagicValue: return mmio::kMagic;
    case mmio::kVersion: return mmio::kVersion2;
    case mmio::kDeviceId: return device_->device_type();
    case mmio::kVendorId: return mmio::kVendor;
    case mmio::kDeviceFeatures:
      return s_.device_features_sel == 0   ? low(offered_)
             : s_.device_features_sel == 1 ? high(offered_)
                                           : 0;
    case mmio::kQueueNumMax: return queue_ok ? queues_[s_.queue_sel].state().max_size : 0;
    case mmio::kQueueReady: return queue_ok && queues_[s_.queue_sel].state().ready ? 1 : 0;
    case mmio::kInterruptStatus: return interrupt_status_.load();
    case mmio::kStatus:
      return s_.status | (needs_reset_.load() ? status::kDeviceNeedsReset : 0);
    case mmio::kShmLenLow:
    case mmio::kShmLenHigh: return 0xffffffff;  // no shared memory regions
    case mmio::kConfigGeneration: return s_.config_generation;
    default: return 0;  // write-only and reserved registers
  }
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= mmio::kConfig) {
    const uint64_t at = offset - mmio::kConfig;
    if (at < device_->config_size() && data.size() <= device_->config_size() - at)
      device_->write_config(at, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) return;
  uint32_t v;
  std::memcpy(&v, data.data(), 4);
  write_register(offset, v);
}

Queue* MmioTransport::selected_queue_for_setup() {
  // Queue registers change only for an existing queue of a stopped device that finished
  // feature negotiation (4.2.3.2), and only while the queue is disabled (but QueueReady).
  if (s_.queue_sel >= queues_.size() || active_) return nullptr;
  if (!(s_.status & status::kFeaturesOk) || (s_.status & status::kDriverOk)) return nullptr;
  return &queues_[s_.queue_sel];
}

void MmioTransport::write_register(uint64_t offset, uint32_t v) {
  switch (offset) {
    case mmio::kDeviceFeaturesSel: s_.device_features_sel = v; return;
    case mmio::kDriverFeaturesSel: s_.driver_features_sel = v; return;
    case mmio::kDriverFeatures:
      // Only while negotiating (after DRIVER, before FEATURES_OK).
      if ((s_.status & status::kDriver) && !(s_.status & status::kFeaturesOk)) {
        if (s_.driver_features_sel == 0) set_low(s_.driver_features, v);
        if (s_.driver_features_sel == 1) set_high(s_.driver_features, v);
      }
      return;
    case mmio::kQueueSel: s_.queue_sel = v; return;
    case mmio::kQueueNotify:
      if (v >= kicks_.size()) return;
      if (device_->served_on_vcpu(static_cast<uint16_t>(v))) {
        if (active_) device_->notified(static_cast<uint16_t>(v));
      } else {
        kicks_[v].signal();
      }
      return;
    case mmio::kInterruptAck: interrupt_status_.fetch_and(~v); return;
    case mmio::kStatus: write_status(static_cast<uint8_t>(v)); return;
    default: break;
  }
  Queue* q = selected_queue_for_setup();
  if (!q) return;
  QueueState& qs = q->state();
  if (offset == mmio::kQueueReady) {
    qs.ready = v == 1;
    return;
  }
  if (qs.ready) return;  // the rest only while the queue is disabled
  switch (offset) {
    case mmio::kQueueNum: qs.size = v <= 0xffff ? static_cast<uint16_t>(v) : 0; return;
    case mmio::kQueueDescLow: set_low(qs.desc, v); return;
    case mmio::kQueueDescHigh: set_high(qs.desc, v); return;
    case mmio::kQueueDriverLow: set_low(qs.avail, v); return;
    case mmio::kQueueDriverHigh: set_high(qs.avail, v); return;
    case mmio::kQueueDeviceLow: set_low(qs.used, v); return;
    case mmio::kQueueDeviceHigh: set_high(qs.used, v); return;
    default: return;
  }
}

void MmioTransport::write_status(uint8_t value) {
  if (value == 0) {
    reset_locked();
    return;
  }
  // Apart from the reset, a driver only adds bits (3.1.1); anything else is ignored.
  if ((value & s_.status) != s_.status || (value & ~kSettableStatus)) return;
  const uint8_t added = value & ~s_.status;
  if (added & status::kFeaturesOk) {
    const bool ok = (s_.status & status::kDriver) && (s_.driver_features & ~offered_) == 0 &&
                    (s_.driver_features & feature::bit(feature::kVersion1));
    // A refused negotiation leaves FEATURES_OK clear, which the driver reads back (3.1.1).
    if (!ok) value &= ~status::kFeaturesOk;
  }
  const bool driver_ok = (added & status::kDriverOk) != 0;
  if (driver_ok && !(value & status::kFeaturesOk)) {
    flag_needs_reset("DRIVER_OK before FEATURES_OK");
    value &= ~status::kDriverOk;
  }
  s_.status = value;
  if (driver_ok && (value & status::kDriverOk)) activate_locked();
}

void MmioTransport::activate_locked() {
  if (active_ || needs_reset_.load()) return;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = queues_[i];
    if (!q.state().ready) continue;
    if (auto v = q.validate(mem_); !v.ok()) {
      flag_needs_reset(fmt::format("queue {}: {}", i, v.error().message()));
      return;
    }
    q.state().event_idx = (s_.driver_features & feature::bit(feature::kEventIdx)) != 0;
    q.state().indirect = (s_.driver_features & feature::bit(feature::kIndirectDesc)) != 0;
  }
  Activation a;
  a.mem = &mem_;
  a.queues = queues_;
  a.kicks = kicks_;
  a.interrupts = this;
  a.features = s_.driver_features;
  if (auto r = device_->activate(a); !r.ok()) {
    flag_needs_reset("cannot start: " + r.error().message());
    return;
  }
  active_ = true;
}

void MmioTransport::reset_locked() {
  device_->reset();
  active_ = false;
  for (auto& q : queues_) q.reset();
  for (auto& k : kicks_) k.drain();
  s_ = MmioState{};
  s_.queues.resize(queues_.size());
  interrupt_status_.store(0);
  needs_reset_.store(false);
  // The line is an edge each time: nothing to lower.
}

void MmioTransport::reset() {
  std::lock_guard lock(mu_);
  reset_locked();
}

void MmioTransport::pause() { device_->pause(); }
void MmioTransport::resume() { device_->resume(); }

void MmioTransport::flag_needs_reset(std::string why) {
  needs_reset(std::move(why));
}

void MmioTransport::raise(uint32_t bits) {
  interrupt_status_.fetch_or(bits);
  if (irq_) irq_->trigger();
}

void MmioTransport::used_buffers(uint16_t) { raise(mmio::kInterruptUsedBuffer); }

void MmioTransport::config_changed() { raise(mmio::kInterruptConfigChange); }

void MmioTransport::needs_reset(std::string why) {
  if (needs_reset_.exchange(true)) return;
  std::fprintf(stderr, "vireo: %s: device needs reset: %s\n", std::string(name()).c_str(),
               why.c_str());
  raise(mmio::kInterruptConfigChange);
}

devices::DeviceState MmioTransport::save() const {
  std::lock_guard lock(mu_);
  StateWriter w;
  w.u8(s_.status);
  w.boolean(needs_reset_.load());
  w.u32(s_.device_features_sel);
  w.u32(s_.driver_features_sel);
  w.u64(s_.driver_features);
  w.u32(s_.queue_sel);
  w.u32(interrupt_status_.load());
  w.u32(s_.config_generation);
  w.boolean(active_);
  w.u32(static_cast<uint32_t>(queues_.size()));
  for (const auto& q : queues_) encode_queue_state(w, q.state());
  const auto dev = device_->save();
  w.u32(dev.version);
  w.bytes(dev.bytes);
  return {kStateVersion, w.take()};
}

Result<void> MmioTransport::restore(const devices::DeviceState& state) {
  const std::string what = fmt::format("{} (virtio-mmio) state", name());
  if (state.version != kStateVersion)
    return Error(fmt::format("{}: version {} (this vireo reads {})", what, state.version,
                             kStateVersion));
  StateReader r(state.bytes, what);
  MmioState s;
  VIREO_ASSIGN_OR_RETURN(s.status, r.u8());
  VIREO_ASSIGN_OR_RETURN(s.needs_reset, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.device_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.driver_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.driver_features, r.u64());
  VIREO_ASSIGN_OR_RETURN(s.queue_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.interrupt_status, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.config_generation, r.u32());
  VIREO_ASSIGN_OR_RETURN(bool was_active, r.boolean());
  VIREO_ASSIGN_OR_RETURN(uint32_t nq, r.u32());
  if (nq != queues_.size())
    return Error(fmt::format("{}: {} queues, this device has {}", what, nq, queues_.size()));
  for (uint32_t i = 0; i < nq; ++i) {
    VIREO_ASSIGN_OR_RETURN(auto qs, decode_queue_state(r));
    if (qs.max_size != queues_[i].state().max_size)
      return Error(fmt::format("{}: queue {} holds {} entries, this device's {}", what, i,
                               qs.max_size, queues_[i].state().max_size));
    s.queues.push_back(qs);
  }
  devices::DeviceState dev;
  VIREO_ASSIGN_OR_RETURN(dev.version, r.u32());
  VIREO_ASSIGN_OR_RETURN(dev.bytes, r.bytes(kMaxDeviceStateBytes));
  VIREO_TRY(r.finish());
  if ((s.status & ~kSettableStatus) || (s.driver_features & ~offered_))
    return Error(fmt::format("{}: status {:#x} or features {:#x} impossible for this device",
                             what, s.status, s.driver_features));

  std::lock_guard lock(mu_);
  device_->deactivate();
  active_ = false;
  VIREO_TRY(device_->restore(dev));
  for (size_t i = 0; i < queues_.size(); ++i) queues_[i].state() = s.queues[i];
  interrupt_status_.store(s.interrupt_status);
  needs_reset_.store(s.needs_reset);
  s.queues.clear();
  s.queues.resize(queues_.size());
  s.interrupt_status = 0;
  s.needs_reset = false;
  s_ = s;
  if (was_active) {
    activate_locked();
    // Chains made available while the device was saved get no kick of their own.
    for (auto& k : kicks_) k.signal();
  }
  return {};
}

std::vector<uint8_t> MmioTransport::aml(const devices::Placement& where) const {
  namespace aml = arch::x86::aml;
  std::vector<aml::Bytes> crs = {
      aml::memory32_fixed_descriptor(static_cast<uint32_t>(where.base),
                                     static_cast<uint32_t>(where.len))};
  if (where.gsi) crs.push_back(aml::extended_interrupt_descriptor(*where.gsi));
  // Linux's virtio-mmio driver matches _HID LNRO0005. Name and _UID come from the page
  // number, unique among the devices (the window holds them 4 KiB apart).
  const uint64_t page = where.base >> 12;
  return aml::device(fmt::format("V{:03X}", page & 0xfff),
                     {aml::name("_HID", aml::string("LNRO0005")),
                      aml::name("_UID", aml::integer(page)),
                      aml::name("_CRS", aml::resource_template(crs))});
}

}  // namespace vireo::virtio
