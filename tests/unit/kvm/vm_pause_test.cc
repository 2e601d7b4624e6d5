// Pause and resume of a whole VM in this process (vmm::Vm on the real /dev/kvm): the
// `chatter` test guest prints numbered lines without end; while paused no line comes,
// every vCPU is parked and the guest's clock stands still; after resume the lines go on
// from where they stopped, none lost or repeated, across many pauses.
#include "vmm/vm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "support/chatter_vm.h"
#include "support/kvm_required.h"

namespace vireo::vmm {
namespace {

using namespace std::chrono_literals;
using test::ChatterVm;
using test::lines_count_up;

bool all(const std::vector<VcpuState>& states, VcpuState want) {
  for (auto s : states)
    if (s != want) return false;
  return !states.empty();
}

TEST(VmPause, StopsEveryVcpuAndTheClockThenGoesOn) {
  VIREO_REQUIRE_KVM();
  ChatterVm c(2);
  ASSERT_EQ(c.error(), "");
  Vm& vm = c.vm();
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kCreated));
  ASSERT_TRUE(vm.resume().ok());  // not paused: nothing to do
  vm.start();
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kRunning));
  ASSERT_TRUE(c.wait_for_more(0, 4096, 60s)) << c.out();

  ASSERT_TRUE(vm.pause().ok());
  EXPECT_TRUE(vm.paused());
  // Both vCPUs: the one printing and the one waiting for its start-up IPI.
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kPaused));
  auto clock_paused = vm.guest_clock_ns();
  ASSERT_TRUE(clock_paused.ok()) << clock_paused.error().message();
  std::this_thread::sleep_for(100ms);  // what the UART held reaches us
  const size_t at_pause = c.out().size();
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(c.out().size(), at_pause) << "the guest printed while paused";
  ASSERT_TRUE(vm.pause().ok());  // already paused: nothing to do

  ASSERT_TRUE(vm.resume().ok());
  EXPECT_FALSE(vm.paused());
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kRunning));
  auto clock_resumed = vm.guest_clock_ns();
  ASSERT_TRUE(clock_resumed.ok());
  // The guest's clock left out the half second it was paused.
  // (Read after pause() took its own reading, clock_paused may be a little ahead of the
  // value the clock is set back to: the difference may be slightly negative.)
  const int64_t moved = static_cast<int64_t>(*clock_resumed - *clock_paused);
  EXPECT_LT(moved, 100'000'000) << "kvmclock went on while paused: " << *clock_paused << " -> " << *clock_resumed;
  EXPECT_GT(moved, -100'000'000) << "kvmclock went back: " << *clock_paused << " -> " << *clock_resumed;
  EXPECT_TRUE(c.wait_for_more(at_pause, 4096, 60s)) << "no output after resume";

  // Many pauses at random points of the guest's port I/O: nothing lost, nothing twice.
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(vm.pause().ok());
    ASSERT_TRUE(all(vm.vcpu_states(), VcpuState::kPaused)) << "round " << i;
    ASSERT_TRUE(vm.resume().ok());
    const size_t now = c.out().size();
    ASSERT_TRUE(c.wait_for_more(now, 200, 30s)) << "round " << i;
  }
  ASSERT_TRUE(vm.pause().ok());
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(lines_count_up(c.out()));
  ASSERT_TRUE(vm.resume().ok());
}

TEST(VmPause, StopWhilePausedEndsEveryVcpu) {
  VIREO_REQUIRE_KVM();
  ChatterVm c(2);
  ASSERT_EQ(c.error(), "");
  Vm& vm = c.vm();
  vm.start();
  ASSERT_TRUE(c.wait_for_more(0, 1024, 60s)) << c.out();
  ASSERT_TRUE(vm.pause().ok());
  vm.request_stop({StopReason::kSignal, 15});
  const auto t0 = std::chrono::steady_clock::now();
  const StopEvent ev = vm.stop_and_join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(ev.reason, StopReason::kSignal);
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kStopped));
}

TEST(VmPause, StopBeforeStartNeedsNoThread) {
  VIREO_REQUIRE_KVM();
  ChatterVm c(1);
  ASSERT_EQ(c.error(), "");
  Vm& vm = c.vm();
  ASSERT_TRUE(vm.pause().ok());  // created, not running: nothing to do
  EXPECT_FALSE(all(vm.vcpu_states(), VcpuState::kPaused));
  vm.request_stop({StopReason::kSignal, 15});
  vm.stop_and_join();
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kStopped));
  vm.start();  // after a stop: stays stopped
  EXPECT_TRUE(all(vm.vcpu_states(), VcpuState::kStopped));
}

}  // namespace
}  // namespace vireo::vmm
