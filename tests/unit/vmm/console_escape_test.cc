#include "vmm/console_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace vireo::vmm {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(ConsoleEscape, PassesOrdinaryInput) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("ls -l\r\x03"), out), ConsoleEscape::Action::kNone);
  EXPECT_EQ(out, bytes("ls -l\r\x03"));
}

TEST(ConsoleEscape, CtrlAXQuits) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("ab\x01xcd"), out), ConsoleEscape::Action::kQuit);
  EXPECT_EQ(out, bytes("ab"));
}

TEST(ConsoleEscape, SplitAcrossReads) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("a\x01"), out), ConsoleEscape::Action::kNone);
  EXPECT_EQ(out, bytes("a"));
  EXPECT_EQ(e.feed(bytes("x"), out), ConsoleEscape::Action::kQuit);
}

TEST(ConsoleEscape, DoubleCtrlASendsOne) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("\x01\x01z"), out), ConsoleEscape::Action::kNone);
  EXPECT_EQ(out, bytes("\x01z"));
}

TEST(ConsoleEscape, UnknownCommandPassesThrough) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("\x01q"), out), ConsoleEscape::Action::kNone);
  EXPECT_EQ(out, bytes("\x01q"));
}

TEST(ConsoleEscape, Help) {
  ConsoleEscape e;
  std::vector<uint8_t> out;
  EXPECT_EQ(e.feed(bytes("\x01h"), out), ConsoleEscape::Action::kHelp);
  EXPECT_TRUE(out.empty());
  EXPECT_NE(std::string(ConsoleEscape::help_text()).find("Ctrl-A x"), std::string::npos);
}

}  // namespace
}  // namespace vireo::vmm
