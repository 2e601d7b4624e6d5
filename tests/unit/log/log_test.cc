// The log: levels, the target's line format, the module filter, FIFOs that nobody reads.
#include "log/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace vireo::log {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vireo-log-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    close();
    ::unlink((dir_ + "/log").c_str());
    ::unlink((dir_ + "/fifo").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST(LogLevel, FirecrackersNamesInAnyCase) {
  EXPECT_EQ(*parse_level("Warning"), Level::kWarning);
  EXPECT_EQ(*parse_level("WARN"), Level::kWarning);
  EXPECT_EQ(*parse_level("trace"), Level::kTrace);
  EXPECT_EQ(*parse_level("Off"), Level::kOff);
  EXPECT_FALSE(parse_level("verbose").ok());
  EXPECT_FALSE(parse_level("").ok());
  EXPECT_FALSE(parse_level("inf").ok());
}

TEST_F(LogTest, LinesAtTheLevelAndAboveInFirecrackersShape) {
  const std::string path = dir_ + "/log";
  ASSERT_TRUE(open(path, {.level = Level::kInfo, .show_level = true, .show_origin = true}).ok());
  EXPECT_TRUE(enabled(Level::kInfo));
  EXPECT_FALSE(enabled(Level::kDebug));
  LOG_INFO("hello {}", 42);
  LOG_DEBUG("not this");
  const int line = __LINE__ - 2;
  close();
  const std::string text = slurp(path);
  EXPECT_EQ(text.find("not this"), std::string::npos) << text;
  // 2026-12-03T19:30:00.123456789 [anonymous-instance:main:INFO:tests/...:NN] hello 42
  ASSERT_GE(text.size(), 30u) << text;
  EXPECT_EQ(text[4], '-');
  EXPECT_EQ(text[10], 'T');
  EXPECT_EQ(text[19], '.');
  EXPECT_EQ(text[29], ' ');
  EXPECT_NE(text.find(fmt::format(" [anonymous-instance:main:INFO:log_test.cc:{}] hello 42\n", line)),
            std::string::npos) << text;
  EXPECT_EQ(written_lines() >= 1, true);
}

TEST_F(LogTest, WithoutLevelOrOriginTheLineHasTheThreadOnly) {
  const std::string path = dir_ + "/log";
  ASSERT_TRUE(open(path, {.level = Level::kWarning}).ok());
  LOG_INFO("quiet");
  LOG_WARN("loud");
  close();
  const std::string text = slurp(path);
  EXPECT_EQ(text.find("quiet"), std::string::npos) << text;
  EXPECT_NE(text.find(" [anonymous-instance:main] loud\n"), std::string::npos) << text;
}

TEST_F(LogTest, ModuleKeepsOnlyMessagesFromThoseFiles) {
  const std::string path = dir_ + "/log";
  ASSERT_TRUE(open(path, {.level = Level::kInfo, .module = "src/virtio"}).ok());
  write(Level::kInfo, "/x/src/virtio/net.cc", 1, "from net");
  write(Level::kInfo, "/x/src/vmm/vm.cc", 1, "from vm");
  close();
  ASSERT_TRUE(open(path, {.level = Level::kInfo, .module = "vmm"}).ok());
  write(Level::kInfo, "/x/src/vmm/vm.cc", 1, "vm again");
  close();
  const std::string text = slurp(path);
  EXPECT_NE(text.find("from net"), std::string::npos) << text;
  EXPECT_EQ(text.find("from vm\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vm again"), std::string::npos) << text;
}

TEST_F(LogTest, AFifoNobodyReadsDropsLinesInsteadOfBlocking) {
  const std::string path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  ASSERT_TRUE(open(path, {.level = Level::kInfo}).ok());  // no reader: must not block
  const uint64_t missed = missed_lines();
  const std::string big(5000, 'x');  // more than PIPE_BUF: write(2) may take part of it
  for (int i = 0; i < 200; ++i) LOG_INFO("{}", big);  // 200 KB: more than a pipe holds
  EXPECT_GT(missed_lines(), missed);
  // What the pipe gets is whole lines: a line it took part of is finished first (here
  // when the log closes, once the reader emptied the pipe).
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(reader, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close();
  while ((n = ::read(reader, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(reader);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  size_t lines = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    ASSERT_NE(end, std::string::npos);
    EXPECT_TRUE(std::string_view(text).substr(at, end - at).ends_with("] " + big)) << "a cut line";
    at = end + 1;
    ++lines;
  }
  EXPECT_GT(lines, 3u);
  close();
}

TEST_F(LogTest, OpeningADirectoryOrAMissingPlaceIsAnErrorNamingIt) {
  auto r = open(dir_, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(dir_), std::string::npos);
  r = open(dir_ + "/no/such/log", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cannot open log"), std::string::npos);
  EXPECT_FALSE(has_target());
}

}  // namespace
}  // namespace vireo::log
