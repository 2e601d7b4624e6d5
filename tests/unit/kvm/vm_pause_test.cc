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

#include "support/kvm_required.h"

namespace vireo::vmm {
namespace {

using namespace std::chrono_literals;

// A VM running `chatter` with its console drained into a string by a thread of ours.
class ChatterVm {
 public:
  explicit ChatterVm(uint32_t cpus) {
    VmConfig cfg;
    cfg.kernel_path = std::string(VIREO_GUEST_DIR) + "/chatter.elf";
    cfg.cmdline = "";
    cfg.cpus = cpus;
    cfg.memory = 64 << 20;
    cfg.quiet = true;
    auto vm = Vm::create(cfg, [] {});
    if (!vm.ok()) {
      error_ = vm.error().message();
      return;
    }
    vm_ = std::move(*vm);
    drain_ = std::thread([this] {
      uint8_t buf[4096];
      while (!done_) {
        const size_t n = vm_->console_port().take_output(buf);
        if (n) {
          std::lock_guard lock(mu_);
          out_.append(reinterpret_cast<const char*>(buf), n);
        } else {
          std::this_thread::sleep_for(1ms);
        }
      }
    });
  }
  ~ChatterVm() {
    if (vm_) vm_->stop_and_join();
    done_ = true;
    if (drain_.joinable()) drain_.join();
  }
  const std::string& error() const { return error_; }
  Vm& vm() { return *vm_; }
  std::string out() const {
    std::lock_guard lock(mu_);
    return out_;
  }
  // Waits until the output has `more` bytes beyond `from`.
  bool wait_for_more(size_t from, size_t more, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (out().size() >= from + more) return true;
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

 private:
  std::string error_;
  std::unique_ptr<Vm> vm_;
  mutable std::mutex mu_;
  std::string out_;
  std::atomic<bool> done_{false};
  std::thread drain_;
};

bool all(const std::vector<VcpuState>& states, VcpuState want) {
  for (auto s : states)
    if (s != want) return false;
  return !states.empty();
}

// The numbers of the complete "chatter N" lines, which must count up by one from 1.
testing::AssertionResult lines_count_up(const std::string& out) {
  std::regex line(R"(chatter (\d+) \.+\r?\n)");
  uint64_t want = 1;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    const uint64_t n = std::stoull((*it)[1].str());
    if (n != want) return testing::AssertionFailure() << "line " << n << " where " << want << " was due";
    ++want;
  }
  if (want < 2) return testing::AssertionFailure() << "no lines: " << out.substr(0, 200);
  return testing::AssertionSuccess() << (want - 1) << " lines";
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
