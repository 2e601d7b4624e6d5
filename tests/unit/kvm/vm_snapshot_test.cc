// Snapshot and restore of a whole VM in this process (vmm::Vm on the real /dev/kvm): the
// `chatter` guest on 2 vCPUs is paused and snapshotted, the snapshot goes through the
// state file encoding (memory apart), and a second VM built from the same configuration
// restored from it prints on from the line where the first stopped: no restart from 1,
// no line lost or repeated.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "support/chatter_vm.h"
#include "support/kvm_required.h"
#include "support/linux_fixture.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

namespace vireo::vmm {
namespace {

using namespace std::chrono_literals;
using test::chatter_config;
using test::ChatterVm;
using test::lines_count_up;

uint64_t tsc_of(const snapshot::VcpuKvmState& v) {
  for (const auto& [index, value] : v.msrs)
    if (index == 0x10) return value;
  return 0;
}

// Runs `c` until it printed `bytes`, pauses it and lets its console drain.
void run_then_pause(ChatterVm& c, size_t bytes) {
  c.vm().start();
  ASSERT_TRUE(c.wait_for_more(0, bytes, 60s)) << c.out();
  ASSERT_TRUE(c.vm().pause().ok());
  std::this_thread::sleep_for(100ms);  // what the UART held reaches us
}

// The snapshot after a trip through the state file; memory travels apart.
VmSnapshot through_state_file(const VmSnapshot& s) {
  auto decoded = decode_vm_state(encode_vm_state(s));
  EXPECT_TRUE(decoded.ok()) << decoded.error().message();
  if (!decoded.ok()) return {};
  EXPECT_EQ(decoded->devices, s.devices);
  EXPECT_EQ(decoded->kvm.vcpus.size(), s.kvm.vcpus.size());
  for (size_t i = 0; i < decoded->ram.size() && i < s.ram.size(); ++i) {
    EXPECT_TRUE(decoded->ram[i].bytes.empty());
    decoded->ram[i].bytes = s.ram[i].bytes;
  }
  return std::move(*decoded);
}

TEST(VmSnapshot, RestoredVmContinuesTheGuest) {
  VIREO_REQUIRE_KVM();
  std::string before;
  VmSnapshot snap;
  {
    ChatterVm first(2);
    ASSERT_EQ(first.error(), "");
    ASSERT_NO_FATAL_FAILURE(run_then_pause(first, 8192));
    auto s = first.vm().snapshot();
    ASSERT_TRUE(s.ok()) << s.error().message();
    snap = std::move(*s);
    before = first.out();
    ASSERT_EQ(snap.kvm.vcpus.size(), 2u);
    EXPECT_FALSE(snap.kvm.vcpus[0].msrs.empty());
    EXPECT_GE(snap.kvm.vcpus[0].xsave.size(), 4096u);
    EXPECT_FALSE(snap.kvm.vcpus[0].cpuid.empty());
    // The first VM ends here, before the second starts.
    first.vm().request_stop({StopReason::kSignal, 15});
    first.vm().stop_and_join();
  }
  ASSERT_TRUE(lines_count_up(before));
  const VmSnapshot decoded = through_state_file(snap);
  ASSERT_EQ(decoded.cpus, 2u);

  ChatterVm second(2);
  ASSERT_EQ(second.error(), "");
  auto r = second.vm().restore(decoded);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // The guest's kvmclock is where it stopped (the time in between left out).
  auto clock = second.vm().guest_clock_ns();
  ASSERT_TRUE(clock.ok());
  EXPECT_GE(*clock, snap.kvm.vm.clock_ns);
  EXPECT_LT(*clock - snap.kvm.vm.clock_ns, 5'000'000'000u) << "kvmclock was not restored";
  second.vm().start();
  ASSERT_TRUE(second.wait_for_more(0, 8192, 60s)) << "no output after restore: " << second.out();
  ASSERT_TRUE(second.vm().pause().ok());
  std::this_thread::sleep_for(100ms);
  const std::string after = second.out();
  EXPECT_EQ(after.find("chatter 1 ."), std::string::npos) << "the guest started again";
  // The guest's TSC went on from where it was (KVM may not take a TSC written near a
  // fresh VM's own; see snapshot/kvm_state.cc).
  auto again = second.vm().snapshot();
  ASSERT_TRUE(again.ok()) << again.error().message();
  for (size_t i = 0; i < 2; ++i) {
    const uint64_t was = tsc_of(snap.kvm.vcpus[i]), now = tsc_of(again->kvm.vcpus[i]);
    EXPECT_GT(now, was) << "vCPU " << i << ": the TSC went back";
    if (snap.kvm.vcpus[i].tsc_khz)
      EXPECT_LT(now - was, uint64_t{snap.kvm.vcpus[i].tsc_khz} * 1000 * 60) << "vCPU " << i;
  }
  // Joined, the two consoles are one guest's: every line once, in order.
  EXPECT_TRUE(lines_count_up(before + after)) << "first VM ended with: "
                                               << before.substr(before.size() - 200)
                                               << "\nsecond VM began with: " << after.substr(0, 200);
}

TEST(VmSnapshot, RefusesAnotherMachineShapeAndAVmThatRan) {
  VIREO_REQUIRE_KVM();
  ChatterVm first(2);
  ASSERT_EQ(first.error(), "");
  first.vm().start();
  ASSERT_TRUE(first.wait_for_more(0, 1024, 60s)) << first.out();
  auto running = first.vm().snapshot();
  ASSERT_FALSE(running.ok());
  EXPECT_NE(running.error().message().find("pause it first"), std::string::npos)
      << running.error().message();
  ASSERT_TRUE(first.vm().pause().ok());
  auto s = first.vm().snapshot();
  ASSERT_TRUE(s.ok()) << s.error().message();

  {
    ChatterVm one_cpu(1);
    ASSERT_EQ(one_cpu.error(), "");
    auto r = one_cpu.vm().restore(*s);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("with 2 vCPUs, this one has 1: build it with --cpus 2"),
              std::string::npos)
        << r.error().message();
  }
  {
    ChatterVm more_memory(chatter_config(2, 128 << 20));
    ASSERT_EQ(more_memory.error(), "");
    auto r = more_memory.vm().restore(*s);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("build it with --memory 64M"), std::string::npos)
        << r.error().message();
  }
  // A snapshot without its memory image.
  {
    ChatterVm same(2);
    ASSERT_EQ(same.error(), "");
    VmSnapshot no_memory = *s;
    for (auto& reg : no_memory.ram) reg.bytes.clear();
    auto r = same.vm().restore(no_memory);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("memory image is missing"), std::string::npos)
        << r.error().message();
  }
  // The VM that ran is no place to restore into.
  auto r = first.vm().restore(*s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("has run already"), std::string::npos) << r.error().message();
}

// A virtio device caught with work in flight: the `virtio_rng` guest fills its queue,
// kicks once and checks every chain, round after round; a snapshot taken in the middle,
// restored into a second VM, must finish the rounds with every check passed (the
// restored device comes back active and serves what was pending).
VmConfig rng_config(uint32_t rounds, Transport transport) {
  VmConfig cfg = chatter_config(1);
  cfg.kernel_path = std::string(VIREO_GUEST_DIR) + "/virtio_rng.elf";
  cfg.cmdline = fmt::format("mode=inflight rounds={}", rounds);
  cfg.rng = true;
  cfg.transport = transport;
  return cfg;
}

// A snapshot and what the guest printed before it (its console goes on in the second VM).
struct MidRounds {
  VmSnapshot snap;
  std::string printed;
};

// Runs the rng guest with `rounds` and takes a snapshot 0.1 s after its queue is set
// up; nullopt if the rounds were over by then (fills `why` on a failure).
std::optional<MidRounds> snapshot_mid_rounds(uint32_t rounds, Transport transport,
                                             std::string& why) {
  ChatterVm first(rng_config(rounds, transport));
  if (!first.error().empty()) {
    why = first.error();
    return std::nullopt;
  }
  first.vm().start();
  const auto limit = std::chrono::steady_clock::now() + 60s;
  while (first.out().find("queue 0 of") == std::string::npos && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(100ms);
  if (auto p = first.vm().pause(); !p.ok()) {
    why = p.error().message();
    return std::nullopt;
  }
  std::this_thread::sleep_for(50ms);
  const std::string out = first.out();
  if (out.find("queue 0 of") == std::string::npos || out.find("FAIL") != std::string::npos ||
      out.find("inflight ok") != std::string::npos) {
    why = out;
    return std::nullopt;
  }
  auto s = first.vm().snapshot();
  if (!s.ok()) {
    why = s.error().message();
    return std::nullopt;
  }
  first.vm().request_stop({StopReason::kSignal, 15});
  first.vm().stop_and_join();  // the first VM ends before the second starts
  return MidRounds{std::move(*s), first.out()};
}

void rng_work_in_flight_goes_on(Transport transport) {
  // A round takes 0.3 s where guest kernel mode is emulated, a few ms in the KVM sandbox,
  // microseconds on hardware: more rounds until the snapshot lands inside them.
  uint32_t rounds = 8;
  std::optional<MidRounds> taken;
  std::string why;
  for (int attempt = 0; attempt < 5 && !taken; ++attempt, rounds *= 16) {
    taken = snapshot_mid_rounds(rounds, transport, why);
    if (!taken && why.find("inflight ok") == std::string::npos) break;  // not just too fast
  }
  ASSERT_TRUE(taken) << "no snapshot in the middle of the rounds: " << why;
  rounds /= 16;
  const VmSnapshot snap = through_state_file(taken->snap);

  ChatterVm second(rng_config(rounds, transport));
  ASSERT_EQ(second.error(), "");
  auto r = second.vm().restore(snap);
  ASSERT_TRUE(r.ok()) << r.error().message();
  second.vm().start();
  const auto limit = std::chrono::steady_clock::now() + 60s;
  while (second.out().find("PASS") == std::string::npos &&
         second.out().find("FAIL") == std::string::npos && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(2ms);
  const std::string out = second.out();
  // The guest's console is both VMs' output: it may start the line just before the pause.
  const std::string console = taken->printed + out;
  EXPECT_NE(console.find(fmt::format("inflight ok: {} rounds", rounds)), std::string::npos) << console;
  EXPECT_NE(out.find("PASS"), std::string::npos) << out;
  EXPECT_EQ(out.find("virtio_rng: guest"), std::string::npos) << "the guest started again: " << out;
  const StopEvent ev = second.vm().stop_and_join();
  EXPECT_EQ(ev.reason, StopReason::kDebugExit) << ev.describe();
  EXPECT_EQ(ev.value, 0u) << "the guest failed: " << out;
}

TEST(VmSnapshot, VirtioDeviceWithWorkInFlightGoesOn) {
  VIREO_REQUIRE_KVM();
  rng_work_in_flight_goes_on(Transport::kMmio);
}

// The same on virtio-pci: the function's configuration space and BAR come back with it
// (the guest polls, so MSI-X delivery is not exercised).
TEST(VmSnapshot, VirtioPciDeviceWithWorkInFlightGoesOn) {
  VIREO_REQUIRE_KVM();
  rng_work_in_flight_goes_on(Transport::kPci);
}

// A guest caught in ring 3 before it leaves with SYSCALL: where guest kernel mode is
// emulated, vireo finishes each SYSCALL with a breakpoint it arms when the guest writes
// MSR_LSTAR, which the restored guest does not do again: the restore re-arms it. The
// `ring3` guest checks everything the SYSCALL did.
VmConfig ring3_config(uint32_t mb) {
  VmConfig cfg = chatter_config(1, (uint64_t{mb} + 64) << 20);
  cfg.kernel_path = std::string(VIREO_GUEST_DIR) + "/ring3.elf";
  cfg.cmdline = fmt::format("mb={} ret=syscall", mb);
  return cfg;
}

// A snapshot taken as soon as the guest says it goes to ring 3 for its checksum, after
// its LSTAR write and before its SYSCALL (nullopt if it was done by then; `why` says
// what it printed).
std::optional<VmSnapshot> snapshot_in_ring3(uint32_t mb, std::string& why) {
  ChatterVm first(ring3_config(mb));
  if (!first.error().empty()) {
    why = first.error();
    return std::nullopt;
  }
  first.vm().start();
  const auto limit = std::chrono::steady_clock::now() + 60s;
  while (first.out().find("protected from ring 3") == std::string::npos &&
         first.out().find("FAIL") == std::string::npos && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  if (auto p = first.vm().pause(); !p.ok()) {
    why = p.error().message();
    return std::nullopt;
  }
  std::this_thread::sleep_for(50ms);
  why = first.out();
  if (why.find("protected from ring 3") == std::string::npos || why.find("checksum=") != std::string::npos ||
      why.find("FAIL") != std::string::npos)
    return std::nullopt;
  auto s = first.vm().snapshot();
  if (!s.ok()) {
    why = s.error().message();
    return std::nullopt;
  }
  first.vm().request_stop({StopReason::kSignal, 15});
  first.vm().stop_and_join();
  return std::move(*s);
}

TEST(VmSnapshot, GuestInRing3LeavesWithSyscallAfterRestore) {
  VIREO_REQUIRE_KVM();
  uint32_t mb = 64;
  std::optional<VmSnapshot> taken;
  std::string why;
  for (; mb <= 1024 && !taken; mb *= 4) {
    taken = snapshot_in_ring3(mb, why);
    if (!taken && why.find("checksum=") == std::string::npos) break;  // not just too fast
  }
  ASSERT_TRUE(taken) << "no snapshot while the guest was in ring 3: " << why;
  mb /= 4;
  const VmSnapshot snap = through_state_file(*taken);
  taken.reset();

  ChatterVm second(ring3_config(mb));
  ASSERT_EQ(second.error(), "");
  auto r = second.vm().restore(snap);
  ASSERT_TRUE(r.ok()) << r.error().message();
  second.vm().start();
  const auto limit = std::chrono::steady_clock::now() + 60s;
  while (second.out().find("PASS") == std::string::npos &&
         second.out().find("FAIL") == std::string::npos && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(2ms);
  const std::string out = second.out();
  EXPECT_NE(out.find("ring3: syscall state ok"), std::string::npos) << out;
  EXPECT_NE(out.find("PASS"), std::string::npos) << out;
  EXPECT_EQ(out.find("ring3: guest"), std::string::npos) << "the guest started again: " << out;
}

// The ticks of `out` ("tick N" lines), which must count up by one from 1.
testing::AssertionResult ticks_count_up(const std::string& out, uint64_t* last = nullptr) {
  std::regex line(R"(tick (\d+)\r?\n)");
  uint64_t want = 1;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    const uint64_t n = std::stoull((*it)[1].str());
    if (n != want) return testing::AssertionFailure() << "tick " << n << " where " << want << " was due";
    ++want;
  }
  if (last) *last = want - 1;
  return testing::AssertionSuccess() << (want - 1) << " ticks";
}

uint64_t last_tick(const std::string& out) {
  uint64_t n = 0;
  (void)ticks_count_up(out, &n);
  return n;
}

bool wait_for_tick(ChatterVm& c, uint64_t n, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (last_tick(c.out()) >= n) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Linux on 2 vCPUs with what a snapshot must carry in use: the UART's interrupts, the
// LAPIC timers (sleep), kvmclock and the TSC, system calls. /init prints a tick every
// 20 ms; the restored VM's ticks go on from the first VM's last.
TEST(VmSnapshot, LinuxGoesOnTicking) {
  VIREO_REQUIRE_KVM();
  const std::string dir = test::linux_dir();
  VIREO_REQUIRE_FIXTURE(dir, "vmlinux", "build-linux-guest.sh");
  VmConfig cfg = chatter_config(2, 128 << 20);
  cfg.kernel_path = dir + "/vmlinux";
  cfg.initrd_path = dir + "/initramfs.cpio";
  cfg.cmdline =
      "console=ttyS0 panic=-1 vireo.then=poweroff "
      "vireo.cmd=\"i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); echo tick $i; sleep 0.02; done\"";

  VmSnapshot snap;
  std::string before;
  {
    ChatterVm first(cfg);
    ASSERT_EQ(first.error(), "");
    first.vm().start();
    // Minutes where guest kernel mode is emulated, seconds elsewhere.
    ASSERT_TRUE(wait_for_tick(first, 20, 600s)) << first.out();
    ASSERT_TRUE(first.vm().pause().ok());
    std::this_thread::sleep_for(100ms);
    auto s = first.vm().snapshot();
    ASSERT_TRUE(s.ok()) << s.error().message();
    snap = through_state_file(*s);
    before = first.out();
    first.vm().request_stop({StopReason::kSignal, 15});
    first.vm().stop_and_join();
  }
  ASSERT_TRUE(ticks_count_up(before));
  const uint64_t stopped_at = last_tick(before);

  ChatterVm second(cfg);
  ASSERT_EQ(second.error(), "");
  auto r = second.vm().restore(snap);
  ASSERT_TRUE(r.ok()) << r.error().message();
  second.vm().start();
  const auto end = std::chrono::steady_clock::now() + 120s;
  while (last_tick(before + second.out()) < stopped_at + 20 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(20ms);
  const std::string after = second.out();
  EXPECT_EQ(after.find("Linux version"), std::string::npos) << "the kernel booted again";
  EXPECT_TRUE(ticks_count_up(before + after)) << "second VM: " << after.substr(0, 2000);
  EXPECT_GE(last_tick(before + after), stopped_at + 20) << "second VM: " << after.substr(0, 2000);
}

}  // namespace
}  // namespace vireo::vmm
