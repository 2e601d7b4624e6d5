// The KVM wrappers against the real /dev/kvm, and the vmm interrupts built on them.
#include "kvm/kvm.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "arch/x86/cpuid.h"
#include "support/kvm_required.h"
#include "util/epoll.h"
#include "vmm/irq_line.h"
#include "vmm/irqfd_irq.h"
#include "vmm/msi_irq.h"

namespace vireo::kvm {
namespace {

// --- A real-mode guest for the ioeventfd tests -------------------------------------
//
// One page of RAM at GPA 0 holding, at kCodeGpa:
//   mov dx, 0x6000 ; mov al, 0x5a ; out dx, al ; mov dword [0], 0x12345678 ; hlt
// with DS based at kMmio, so [0] is that guest-physical address: outside every memory
// slot, MMIO. Without an in-kernel irqchip, HLT exits to us: the end of the run. The
// rest of the page is HLT too, so a guest that goes astray stops instead of running on.
constexpr uint64_t kCodeGpa = 0x100;
constexpr uint16_t kPort = 0x6000;
constexpr uint8_t kPortValue = 0x5a;
constexpr uint64_t kMmio = 0xd0000000;
constexpr uint32_t kMmioValue = 0x12345678;
constexpr uint8_t kCode[] = {
    0xba, 0x00, 0x60,                                // mov dx, 0x6000
    0xb0, 0x5a,                                      // mov al, 0x5a
    0xee,                                            // out dx, al
    0x66, 0xc7, 0x06, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12,  // mov dword [0], 0x12345678
    0xf4,                                            // hlt
};
constexpr size_t kRamSize = 4096;

struct RealModeVm {
  Kvm kvm;
  VmFd vm;
  VcpuFd vcpu;
  void* ram = MAP_FAILED;

  RealModeVm() = default;
  RealModeVm(const RealModeVm&) = delete;
  RealModeVm& operator=(const RealModeVm&) = delete;
  ~RealModeVm() {
    if (ram != MAP_FAILED) ::munmap(ram, kRamSize);
  }

  static Result<std::unique_ptr<RealModeVm>> create() {
    auto g = std::make_unique<RealModeVm>();
    VIREO_ASSIGN_OR_RETURN(g->kvm, Kvm::open());
    VIREO_ASSIGN_OR_RETURN(g->vm, g->kvm.create_vm());
    // Needed by VMX hosts before a vCPU runs (harmless elsewhere).
    VIREO_TRY(g->vm.set_tss_address(0xfffbd000));
    g->ram = ::mmap(nullptr, kRamSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->ram == MAP_FAILED) return Error::from_errno("mmap(guest RAM)");
    std::memset(g->ram, 0xf4, kRamSize);
    std::memcpy(static_cast<uint8_t*>(g->ram) + kCodeGpa, kCode, sizeof(kCode));
    VIREO_TRY(g->vm.set_user_memory_region(0, 0, kRamSize, g->ram));
    VIREO_ASSIGN_OR_RETURN(g->vcpu, g->vm.create_vcpu(0));
    VIREO_TRY(g->restart());
    return g;
  }

  // Puts the vCPU back at the first instruction.
  Result<void> restart() const {
    VIREO_ASSIGN_OR_RETURN(kvm_sregs sregs, vcpu.get_sregs());
    sregs.cs.selector = 0;
    sregs.cs.base = 0;
    sregs.ds.selector = 0;
    sregs.ds.base = kMmio;
    VIREO_TRY(vcpu.set_sregs(sregs));
    kvm_regs regs{};
    regs.rip = kCodeGpa;
    regs.rflags = 0x2;
    return vcpu.set_regs(regs);
  }
};

// What reached userspace while the guest ran to its HLT.
struct Exits {
  int io = 0;
  uint16_t io_port = 0;
  uint32_t io_value = 0;
  int mmio = 0;
  uint64_t mmio_addr = 0;
  uint32_t mmio_value = 0;
  bool halted = false;
  std::string error;
};

Exits run_to_hlt(const VcpuFd& vcpu) {
  Exits e;
  for (int i = 0; i < 16 && !e.halted && e.error.empty(); ++i) {
    auto r = vcpu.run();
    if (!r.ok()) {
      e.error = r.error().message();
      break;
    }
    if (!*r) continue;  // a signal: run again
    const kvm_run* run = vcpu.run_struct();
    switch (run->exit_reason) {
      case KVM_EXIT_HLT:
        e.halted = true;
        break;
      case KVM_EXIT_IO:
        ++e.io;
        e.io_port = run->io.port;
        std::memcpy(&e.io_value, reinterpret_cast<const uint8_t*>(run) + run->io.data_offset,
                    std::min<size_t>(run->io.size, sizeof(e.io_value)));
        break;
      case KVM_EXIT_MMIO:
        ++e.mmio;
        e.mmio_addr = run->mmio.phys_addr;
        std::memcpy(&e.mmio_value, run->mmio.data,
                    std::min<size_t>(run->mmio.len, sizeof(e.mmio_value)));
        break;
      default:
        e.error = "unexpected exit reason " + std::to_string(run->exit_reason);
    }
  }
  if (!e.halted && e.error.empty()) e.error = "the guest never reached its HLT";
  return e;
}

// --- LAPIC helpers for the interrupt tests ----------------------------------------

constexpr uint64_t kMsiAddress = 0xfee00000;  // destination APIC ID 0, physical mode
constexpr size_t kApicSvr = 0xf0;
constexpr size_t kApicIrr = 0x200;

uint32_t apic_reg(const kvm_lapic_state& s, size_t offset) {
  uint32_t v;
  std::memcpy(&v, s.regs + offset, sizeof(v));
  return v;
}

// Software-enables the LAPIC (SVR bit 8): a disabled one accepts no fixed interrupts.
Result<void> enable_lapic(const VcpuFd& vcpu) {
  VIREO_ASSIGN_OR_RETURN(kvm_lapic_state s, vcpu.get_lapic());
  const uint32_t svr = apic_reg(s, kApicSvr) | 0x100;
  std::memcpy(s.regs + kApicSvr, &svr, sizeof(svr));
  return vcpu.set_lapic(s);
}

bool irr_has(const kvm_lapic_state& s, uint8_t vector) {
  return (apic_reg(s, kApicIrr + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

// Waits until `vector` is pending in the LAPIC's IRR (the vCPU does not run, so it
// stays there). irqfds on IOAPIC routes inject from a kernel workqueue: asynchronously.
bool wait_for_irr(const VcpuFd& vcpu, uint8_t vector) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto s = vcpu.get_lapic();
    if (s.ok() && irr_has(*s, vector)) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// IOAPIC pin `pin`: fixed delivery of `vector` to APIC ID 0, edge-triggered, unmasked.
Result<void> route_ioapic_pin(const VmFd& vm, uint32_t pin, uint8_t vector) {
  VIREO_ASSIGN_OR_RETURN(kvm_irqchip chip, vm.get_irqchip(KVM_IRQCHIP_IOAPIC));
  chip.chip.ioapic.redirtbl[pin].bits = vector;
  return vm.set_irqchip(chip);
}

// A VM with the in-kernel irqchip and vCPU 0, its LAPIC enabled (nothing runs).
struct IrqVm {
  Kvm kvm;
  VmFd vm;
  VcpuFd vcpu;

  static Result<std::unique_ptr<IrqVm>> create(bool lapic_enabled = true) {
    auto g = std::make_unique<IrqVm>();
    VIREO_ASSIGN_OR_RETURN(g->kvm, Kvm::open());
    VIREO_ASSIGN_OR_RETURN(g->vm, g->kvm.create_vm());
    VIREO_TRY(g->vm.create_irqchip());
    VIREO_ASSIGN_OR_RETURN(g->vcpu, g->vm.create_vcpu(0));
    if (lapic_enabled) VIREO_TRY(enable_lapic(g->vcpu));
    return g;
  }
};

TEST(Kvm, OpenReportsMissingDevice) {
  auto r = Kvm::open("/nonexistent/kvm");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not exist"), std::string::npos);
  auto n = Kvm::open("/dev/null");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message().find("not a KVM device"), std::string::npos);
}

TEST(Kvm, SupportedCpuidAndMsrs) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm.ok()) << kvm.error().message();
  auto cpuid = kvm->supported_cpuid();
  ASSERT_TRUE(cpuid.ok()) << cpuid.error().message();
  EXPECT_NE(arch::x86::find_cpuid(*cpuid, 0), nullptr);
  EXPECT_NE(arch::x86::find_cpuid(*cpuid, 1), nullptr);
  auto msrs = kvm->msr_index_list();
  ASSERT_TRUE(msrs.ok()) << msrs.error().message();
  EXPECT_NE(std::find(msrs->begin(), msrs->end(), 0x10u), msrs->end());  // TSC
  EXPECT_GT(kvm->vcpu_mmap_size(), 0);
}

TEST(Kvm, VcpuStateRoundTrips) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm.ok());
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  ASSERT_TRUE(vm->create_irqchip().ok());
  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu.ok()) << vcpu.error().message();
  auto cpuid = kvm->supported_cpuid();
  ASSERT_TRUE(vcpu->set_cpuid2(arch::x86::build_vcpu_cpuid(*cpuid, {0, 1})).ok());
  ASSERT_TRUE(vcpu->set_msrs({{0xc0000102, 0x1234000}}).ok());  // KERNEL_GS_BASE
  auto back = vcpu->get_msrs({0xc0000102});
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ((*back)[0], 0x1234000u);
  // An MSR KVM does not know is reported by index.
  auto bad = vcpu->set_msrs({{0xdeadbeef, 1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("0xdeadbeef"), std::string::npos);
  auto regs = vcpu->get_regs();
  ASSERT_TRUE(regs.ok());
  regs->rax = 42;
  ASSERT_TRUE(vcpu->set_regs(*regs).ok());
  EXPECT_EQ(vcpu->get_regs()->rax, 42u);
}

// The snapshot's MSR reads and writes: one call where KVM takes every MSR, the refused
// ones left out (KVM stops at the first it refuses), and the XSAVE area and CPUID read
// back as they were set.
TEST(Kvm, MsrsSkipRefusedOnesXsaveAndCpuidReadBack) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm.ok());
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  ASSERT_TRUE(vm->create_irqchip().ok());
  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu.ok()) << vcpu.error().message();
  auto supported = kvm->supported_cpuid();
  const auto table = arch::x86::build_vcpu_cpuid(*supported, {0, 1});
  ASSERT_TRUE(vcpu->set_cpuid2(table).ok());

  const uint32_t kKernelGsBase = 0xc0000102, kStar = 0xc0000081, kBogus = 0xdeadbeef;
  auto refused = vcpu->write_msrs({{kKernelGsBase, 0x1234000}, {kBogus, 1}, {kStar, 0x0023001000000000}});
  ASSERT_TRUE(refused.ok()) << refused.error().message();
  EXPECT_EQ(*refused, std::vector<uint32_t>{kBogus});
  std::vector<uint32_t> unread;
  auto read = vcpu->read_msrs({kBogus, kKernelGsBase, kBogus + 1, kStar}, &unread);
  ASSERT_TRUE(read.ok()) << read.error().message();
  const std::vector<std::pair<uint32_t, uint64_t>> want{{kKernelGsBase, 0x1234000},
                                                        {kStar, 0x0023001000000000}};
  EXPECT_EQ(*read, want);
  EXPECT_EQ(unread, (std::vector<uint32_t>{kBogus, kBogus + 1}));

  auto cpuid = vcpu->get_cpuid2();
  ASSERT_TRUE(cpuid.ok()) << cpuid.error().message();
  ASSERT_EQ(cpuid->size(), table.size());
  // The leaves as set (KVM may adjust a value, e.g. the XSAVE sizes).
  for (size_t i = 0; i < table.size(); ++i)
    EXPECT_TRUE((*cpuid)[i].function == table[i].function && (*cpuid)[i].index == table[i].index)
        << "entry " << i;

  const int xsave2 = vm->check_extension(KVM_CAP_XSAVE2);
  auto area = vcpu->get_xsave(static_cast<uint32_t>(std::max(0, xsave2)));
  ASSERT_TRUE(area.ok()) << area.error().message();
  EXPECT_GE(area->size(), 4096u);
  (*area)[24] = 0xa0;  // MXCSR 0x1fa0: the default with the precision flag set
  (*area)[25] = 0x1f;
  (*area)[512] |= 2;   // XSTATE_BV: SSE state present
  ASSERT_TRUE(vcpu->set_xsave(*area).ok());
  auto mxcsr = vcpu->get_mxcsr();
  ASSERT_TRUE(mxcsr.ok());
  EXPECT_EQ(*mxcsr, 0x1fa0u);
  EXPECT_FALSE(vcpu->set_xsave(std::vector<uint8_t>(100)).ok());
}

TEST(Kvm, FailedIoctlNamesItself) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm.ok());
  // Unaligned guest address: KVM_SET_USER_MEMORY_REGION fails with EINVAL.
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto r = vm->set_user_memory_region(0, 0x123, 4096, p);
  ::munmap(p, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("KVM_SET_USER_MEMORY_REGION"), std::string::npos);
  EXPECT_EQ(r.error().os_errno(), EINVAL);
}

// A guest's port and MMIO writes signal their ioeventfds inside KVM: no exit reaches us.
TEST(Kvm, IoeventfdsTakeGuestWritesWithoutExits) {
  VIREO_REQUIRE_KVM();
  auto g = RealModeVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  auto pio = EventFd::create();
  auto mmio = EventFd::create();
  ASSERT_TRUE(pio.ok() && mmio.ok());
  auto r = vm.register_ioeventfd(pio->fd(), kPort, 1, true, std::nullopt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  r = vm.register_ioeventfd(mmio->fd(), kMmio, 4, false, std::nullopt);
  ASSERT_TRUE(r.ok()) << r.error().message();

  Exits e = run_to_hlt((*g)->vcpu);
  ASSERT_TRUE(e.error.empty()) << e.error;
  EXPECT_EQ(e.io, 0) << "port " << std::hex << e.io_port;
  EXPECT_EQ(e.mmio, 0) << "MMIO " << std::hex << e.mmio_addr;
  EXPECT_EQ(pio->drain(), 1u);
  EXPECT_EQ(mmio->drain(), 1u);

  // Registering the same ioeventfd twice is refused, and the error says what.
  r = vm.register_ioeventfd(pio->fd(), kPort, 1, true, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("KVM_IOEVENTFD"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("port 0x6000"), std::string::npos) << r.error().message();
}

// With a datamatch only that value is taken; other values, and writes after the
// ioeventfd is removed, exit to userspace as before.
TEST(Kvm, IoeventfdDatamatchAndRemoval) {
  VIREO_REQUIRE_KVM();
  auto g = RealModeVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  auto pio = EventFd::create();
  auto mmio = EventFd::create();
  ASSERT_TRUE(pio.ok() && mmio.ok());
  ASSERT_TRUE(vm.register_ioeventfd(pio->fd(), kPort, 1, true, kPortValue).ok());
  ASSERT_TRUE(vm.register_ioeventfd(mmio->fd(), kMmio, 4, false, 0x1234).ok());

  // The port write matches; the MMIO write (0x12345678) does not and exits.
  Exits e = run_to_hlt((*g)->vcpu);
  ASSERT_TRUE(e.error.empty()) << e.error;
  EXPECT_EQ(e.io, 0);
  EXPECT_EQ(pio->drain(), 1u);
  EXPECT_EQ(e.mmio, 1);
  EXPECT_EQ(e.mmio_addr, kMmio);
  EXPECT_EQ(e.mmio_value, kMmioValue);
  EXPECT_EQ(mmio->drain(), 0u);

  // Removal needs the same arguments: the wrong value names nothing registered.
  EXPECT_FALSE(vm.unregister_ioeventfd(pio->fd(), kPort, 1, true, 0x11).ok());
  auto r = vm.unregister_ioeventfd(pio->fd(), kPort, 1, true, kPortValue);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // A port ioeventfd for another value: the guest's 0x5a exits as KVM_EXIT_IO.
  ASSERT_TRUE(vm.register_ioeventfd(pio->fd(), kPort, 1, true, 0x11).ok());
  ASSERT_TRUE((*g)->restart().ok());
  e = run_to_hlt((*g)->vcpu);
  ASSERT_TRUE(e.error.empty()) << e.error;
  EXPECT_EQ(e.io, 1);
  EXPECT_EQ(e.io_port, kPort);
  EXPECT_EQ(e.io_value, kPortValue);
  EXPECT_EQ(pio->drain(), 0u);
  EXPECT_EQ(e.mmio, 1);
}

// Length 0: an MMIO write of any size.
TEST(Kvm, IoeventfdOfAnyLength) {
  VIREO_REQUIRE_KVM();
  auto g = RealModeVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  auto mmio = EventFd::create();
  ASSERT_TRUE(mmio.ok());
  if (vm.check_extension(KVM_CAP_IOEVENTFD_ANY_LENGTH) <= 0)
    GTEST_SKIP() << "KVM lacks KVM_CAP_IOEVENTFD_ANY_LENGTH";
  auto r = vm.register_ioeventfd(mmio->fd(), kMmio, 0, false, std::nullopt);
  ASSERT_TRUE(r.ok()) << r.error().message();

  Exits e = run_to_hlt((*g)->vcpu);
  ASSERT_TRUE(e.error.empty()) << e.error;
  EXPECT_EQ(e.mmio, 0);
  EXPECT_EQ(e.io, 1);  // no ioeventfd on the port
  EXPECT_EQ(mmio->drain(), 1u);

  // What KVM would refuse with a bare EINVAL is refused here with the rule.
  auto bad = vm.register_ioeventfd(mmio->fd(), kMmio + 8, 3, false, std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("1, 2, 4 or 8"), std::string::npos) << bad.error().message();
  bad = vm.register_ioeventfd(mmio->fd(), kMmio + 8, 0, false, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("needs a length"), std::string::npos)
      << bad.error().message();
  EXPECT_FALSE(vm.register_ioeventfd(mmio->fd(), kPort, 0, true, std::nullopt).ok());
  EXPECT_FALSE(vm.register_ioeventfd(mmio->fd(), kPort, 1, true, 0x100).ok());
}

// A routing table that replaces KVM's keeps the legacy routes and adds an MSI route;
// irqfds on both kinds of GSI reach the LAPIC (and the PIC for the legacy one).
TEST(Kvm, IrqfdsOnMsiAndIoapicRoutes) {
  VIREO_REQUIRE_KVM();
  auto g = IrqVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  constexpr uint8_t kMsiVector = 0x41;
  constexpr uint8_t kPin5Vector = 0x35;
  ASSERT_TRUE(route_ioapic_pin(vm, 5, kPin5Vector).ok());

  auto table = GsiRoutingTable::default_x86();
  ASSERT_TRUE(table.set_msi(24, {static_cast<uint32_t>(kMsiAddress), 0, kMsiVector}).ok());
  auto r = vm.set_gsi_routing(table);
  ASSERT_TRUE(r.ok()) << r.error().message();

  auto msi_fd = EventFd::create();
  auto pin_fd = EventFd::create();
  ASSERT_TRUE(msi_fd.ok() && pin_fd.ok());
  r = vm.register_irqfd(msi_fd->fd(), 24);
  ASSERT_TRUE(r.ok()) << r.error().message();
  r = vm.register_irqfd(pin_fd->fd(), 5);
  ASSERT_TRUE(r.ok()) << r.error().message();

  ASSERT_TRUE(msi_fd->signal());
  EXPECT_TRUE(wait_for_irr((*g)->vcpu, kMsiVector)) << "the MSI of GSI 24 never arrived";
  ASSERT_TRUE(pin_fd->signal());
  EXPECT_TRUE(wait_for_irr((*g)->vcpu, kPin5Vector)) << "IOAPIC pin 5 never interrupted";
  // GSI 5 still reaches PIC master pin 5 too (its IRR latched the edge).
  auto pic = vm.get_irqchip(KVM_IRQCHIP_PIC_MASTER);
  ASSERT_TRUE(pic.ok()) << pic.error().message();
  EXPECT_TRUE(pic->chip.pic.irr & (1u << 5));

  r = vm.unregister_irqfd(msi_fd->fd(), 24);
  EXPECT_TRUE(r.ok()) << r.error().message();
  r = vm.unregister_irqfd(pin_fd->fd(), 5);
  EXPECT_TRUE(r.ok()) << r.error().message();

  // GSIs beyond KVM's table are refused before the ioctl.
  ASSERT_TRUE(table.set_msi(1u << 20, {static_cast<uint32_t>(kMsiAddress), 0, 0x42}).ok());
  r = vm.set_gsi_routing(table);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("beyond KVM"), std::string::npos) << r.error().message();
}

// After our default_x86() replaced KVM's table, every legacy GSI still reaches the
// IOAPIC pin of its number (GSI 0 pin 0, not 2) and GSIs 0-15 the PIC pin too.
TEST(Kvm, DefaultRoutingKeepsLegacyRoutes) {
  VIREO_REQUIRE_KVM();
  auto g = IrqVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  constexpr uint8_t kBase = 0x40;  // IOAPIC pin p delivers vector kBase + p
  auto ioapic = vm.get_irqchip(KVM_IRQCHIP_IOAPIC);
  ASSERT_TRUE(ioapic.ok()) << ioapic.error().message();
  for (uint32_t pin = 0; pin < GsiRoutingTable::kIoapicPins; ++pin)
    ioapic->chip.ioapic.redirtbl[pin].bits = kBase + pin;
  ASSERT_TRUE(vm.set_irqchip(*ioapic).ok());
  auto r = vm.set_gsi_routing(GsiRoutingTable::default_x86());
  ASSERT_TRUE(r.ok()) << r.error().message();

  for (uint32_t gsi = 0; gsi < GsiRoutingTable::kIoapicPins; ++gsi) {
    SCOPED_TRACE(gsi);
    ASSERT_TRUE(vm.set_irq_line(gsi, true).ok());
    ASSERT_TRUE(vm.set_irq_line(gsi, false).ok());
    EXPECT_TRUE(wait_for_irr((*g)->vcpu, static_cast<uint8_t>(kBase + gsi)));
  }
  auto s = (*g)->vcpu.get_lapic();
  ASSERT_TRUE(s.ok());
  for (uint32_t v = 0; v < 256; ++v)  // and nothing else
    if (v < kBase || v >= kBase + GsiRoutingTable::kIoapicPins)
      EXPECT_FALSE(irr_has(*s, static_cast<uint8_t>(v))) << "vector " << v;
  auto master = vm.get_irqchip(KVM_IRQCHIP_PIC_MASTER);
  auto slave = vm.get_irqchip(KVM_IRQCHIP_PIC_SLAVE);
  ASSERT_TRUE(master.ok() && slave.ok());
  EXPECT_EQ(master->chip.pic.irr, 0xff);
  EXPECT_EQ(slave->chip.pic.irr, 0xff);
}

// KVM_SIGNAL_MSI says whether the message was delivered: not to a disabled LAPIC.
TEST(Kvm, SignalMsiReportsDelivery) {
  VIREO_REQUIRE_KVM();
  auto g = IrqVm::create(/*lapic_enabled=*/false);
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  auto blocked = vm.signal_msi(kMsiAddress, 0x61);
  ASSERT_TRUE(blocked.ok()) << blocked.error().message();
  EXPECT_FALSE(*blocked);

  ASSERT_TRUE(enable_lapic((*g)->vcpu).ok());
  auto delivered = vm.signal_msi(kMsiAddress, 0x62);
  ASSERT_TRUE(delivered.ok()) << delivered.error().message();
  EXPECT_TRUE(*delivered);
  auto s = (*g)->vcpu.get_lapic();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(irr_has(*s, 0x62));
  EXPECT_FALSE(irr_has(*s, 0x61));
}

// The devices::Irq implementations of vmm/ deliver: IrqLine pulses an IOAPIC pin,
// IrqfdIrq injects its GSI, MsiIrq sends its (reprogrammable) message.
TEST(Kvm, VmmIrqsDeliver) {
  VIREO_REQUIRE_KVM();
  auto g = IrqVm::create();
  ASSERT_TRUE(g.ok()) << g.error().message();
  const VmFd& vm = (*g)->vm;
  const VcpuFd& vcpu = (*g)->vcpu;
  ASSERT_TRUE(route_ioapic_pin(vm, 5, 0x35).ok());
  auto table = GsiRoutingTable::default_x86();
  ASSERT_TRUE(table.set_msi(24, {static_cast<uint32_t>(kMsiAddress), 0, 0x51}).ok());
  ASSERT_TRUE(vm.set_gsi_routing(table).ok());

  vmm::IrqLine line(vm, 5);
  line.trigger();
  EXPECT_TRUE(wait_for_irr(vcpu, 0x35));
  EXPECT_EQ(line.failures(), 0u);

  auto irqfd = vmm::IrqfdIrq::create(vm, 24);
  ASSERT_TRUE(irqfd.ok()) << irqfd.error().message();
  (*irqfd)->trigger();
  EXPECT_TRUE(wait_for_irr(vcpu, 0x51));
  EXPECT_EQ((*irqfd)->failures(), 0u);
  irqfd->reset();  // the destructor unregisters the irqfd

  vmm::MsiIrq msi(vm, kMsiAddress, 0x52);
  msi.trigger();
  msi.set_message(kMsiAddress, 0x53);  // the guest moved the vector
  msi.set_level(true);
  auto s = vcpu.get_lapic();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(irr_has(*s, 0x52));
  EXPECT_TRUE(irr_has(*s, 0x53));
  EXPECT_EQ(msi.failures(), 0u);
  EXPECT_EQ(msi.undelivered(), 0u);
}

}  // namespace
}  // namespace vireo::kvm
