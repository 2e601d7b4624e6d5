#include "vmm/exit_status.h"

#include <gtest/gtest.h>

#include <csignal>

namespace vireo::vmm {
namespace {

TEST(ExitStatus, DebugExitIsQemuCompatible) {
  EXPECT_EQ((StopEvent{StopReason::kDebugExit, 0}).exit_status(), 1);
  EXPECT_EQ((StopEvent{StopReason::kDebugExit, 1}).exit_status(), 3);
  EXPECT_EQ((StopEvent{StopReason::kDebugExit, 0x31}).exit_status(), 0x63);
}

TEST(ExitStatus, DistinctStatuses) {
  EXPECT_EQ((StopEvent{StopReason::kPowerOff}).exit_status(), 0);
  EXPECT_EQ((StopEvent{StopReason::kReset}).exit_status(), 6);
  EXPECT_EQ((StopEvent{StopReason::kTripleFault}).exit_status(), 8);
  EXPECT_EQ((StopEvent{StopReason::kConsoleQuit}).exit_status(), 10);
  EXPECT_EQ((StopEvent{StopReason::kError, 0, "x"}).exit_status(), 4);
  EXPECT_EQ((StopEvent{StopReason::kSignal, SIGTERM}).exit_status(), 143);
  EXPECT_EQ((StopEvent{StopReason::kError, 0, "boom"}).describe(), "boom");
}

}  // namespace
}  // namespace vireo::vmm
