// The REST API of a running vireo (--api-sock), spoken to as a client would: raw HTTP/1.1
// over the Unix socket. The `chatter` guest prints numbered lines without end, so its
// output shows whether it runs.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <string>

#include "support/kvm_required.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

using namespace std::chrono_literals;

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a connection of its own; the whole answer (the server closes after it).
std::string http(const std::string& path, const std::string& method, const std::string& target,
                 const std::string& body = "") {
  const int fd = connect_to(path);
  if (fd < 0) return "";
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method != "GET") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class ApiOnARunningVm : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vireo-api-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    sock_ = dir_ + "/api.sock";
  }
  void TearDown() override { ::rmdir(dir_.c_str()); }
  // Output after `ms` more milliseconds of reading it.
  static size_t output_after(Process& p, std::chrono::milliseconds ms) {
    p.wait_for_output("\n~never~", ms);
    return p.out().size();
  }
  std::string dir_, sock_;
};

TEST_F(ApiOnARunningVm, PauseStopsTheGuestResumeGoesOnBadRequestsHarmNothing) {
  VIREO_REQUIRE_KVM();
  Process p({vireo_bin(), "run", "--kernel", guest("chatter"), "--cpus", "2", "--memory", "64M",
             "--api-sock", sock_});
  ASSERT_TRUE(p.wait_for_output("chatter 100 ", 60s)) << p.out();

  std::string r = http(sock_, "GET", "/");
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("\"state\":\"Running\""), std::string::npos) << r;
  r = http(sock_, "GET", "/machine-config");
  EXPECT_NE(r.find("\"mem_size_mib\":64"), std::string::npos) << r;
  EXPECT_NE(r.find("\"vcpu_count\":2"), std::string::npos) << r;

  r = http(sock_, "PATCH", "/vm", R"({"state": "Paused"})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << r;
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Paused\""), std::string::npos);
  const size_t paused_at = output_after(p, 200ms);
  EXPECT_EQ(output_after(p, 500ms), paused_at) << "the guest printed while paused";

  // Bad requests while paused: answered 400, nothing changes.
  r = http(sock_, "PATCH", "/vm", R"({"state": "Running"})");
  EXPECT_NE(r.find("HTTP/1.1 400 Bad Request"), std::string::npos) << r;
  EXPECT_NE(r.find("unknown variant `Running`"), std::string::npos) << r;
  EXPECT_NE(http(sock_, "PATCH", "/vm", "{").find("400 Bad Request"), std::string::npos);
  EXPECT_NE(http(sock_, "PUT", "/vm", std::string(60000, ' ')).find("larger than the limit"),
            std::string::npos);
  EXPECT_NE(http(sock_, "GET", "/drives").find("Invalid request method and/or path"), std::string::npos);
  {  // a client that goes away halfway through its request
    const int fd = connect_to(sock_);
    const std::string half = "PATCH /vm HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"sta";
    (void)::send(fd, half.data(), half.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Paused\""), std::string::npos);
  EXPECT_EQ(output_after(p, 100ms), paused_at);

  r = http(sock_, "PATCH", "/vm", R"({"state": "Resumed"})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << r;
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Running\""), std::string::npos);
  EXPECT_GT(output_after(p, 500ms), paused_at + 1000) << "no output after resume";

  p.send_signal(SIGTERM);
  auto done = p.wait(30s);
  EXPECT_EQ(done.exit_status, 128 + SIGTERM) << done.err;
  struct stat st {};
  EXPECT_NE(::lstat(sock_.c_str(), &st), 0) << "the API socket outlived vireo";
}

TEST_F(ApiOnARunningVm, SocketInUseIsOneLineAndStatus2) {
  VIREO_REQUIRE_KVM();
  Process first({vireo_bin(), "run", "--kernel", guest("chatter"), "--memory", "64M", "--api-sock", sock_});
  ASSERT_TRUE(first.wait_for_output("chatter 10 ", 60s)) << first.out();
  auto second = run_process({vireo_bin(), "run", "--kernel", guest("hello"), "--api-sock", sock_});
  EXPECT_EQ(second.exit_status, 2);
  EXPECT_EQ(second.err, "vireo: --api-sock: " + sock_ + " is in use by another program\n");
  first.send_signal(SIGTERM);
  first.wait(30s);
}

// The third way to describe a VM: Firecracker's configuration file.
TEST(ConfigFileBoot, BootsTheGuestItDescribes) {
  VIREO_REQUIRE_KVM();
  char name[] = "/tmp/vireo-config-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = name;
  std::ofstream(path) << R"({"boot-source": {"kernel_image_path": ")" << guest("exit_status")
                      << R"(", "boot_args": "exit=42 marker=from-the-file"},
    "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}})";
  auto r = run_process({vireo_bin(), "run", "--config-file", path});
  EXPECT_EQ(r.exit_status, (42 << 1) | 1) << r.out << r.err;
  EXPECT_NE(r.out.find("cmdline: exit=42 marker=from-the-file"), std::string::npos) << r.out;
  std::ofstream(path) << R"({"boot-source": {"kernel_image_path": ")" << guest("exit_status")
                      << R"("}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "smt": true}})";
  auto bad = run_process({vireo_bin(), "run", "--config-file", path});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_EQ(bad.err, "vireo: --config-file " + path +
                         ": `machine-config.smt`: true is not supported (vCPUs are one thread per "
                         "core); leave it out or set false\n");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace vireo::test
