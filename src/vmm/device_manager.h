// DeviceManager: places devices on the VM's buses and keeps the record of what went where.
//
// Fixed devices (the PC's legacy ISA devices) go where PCs have them; others get MMIO
// ranges and interrupt inputs (GSIs) from the manager's allocators. The manager keeps an
// ordered table {id, kind, placement, device}: the DSDT is built from it (each device
// describes itself), reset/pause/resume are walks over it, and a snapshot saves it with
// every device's state so that a restore can check it builds the same layout.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "devices/bus.h"
#include "devices/bus_device.h"
#include "devices/placement.h"
#include "pci/device.h"
#include "pci/root_bus.h"
#include "vmm/address_allocator.h"

namespace vireo::vmm {

class DeviceManager {
 public:
  struct Entry {
    std::string id;      // unique in the VM ("com1", "rtc", "virtio-blk0", ...)
    devices::Placement where;
    std::shared_ptr<devices::BusDevice> device;
  };
  // One device in a snapshot: the layout entry and its state.
  struct SavedDevice {
    std::string id;
    std::string kind;    // BusDevice::name()
    devices::Placement where;
    devices::DeviceState state;
    bool operator==(const SavedDevice&) const = default;
  };

  DeviceManager(devices::Bus& pio, devices::Bus& mmio);

  // A device at a fixed place. Its GSI, if any, is taken out of the allocator's pool.
  Result<void> add_fixed(std::string id, std::shared_ptr<devices::BusDevice> device,
                         devices::BusKind bus, uint64_t base, uint64_t len,
                         std::optional<uint32_t> gsi);
  // A device in the MMIO device window, `len` bytes (page-aligned), with a GSI of its own
  // if `wants_gsi`. Returns where it went.
  Result<devices::Placement> add_mmio(std::string id, std::shared_ptr<devices::BusDevice> device,
                                      uint64_t len, bool wants_gsi);

  // Adds PCI bus 0: its host bridge at 00.0, configuration ports 0xcf8-0xcff and the
  // ECAM window, and BAR space below 4 GiB and from `mmio64_start` (above RAM).
  Result<void> enable_pci(uint64_t mmio64_start);
  bool has_pci() const { return root_ != nullptr; }
  // A PCI function in the next free slot, its BARs placed (64-bit BARs above RAM), as
  // firmware leaves them for the guest. Needs enable_pci().
  Result<devices::Placement> add_pci(std::string id, std::shared_ptr<pci::PciDevice> device);
  pci::RootBus* pci_root() { return root_.get(); }

  const std::vector<Entry>& entries() const { return entries_; }
  // Every device's ACPI description, in placement order.
  std::vector<std::vector<uint8_t>> aml() const;

  void reset_all();
  void pause_all();   // in placement order
  void resume_all();  // in reverse order

  std::vector<SavedDevice> save_all() const;
  // Restores every device's state. The saved layout must be this VM's exactly (same ids,
  // kinds and placements in the same order); all states are checked by restoring them,
  // and if one fails those already restored are put back, so the VM is as it was.
  Result<void> restore_all(const std::vector<SavedDevice>& saved);
  // The check restore_all() makes first: the saved layout is this VM's.
  Result<void> check_layout(const std::vector<SavedDevice>& saved) const;

 private:
  Result<void> add(std::string id, std::shared_ptr<devices::BusDevice> device,
                   devices::Placement where);
  uint32_t count_of_kind(std::string_view kind) const;
  // A device to add must exist and its id be new.
  Result<void> check_new(const std::string& id, const void* device) const;

  devices::Bus& pio_;
  devices::Bus& mmio_;
  AddressAllocator mmio_space_;
  IdAllocator gsis_;
  std::unique_ptr<pci::RootBus> root_;
  std::unique_ptr<AddressAllocator> pci_mmio32_, pci_mmio64_;
  std::vector<Entry> entries_;
};

}  // namespace vireo::vmm
