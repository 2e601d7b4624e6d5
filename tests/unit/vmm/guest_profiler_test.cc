#include "vmm/guest_profiler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace vireo::vmm {
namespace {

TEST(GuestProfiler, ReportsBySymbolMostFrequentFirst) {
  GuestProfiler p;
  auto syms = SymbolMap::parse(
      "ffffffff81000000 T tick\n"
      "ffffffff81001000 T idle\n");
  for (int i = 0; i < 6; ++i) p.record(0xffffffff81000010 + i, false);  // tick
  for (int i = 0; i < 3; ++i) p.record(0xffffffff81001000, false);      // idle
  p.record(0x401000, true);                                              // user mode
  EXPECT_EQ(p.samples(), 10u);
  std::string r = p.report(&syms);
  EXPECT_NE(r.find("# guest profile: 10 samples"), std::string::npos) << r;
  size_t tick = r.find("tick"), idle = r.find("idle"), user = r.find("[user mode]");
  ASSERT_NE(tick, std::string::npos) << r;
  ASSERT_NE(idle, std::string::npos) << r;
  ASSERT_NE(user, std::string::npos) << r;
  EXPECT_LT(tick, idle);
  EXPECT_LT(idle, user);
  EXPECT_NE(r.find("60.0%"), std::string::npos) << r;
}

TEST(GuestProfiler, WithoutSymbolsGroupsBy256ByteBlockAndLimitsLines) {
  GuestProfiler p;
  p.record(0xffffffff81000010, false);
  p.record(0xffffffff810000f0, false);
  p.record(0xffffffff81000100, false);
  std::string r = p.report(nullptr);
  EXPECT_NE(r.find("        2  66.7%  0xffffffff81000000"), std::string::npos) << r;
  EXPECT_NE(r.find("0xffffffff81000100"), std::string::npos) << r;
  std::string one = p.report(nullptr, 1);
  EXPECT_EQ(one.find("0xffffffff81000100"), std::string::npos) << one;
}

TEST(PeriodicThread, TicksUntilDestroyed) {
  std::atomic<int> ticks{0};
  {
    PeriodicThread t(std::chrono::microseconds(1000), [&] { ++ticks; });
    while (ticks < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int after = ticks;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ticks, after) << "no tick after destruction";
}

}  // namespace
}  // namespace vireo::vmm
