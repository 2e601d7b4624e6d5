#include "vmm/device_manager.h"

#include <fmt/format.h>

#include <algorithm>

#include "arch/x86/layout.h"

namespace vireo::vmm {

namespace layout = arch::x86::layout;

namespace {
// The window MMIO devices are placed in (below the IOAPIC and LAPIC pages), and the
// IOAPIC inputs handed out: 5-23, without those of ISA devices placed at fixed GSIs and
// the ACPI SCI.
constexpr uint64_t kMmioDevicesEnd = layout::kMmioDevicesStart + 0x10000000;  // 256 MiB
constexpr uint32_t kFirstFreeGsi = 5, kLastGsi = 23;
constexpr uint64_t kPage = 4096;

const char* bus_name(devices::BusKind b) { return b == devices::BusKind::kPio ? "port" : "MMIO"; }
}  // namespace

DeviceManager::DeviceManager(devices::Bus& pio, devices::Bus& mmio)
    : pio_(pio),
      mmio_(mmio),
      mmio_space_("MMIO device window", layout::kMmioDevicesStart, kMmioDevicesEnd),
      gsis_("device interrupts (GSIs)", kFirstFreeGsi, kLastGsi) {
  gsis_.reserve(layout::kIrqAcpiSci);
}

uint32_t DeviceManager::count_of_kind(std::string_view kind) const {
  return static_cast<uint32_t>(std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.device->name() == kind;
  }));
}

Result<void> DeviceManager::add(std::string id, std::shared_ptr<devices::BusDevice> device,
                                devices::Placement where) {
  if (!device) return Error(fmt::format("device '{}': no device", id));
  for (const auto& e : entries_)
    if (e.id == id) return Error(fmt::format("device id '{}' is used twice", id));
  where.index = count_of_kind(device->name());
  devices::Bus& bus = where.bus == devices::BusKind::kPio ? pio_ : mmio_;
  auto r = bus.insert(device, where.base, where.len);
  if (!r.ok()) return r.error().context(fmt::format("placing device '{}'", id));
  entries_.push_back({std::move(id), where, std::move(device)});
  return {};
}

Result<void> DeviceManager::add_fixed(std::string id, std::shared_ptr<devices::BusDevice> device,
                                      devices::BusKind bus, uint64_t base, uint64_t len,
                                      std::optional<uint32_t> gsi) {
  if (gsi) gsis_.reserve(*gsi);
  return add(std::move(id), std::move(device), {bus, base, len, gsi, 0});
}

Result<devices::Placement> DeviceManager::add_mmio(std::string id,
                                                   std::shared_ptr<devices::BusDevice> device,
                                                   uint64_t len, bool wants_gsi) {
  const uint64_t size = (len + kPage - 1) & ~(kPage - 1);
  auto base = mmio_space_.allocate(size, kPage);
  if (!base.ok()) return base.error().context(fmt::format("placing device '{}'", id));
  std::optional<uint32_t> gsi;
  if (wants_gsi) {
    auto g = gsis_.allocate();
    if (!g.ok()) {
      (void)mmio_space_.release(*base);
      return g.error().context(fmt::format("placing device '{}'", id));
    }
    gsi = *g;
  }
  devices::Placement where{devices::BusKind::kMmio, *base, size, gsi, 0};
  auto r = add(id, std::move(device), where);
  if (!r.ok()) {
    (void)mmio_space_.release(*base);
    if (gsi) (void)gsis_.release(*gsi);
    return r.error();
  }
  return entries_.back().where;
}

std::vector<std::vector<uint8_t>> DeviceManager::aml() const {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& e : entries_) {
    auto a = e.device->aml(e.where);
    if (!a.empty()) out.push_back(std::move(a));
  }
  return out;
}

void DeviceManager::reset_all() {
  for (auto& e : entries_) e.device->reset();
}

void DeviceManager::pause_all() {
  for (auto& e : entries_) e.device->pause();
}

void DeviceManager::resume_all() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) it->device->resume();
}

std::vector<DeviceManager::SavedDevice> DeviceManager::save_all() const {
  std::vector<SavedDevice> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_)
    out.push_back({e.id, std::string(e.device->name()), e.where, e.device->save()});
  return out;
}

Result<void> DeviceManager::restore_all(const std::vector<SavedDevice>& saved) {
  if (saved.size() != entries_.size())
    return Error(fmt::format("the snapshot has {} devices, this VM {}", saved.size(),
                             entries_.size()));
  for (size_t i = 0; i < saved.size(); ++i) {
    const auto& s = saved[i];
    const auto& e = entries_[i];
    if (s.id != e.id || s.kind != e.device->name() || !(s.where == e.where))
      return Error(fmt::format(
          "the snapshot's device {} is '{}' ({}) at {} {:#x}+{:#x}; this VM has '{}' ({}) at "
          "{} {:#x}+{:#x}",
          i, s.id, s.kind, bus_name(s.where.bus), s.where.base, s.where.len, e.id,
          e.device->name(), bus_name(e.where.bus), e.where.base, e.where.len));
  }
  const auto before = save_all();
  for (size_t i = 0; i < saved.size(); ++i) {
    auto r = entries_[i].device->restore(saved[i].state);
    if (!r.ok()) {
      for (size_t j = 0; j < i; ++j) (void)entries_[j].device->restore(before[j].state);
      return r.error().context(fmt::format("restoring device '{}'", saved[i].id));
    }
  }
  return {};
}

}  // namespace vireo::vmm
