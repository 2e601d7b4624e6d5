// VmSnapshot as a state file (without KVM): a round trip, and files that are not a
// whole VM's snapshot refused.
#include "vmm/vm_snapshot.h"

#include <gtest/gtest.h>

#include "snapshot/state_file.h"

namespace vireo::vmm {
namespace {

VmSnapshot sample() {
  VmSnapshot s;
  s.cpus = 2;
  s.memory_size = 64 << 20;
  s.ram.push_back({.gpa = 0, .bytes = {}, .size = 64 << 20});
  s.kvm.vm.irqchips[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
  s.kvm.vm.irqchips[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
  s.kvm.vm.irqchips[2].chip_id = KVM_IRQCHIP_IOAPIC;
  s.kvm.vm.clock_ns = 5;
  for (int i = 0; i < 2; ++i) {
    snapshot::VcpuKvmState v;
    v.xsave.assign(4096, 0);
    v.regs.rip = 0x100000u + static_cast<unsigned>(i);
    s.kvm.vcpus.push_back(v);
  }
  s.devices.push_back({"com1", "serial", {devices::BusKind::kPio, 0x3f8, 8, 4, 0}, {1, {1, 2, 3}}});
  s.devices.push_back({"rng0", "virtio-mmio", {devices::BusKind::kMmio, 0xd0000000, 0x1000, 5, 0}, {2, {}}});
  return s;
}

TEST(VmSnapshotCodec, RoundTripLeavesMemoryOut) {
  VmSnapshot s = sample();
  s.ram[0].bytes.assign(16, 0xee);  // not written: memory travels apart
  auto back = decode_vm_state(encode_vm_state(s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->cpus, 2u);
  EXPECT_EQ(back->memory_size, s.memory_size);
  ASSERT_EQ(back->ram.size(), 1u);
  EXPECT_EQ(back->ram[0].size, s.ram[0].size);
  EXPECT_TRUE(back->ram[0].bytes.empty());
  EXPECT_EQ(back->devices, s.devices);
  ASSERT_EQ(back->kvm.vcpus.size(), 2u);
  EXPECT_EQ(back->kvm.vcpus[1].regs.rip, 0x100001u);
  EXPECT_EQ(back->kvm.vm.clock_ns, 5u);
}

// Re-encodes the sample's state file after `edit`.
std::string refusal(void (*edit)(snapshot::StateFile&)) {
  const auto bytes = encode_vm_state(sample());
  const snapshot::KnownKinds all{{"vm-config", 1}, {"kvm-vm", 1}, {"kvm-vcpu", 1},
                                 {"device-layout", 1}, {"device-state", snapshot::kAnyVersion}};
  auto f = snapshot::decode_state_file(bytes, all);
  if (!f.ok()) return "sample: " + f.error().message();
  edit(*f);
  auto r = decode_vm_state(snapshot::encode_state_file(*f));
  return r.ok() ? "(accepted)" : r.error().message();
}

TEST(VmSnapshotCodec, RefusesMissingAndStraySections) {
  EXPECT_NE(refusal([](snapshot::StateFile& f) { std::erase_if(f.sections, [](auto& s) { return s.id == "kvm/vcpu1"; }); })
                .find("no section 'kvm/vcpu1'"),
            std::string::npos);
  EXPECT_NE(refusal([](snapshot::StateFile& f) { std::erase_if(f.sections, [](auto& s) { return s.id == "device/rng0"; }); })
                .find("no section 'device/rng0'"),
            std::string::npos);
  EXPECT_NE(refusal([](snapshot::StateFile& f) { f.sections.push_back({"kvm/vcpu2", "kvm-vcpu", 1, {}}); })
                .find("section 'kvm/vcpu2', which belongs to nothing"),
            std::string::npos);
  EXPECT_NE(refusal([](snapshot::StateFile& f) { f.sections[0].kind = "device-state"; })
                .find("is of kind 'device-state', not 'vm-config'"),
            std::string::npos);
}

TEST(VmSnapshotCodec, RefusesHostileConfigAndLayout) {
  // 0 vCPUs.
  EXPECT_NE(refusal([](snapshot::StateFile& f) { f.sections[0].bytes[0] = 0; }).find("0 vCPUs"),
            std::string::npos);
  // A device on a bus that does not exist.
  const std::string bad_bus = refusal([](snapshot::StateFile& f) {
    for (auto& s : f.sections)
      if (s.id == "devices") s.bytes[4 + 4 + 4 + 4 + 6] = 9;  // count, "com1", "serial", bus
  });
  EXPECT_NE(bad_bus.find("on bus 9"), std::string::npos) << bad_bus;
}

}  // namespace
}  // namespace vireo::vmm
