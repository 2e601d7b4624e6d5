#include "virtio/mmio_transport.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "arch/x86/acpi_tables.h"
#include "log/log.h"
#include "util/state_codec.h"
#include "virtio/spec.h"

namespace vireo::virtio {

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(std::shared_ptr<VirtioDevice> device,
                                                             const memory::GuestMemory& mem) {
  auto t = std::make_shared<MmioTransport>(Key{}, std::move(device), mem);
  VIREO_TRY(t->core_.create_kicks());
  return t;
}

MmioTransport::MmioTransport(Key, std::shared_ptr<VirtioDevice> device,
                             const memory::GuestMemory& mem)
    : core_(std::move(device), mem, *this) {}

MmioTransport::~MmioTransport() = default;

std::string MmioTransport::cmdline_token(const devices::Placement& where) {
  return fmt::format("virtio_mmio.device={}K@{:#x}:{}", where.len / 1024, where.base,
                     where.gsi.value_or(0));
}

uint8_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return core_.status();
}

bool MmioTransport::active() const {
  std::lock_guard lock(mu_);
  return core_.active();
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  std::lock_guard lock(mu_);
  if (offset >= mmio::kConfig) {
    core_.read_device_config(offset - mmio::kConfig, data);
    return;
  }
  // Registers are 32 bits wide and read as a whole (4.2.2.2): other accesses read 0.
  if (data.size() != 4 || offset % 4 != 0) return;
  const uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

uint32_t MmioTransport::read_register(uint64_t offset) const {
  const Queue* q = core_.queue(s_.queue_sel);
  switch (offset) {
    case mmio::kMagicValue: return mmio::kMagic;
    case mmio::kVersion: return mmio::kVersion2;
    case mmio::kDeviceId: return core_.device().device_type();
    case mmio::kVendorId: return mmio::kVendor;
    case mmio::kDeviceFeatures: return core_.offered_word(s_.device_features_sel);
    case mmio::kQueueNumMax: return q ? q->state().max_size : 0;
    case mmio::kQueueReady: return q && q->state().ready ? 1 : 0;
    case mmio::kInterruptStatus: return interrupt_status_.load();
    case mmio::kStatus: return core_.status();
    case mmio::kShmLenLow:
    case mmio::kShmLenHigh: return 0xffffffff;  // no shared memory regions
    case mmio::kConfigGeneration: return core_.config_generation();
    default: return 0;  // write-only and reserved registers
  }
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= mmio::kConfig) {
    core_.write_device_config(offset - mmio::kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) return;
  uint32_t v;
  std::memcpy(&v, data.data(), 4);
  write_register(offset, v);
}

void MmioTransport::write_register(uint64_t offset, uint32_t v) {
  switch (offset) {
    case mmio::kDeviceFeaturesSel: s_.device_features_sel = v; return;
    case mmio::kDriverFeaturesSel: s_.driver_features_sel = v; return;
    case mmio::kDriverFeatures: core_.write_driver_features_word(s_.driver_features_sel, v); return;
    case mmio::kQueueSel: s_.queue_sel = v; return;
    case mmio::kQueueNotify: core_.notify(v); return;
    case mmio::kInterruptAck: interrupt_status_.fetch_and(~v); return;
    case mmio::kStatus:
      if (v == 0) reset_locked();
      else core_.write_status(static_cast<uint8_t>(v));
      return;
    default: break;
  }
  Queue* q = core_.queue_for_setup(s_.queue_sel);
  if (!q) return;
  QueueState& qs = q->state();
  if (offset == mmio::kQueueReady) {
    qs.ready = v == 1;
    return;
  }
  if (qs.ready) return;  // the rest only while the queue is disabled
  auto set_low = [](uint64_t& r, uint32_t x) { r = (r & ~uint64_t{0xffffffff}) | x; };
  auto set_high = [](uint64_t& r, uint32_t x) { r = (r & 0xffffffff) | (uint64_t{x} << 32); };
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

void MmioTransport::reset_locked() {
  core_.reset();
  s_ = MmioState{};
  interrupt_status_.store(0);
  // The line is an edge each time: nothing to lower.
}

void MmioTransport::reset() {
  std::lock_guard lock(mu_);
  reset_locked();
}

void MmioTransport::pause() { core_.pause(); }
void MmioTransport::resume() { core_.resume(); }

void MmioTransport::raise(uint32_t bits) {
  interrupt_status_.fetch_or(bits);
  if (irq_) irq_->trigger();
}

void MmioTransport::used_buffers(uint16_t) { raise(mmio::kInterruptUsedBuffer); }

void MmioTransport::config_changed() { raise(mmio::kInterruptConfigChange); }

void MmioTransport::needs_reset(std::string why) {
  if (!core_.mark_needs_reset()) return;
  LOG_WARN("{}: device needs reset: {}", name(), why);
  raise(mmio::kInterruptConfigChange);
}

devices::DeviceState MmioTransport::save() const {
  std::lock_guard lock(mu_);
  StateWriter w;
  w.u32(s_.device_features_sel);
  w.u32(s_.driver_features_sel);
  w.u32(s_.queue_sel);
  w.u32(interrupt_status_.load());
  encode_common_state(w, core_.save());
  return {kStateVersion, w.take()};
}

Result<void> MmioTransport::restore(const devices::DeviceState& state) {
  const std::string what = fmt::format("{} (virtio-mmio) state", name());
  if (state.version != kStateVersion)
    return Error(fmt::format("{}: version {} (this vireo reads {})", what, state.version,
                             kStateVersion));
  StateReader r(state.bytes, what);
  MmioState s;
  VIREO_ASSIGN_OR_RETURN(s.device_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.driver_features_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.queue_sel, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.interrupt_status, r.u32());
  VIREO_ASSIGN_OR_RETURN(auto common, decode_common_state(r));
  VIREO_TRY(r.finish());
  VIREO_TRY(core_.check(common, what));

  std::lock_guard lock(mu_);
  VIREO_TRY(core_.restore(common));
  interrupt_status_.store(s.interrupt_status);
  s.interrupt_status = 0;
  s_ = s;
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
