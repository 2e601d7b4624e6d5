#include "vmm/msi_routing.h"

#include "log/log.h"

#include <cstdio>

namespace vireo::vmm {

namespace {
// GSIs 0-23 are the IOAPIC's pins; MSI routes take the numbers above them, up to the
// smallest routing-table limit KVM has had (KVM_MAX_IRQ_ROUTES was 1024 before 4.x).
constexpr uint32_t kFirstMsiGsi = kvm::GsiRoutingTable::kIoapicPins;
constexpr uint32_t kLastMsiGsi = 1023;
}  // namespace

MsiRouting::MsiRouting(const kvm::VmFd& vm)
    : vm_(vm), table_(kvm::GsiRoutingTable::default_x86()),
      gsis_("MSI-X vectors (GSIs)", kFirstMsiGsi, kLastMsiGsi) {}

Result<uint32_t> MsiRouting::allocate_gsi() {
  std::lock_guard lock(mu_);
  return gsis_.allocate();
}

Result<void> MsiRouting::set(uint32_t gsi, const kvm::MsiRoute& msi) {
  std::lock_guard lock(mu_);
  if (auto old = table_.msi(gsi); old && *old == msi) return {};
  VIREO_TRY(table_.set_msi(gsi, msi));
  ++installs_;
  return vm_.set_gsi_routing(table_);
}

uint64_t MsiRouting::installs() const {
  std::lock_guard lock(mu_);
  return installs_;
}

Result<std::shared_ptr<RoutedMsiVector>> RoutedMsiVector::create(MsiRouting& routing,
                                                                  const kvm::VmFd& vm) {
  VIREO_ASSIGN_OR_RETURN(uint32_t gsi, routing.allocate_gsi());
  VIREO_ASSIGN_OR_RETURN(auto irqfd, IrqfdIrq::create(vm, gsi));
  return std::make_shared<RoutedMsiVector>(routing, std::move(irqfd));
}

void RoutedMsiVector::configure(uint64_t address, uint32_t data) {
  const kvm::MsiRoute route{static_cast<uint32_t>(address), static_cast<uint32_t>(address >> 32),
                            data};
  // A guest's message KVM refuses leaves the vector silent: the guest's mistake, logged.
  if (auto r = routing_.set(gsi(), route); !r.ok())
    LOG_WARN("MSI-X vector on GSI {}: {}", gsi(), r.error().message());
}

}  // namespace vireo::vmm
