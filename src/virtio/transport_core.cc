#include "virtio/transport_core.h"

#include <fmt/format.h>

#include "virtio/spec.h"

namespace vireo::virtio {

namespace {
constexpr uint8_t kSettableStatus = status::kAcknowledge | status::kDriver | status::kDriverOk |
                                    status::kFeaturesOk | status::kFailed;
// A saved device state larger than this is not one of ours.
constexpr size_t kMaxDeviceStateBytes = 1 << 20;
}  // namespace

TransportCore::TransportCore(std::shared_ptr<VirtioDevice> device, const memory::GuestMemory& mem,
                             Interrupts& interrupts)
    : device_(std::move(device)), mem_(mem), interrupts_(interrupts) {
  offered_ = device_->offered_features() | feature::bit(feature::kVersion1);
  for (uint16_t max : device_->queue_max_sizes()) queues_.emplace_back(max);
}

TransportCore::~TransportCore() { device_->deactivate(); }

Result<void> TransportCore::create_kicks() {
  for (size_t i = kicks_.size(); i < queues_.size(); ++i) {
    auto fd = EventFd::create();
    if (!fd.ok()) return fd.error().context(fmt::format("{} queue {} kick", device_->name(), i));
    kicks_.push_back(std::move(*fd));
  }
  return {};
}

uint32_t TransportCore::offered_word(uint32_t sel) const {
  return sel < 2 ? static_cast<uint32_t>(offered_ >> (32 * sel)) : 0;
}

uint32_t TransportCore::driver_features_word(uint32_t sel) const {
  return sel < 2 ? static_cast<uint32_t>(driver_features_ >> (32 * sel)) : 0;
}

void TransportCore::write_driver_features_word(uint32_t sel, uint32_t value) {
  if (!(status_ & status::kDriver) || (status_ & status::kFeaturesOk) || sel >= 2) return;
  const unsigned shift = 32 * sel;
  driver_features_ = (driver_features_ & ~(uint64_t{0xffffffff} << shift)) |
                     (uint64_t{value} << shift);
}

uint8_t TransportCore::status() const {
  return static_cast<uint8_t>(status_ | (needs_reset_.load() ? status::kDeviceNeedsReset : 0));
}

void TransportCore::write_status(uint8_t value) {
  if (value == 0) {
    reset();
    return;
  }
  // Apart from the reset, a driver only adds bits (3.1.1); anything else is ignored.
  if ((value & status_) != status_ || (value & ~kSettableStatus)) return;
  const uint8_t added = value & ~status_;
  if (added & status::kFeaturesOk) {
    const bool ok = (status_ & status::kDriver) && (driver_features_ & ~offered_) == 0 &&
                    (driver_features_ & feature::bit(feature::kVersion1));
    // A refused negotiation leaves FEATURES_OK clear, which the driver reads back (3.1.1).
    if (!ok) value &= ~status::kFeaturesOk;
  }
  const bool driver_ok = (added & status::kDriverOk) != 0;
  if (driver_ok && !(value & status::kFeaturesOk)) {
    interrupts_.needs_reset("DRIVER_OK before FEATURES_OK");
    value &= ~status::kDriverOk;
  }
  status_ = value;
  if (driver_ok && (value & status::kDriverOk)) activate();
}

Queue* TransportCore::queue(uint32_t index) {
  return index < queues_.size() ? &queues_[index] : nullptr;
}

const Queue* TransportCore::queue(uint32_t index) const {
  return index < queues_.size() ? &queues_[index] : nullptr;
}

Queue* TransportCore::queue_for_setup(uint32_t index) {
  if (index >= queues_.size() || active_) return nullptr;
  if (!(status_ & status::kFeaturesOk) || (status_ & status::kDriverOk)) return nullptr;
  return &queues_[index];
}

void TransportCore::read_device_config(uint64_t offset, std::span<uint8_t> data) const {
  const uint32_t size = device_->config_size();
  if (offset < size && data.size() <= size - offset) device_->read_config(offset, data);
}

void TransportCore::write_device_config(uint64_t offset, std::span<const uint8_t> data) {
  const uint32_t size = device_->config_size();
  if (offset < size && data.size() <= size - offset) device_->write_config(offset, data);
}

void TransportCore::notify(uint32_t q) {
  if (q >= kicks_.size()) return;
  if (device_->served_on_vcpu(static_cast<uint16_t>(q))) {
    if (active_) device_->notified(static_cast<uint16_t>(q));
  } else {
    kicks_[q].signal();
  }
}

bool TransportCore::mark_needs_reset() { return !needs_reset_.exchange(true); }

void TransportCore::activate() {
  if (active_ || needs_reset_.load()) return;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = queues_[i];
    if (!q.state().ready) continue;
    if (auto v = q.validate(mem_); !v.ok()) {
      interrupts_.needs_reset(fmt::format("queue {}: {}", i, v.error().message()));
      return;
    }
    q.state().event_idx = (driver_features_ & feature::bit(feature::kEventIdx)) != 0;
    q.state().indirect = (driver_features_ & feature::bit(feature::kIndirectDesc)) != 0;
  }
  Activation a;
  a.mem = &mem_;
  a.queues = queues_;
  a.kicks = kicks_;
  a.interrupts = &interrupts_;
  a.features = driver_features_;
  if (auto r = device_->activate(a); !r.ok()) {
    interrupts_.needs_reset("cannot start: " + r.error().message());
    return;
  }
  active_ = true;
}

void TransportCore::reset() {
  device_->reset();
  active_ = false;
  for (auto& q : queues_) q.reset();
  for (auto& k : kicks_) k.drain();
  status_ = 0;
  driver_features_ = 0;
  needs_reset_.store(false);
}

CommonState TransportCore::save() const {
  CommonState s;
  s.status = status_;
  s.needs_reset = needs_reset_.load();
  s.driver_features = driver_features_;
  s.config_generation = config_generation_;
  s.active = active_;
  for (const auto& q : queues_) s.queues.push_back(q.state());
  s.device = device_->save();
  return s;
}

Result<void> TransportCore::check(const CommonState& s, std::string_view what) const {
  if (s.queues.size() != queues_.size())
    return Error(fmt::format("{}: {} queues, this device has {}", what, s.queues.size(),
                             queues_.size()));
  for (size_t i = 0; i < queues_.size(); ++i)
    if (s.queues[i].max_size != queues_[i].state().max_size)
      return Error(fmt::format("{}: queue {} holds {} entries, this device's {}", what, i,
                               s.queues[i].max_size, queues_[i].state().max_size));
  if ((s.status & ~kSettableStatus) || (s.driver_features & ~offered_))
    return Error(fmt::format("{}: status {:#x} or features {:#x} impossible for this device",
                             what, s.status, s.driver_features));
  return {};
}

Result<void> TransportCore::restore(const CommonState& s) {
  const bool was_active = active_;
  device_->deactivate();
  active_ = false;
  if (auto r = device_->restore(s.device); !r.ok()) {
    // The device refused the state and kept its own (restore() checks before it changes
    // anything): it runs again as it did, so a refused restore changes nothing.
    if (was_active) activate();
    return r;
  }
  for (size_t i = 0; i < queues_.size(); ++i) queues_[i].state() = s.queues[i];
  status_ = s.status;
  needs_reset_.store(s.needs_reset);
  driver_features_ = s.driver_features;
  config_generation_ = s.config_generation;
  if (s.active) {
    activate();
    for (auto& k : kicks_) k.signal();
  }
  return {};
}

void encode_common_state(StateWriter& w, const CommonState& s) {
  w.u8(s.status);
  w.boolean(s.needs_reset);
  w.u64(s.driver_features);
  w.u32(s.config_generation);
  w.boolean(s.active);
  w.u32(static_cast<uint32_t>(s.queues.size()));
  for (const auto& q : s.queues) encode_queue_state(w, q);
  w.u32(s.device.version);
  w.bytes(s.device.bytes);
}

Result<CommonState> decode_common_state(StateReader& r) {
  CommonState s;
  VIREO_ASSIGN_OR_RETURN(s.status, r.u8());
  VIREO_ASSIGN_OR_RETURN(s.needs_reset, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.driver_features, r.u64());
  VIREO_ASSIGN_OR_RETURN(s.config_generation, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.active, r.boolean());
  VIREO_ASSIGN_OR_RETURN(uint32_t nq, r.u32());
  if (nq > 1024) return Error(fmt::format("{} queues is not a virtio device's", nq));
  for (uint32_t i = 0; i < nq; ++i) {
    VIREO_ASSIGN_OR_RETURN(auto qs, decode_queue_state(r));
    s.queues.push_back(qs);
  }
  VIREO_ASSIGN_OR_RETURN(s.device.version, r.u32());
  VIREO_ASSIGN_OR_RETURN(s.device.bytes, r.bytes(kMaxDeviceStateBytes));
  return s;
}

}  // namespace vireo::virtio
