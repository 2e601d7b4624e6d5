#include "vmm/device_manager.h"

#include <fmt/format.h>

#include <algorithm>

#include "arch/x86/layout.h"
#include "pci/config_access.h"
#include "pci/host_bridge.h"

namespace vireo::vmm {

namespace layout = arch::x86::layout;

namespace {
// The window MMIO devices are placed in (below the IOAPIC and LAPIC pages), and the
// IOAPIC inputs handed out: 5-23, without those of ISA devices placed at fixed GSIs and
// the ACPI SCI.
constexpr uint64_t kMmioDevicesEnd = layout::kMmioDevicesStart + 0x10000000;  // 256 MiB
constexpr uint32_t kFirstFreeGsi = 5, kLastGsi = 23;
constexpr uint64_t kPage = 4096;

const char* bus_name(devices::BusKind b) {
  switch (b) {
    case devices::BusKind::kPio: return "port";
    case devices::BusKind::kMmio: return "MMIO";
    case devices::BusKind::kPci: return "PCI";
  }
  return "?";
}
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

Result<void> DeviceManager::check_new(const std::string& id, const void* device) const {
  if (!device) return Error(fmt::format("device '{}': no device", id));
  for (const auto& e : entries_)
    if (e.id == id) return Error(fmt::format("device id '{}' is used twice", id));
  return {};
}

Result<void> DeviceManager::add(std::string id, std::shared_ptr<devices::BusDevice> device,
                                devices::Placement where) {
  VIREO_TRY(check_new(id, device.get()));
  where.index = count_of_kind(device->name());
  if (where.bus != devices::BusKind::kPci) {
    devices::Bus& bus = where.bus == devices::BusKind::kPio ? pio_ : mmio_;
    auto r = bus.insert(device, where.base, where.len);
    if (!r.ok()) return r.error().context(fmt::format("placing device '{}'", id));
  }
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

Result<void> DeviceManager::enable_pci(uint64_t mmio64_start) {
  if (root_) return Error("PCI is already enabled");
  root_ = std::make_unique<pci::RootBus>(mmio_);
  pci_mmio32_ = std::make_unique<AddressAllocator>(
      "PCI 32-bit BAR window", layout::kPciMmio32Start,
      layout::kPciMmio32Start + layout::kPciMmio32Size);
  pci_mmio64_ = std::make_unique<AddressAllocator>("PCI 64-bit BAR window", mmio64_start,
                                                   mmio64_start + layout::kPciMmio64Size);
  VIREO_TRY(add_fixed("pci-config-io", std::make_shared<pci::ConfigIo>(*root_),
                      devices::BusKind::kPio, layout::kPortPciConfig,
                      layout::kPortPciConfigSize, std::nullopt));
  VIREO_TRY(add_fixed("pci-ecam", std::make_shared<pci::Ecam>(*root_), devices::BusKind::kMmio,
                      layout::kPciEcamBase, layout::kPciEcamSize, std::nullopt));
  VIREO_TRY(add_pci("pci-host", std::make_shared<pci::HostBridge>()));
  return {};
}

Result<devices::Placement> DeviceManager::add_pci(std::string id,
                                                  std::shared_ptr<pci::PciDevice> device) {
  if (!root_) return Error(fmt::format("device '{}': the VM has no PCI bus", id));
  // Checked before anything is placed: add() below would find the same, too late.
  VIREO_TRY(check_new(id, device.get()));
  // BARs first (they are released if the slot cannot be had), each aligned to its size.
  std::vector<std::pair<AddressAllocator*, uint64_t>> placed;
  auto release = [&] {
    for (auto& [space, base] : placed) (void)space->release(base);
  };
  for (unsigned i = 0; i < pci::kBarCount; ++i) {
    auto bar = device->bar(i);
    if (!bar) continue;
    AddressAllocator* space =
        bar->kind == pci::BarKind::kMemory64 ? pci_mmio64_.get() : pci_mmio32_.get();
    auto base = space->allocate(bar->size, bar->size);
    if (!base.ok()) {
      release();
      return base.error().context(fmt::format("placing device '{}' BAR {}", id, i));
    }
    placed.emplace_back(space, *base);
    device->place_bar(i, *base);
  }
  auto slot = root_->add(device);
  if (!slot.ok()) {
    release();
    return slot.error().context(fmt::format("placing device '{}'", id));
  }
  devices::Placement where{devices::BusKind::kPci, uint64_t{*slot} << 3, 0, std::nullopt, 0};
  VIREO_TRY(add(std::move(id), std::move(device), where));
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
  // Reset turned memory decoding off: the BARs leave the MMIO bus until the guest
  // turns it on again.
  if (root_) root_->sync_all();
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

Result<void> DeviceManager::check_layout(const std::vector<SavedDevice>& saved) const {
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
  return {};
}

Result<void> DeviceManager::restore_all(const std::vector<SavedDevice>& saved) {
  VIREO_TRY(check_layout(saved));
  const auto before = save_all();
  for (size_t i = 0; i < saved.size(); ++i) {
    auto r = entries_[i].device->restore(saved[i].state);
    if (!r.ok()) {
      for (size_t j = 0; j < i; ++j) (void)entries_[j].device->restore(before[j].state);
      if (root_) root_->sync_all();
      return r.error().context(fmt::format("restoring device '{}'", saved[i].id));
    }
  }
  if (root_) root_->sync_all();
  return {};
}

}  // namespace vireo::vmm
