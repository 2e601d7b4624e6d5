// virtio-vsock in a real VM, through Firecracker's host-side protocol: our minimal Linux
// (either transport) or Debian's cloud kernel (PCI)
// runs scripts/linux/vsock-tool (built by CMake, appended to the initramfs as a second
// cpio archive, so the cached guest needs no rebuild).
// - host to guest: a host program connects to the device's socket, writes "CONNECT 5000",
//   reads "OK <port>", sends 1 MiB to the guest's echo listener and reads it back;
// - guest to host: the guest connects to CID 2 port 6000, which is the Unix socket
//   PATH_6000 where the test echoes; the guest checks what came back by MD5.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/linux_fixture.h"
#include "support/vm_test.h"
#include "util/unique_fd.h"

namespace vireo::test {
namespace {

sockaddr_un addr_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A newc cpio archive holding `files` (name -> contents, mode 0755) and its trailer.
std::string cpio(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  unsigned ino = 900000;
  auto pad = [&out] {
    while (out.size() % 4) out.push_back('\0');
  };
  auto entry = [&](const std::string& name, const std::string& data, unsigned mode) {
    out += fmt::format("070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                       ino++, mode, 0, 0, 1, 0, data.size(), 0, 0, 0, 0, name.size() + 1, 0);
    out += name;
    out.push_back('\0');
    pad();
    out += data;
    pad();
  };
  for (const auto& [name, data] : files) entry(name, data, 0100755);
  entry("TRAILER!!!", "", 0);
  return out;
}

// Reads until EOF or `max` bytes.
std::string read_all(int fd, size_t max) {
  std::string s;
  char buf[65536];
  while (s.size() < max) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

class LinuxVirtioVsockOn : public ::testing::TestWithParam<LinuxGuest> {};

TEST_P(LinuxVirtioVsockOn, FirecrackerProtocolBothWays) {
  VIREO_REQUIRE_KVM();
  const LinuxGuest guest = GetParam();
  const std::string dir = guest.dir();
  VIREO_REQUIRE_GUEST(guest, dir);
  // Sockets under /tmp: the sandbox's 9p shares cannot hold them.
  char name[] = "/tmp/vireo-vsock-XXXXXX";
  ASSERT_NE(::mkdtemp(name), nullptr);
  const std::string scratch = name, uds = scratch + "/v.sock";
  const std::string initrd = scratch + "/initrd.cpio";
  {
    std::string base = read_file(guest.initrd(dir));
    ASSERT_FALSE(base.empty());
    base.resize((base.size() + 511) / 512 * 512, '\0');  // the next archive starts aligned
    const std::string tool = read_file(VIREO_VSOCK_TOOL);
    ASSERT_FALSE(tool.empty()) << VIREO_VSOCK_TOOL;
    std::ofstream(initrd, std::ios::binary) << base << cpio({{"bin/vsock-tool", tool}});
  }

  // Guest to host: echo whatever the guest sends on PATH_6000.
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto la = addr_of(uds + "_6000");
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&la), sizeof(la)), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  std::atomic<size_t> echoed{0};
  std::thread echo([&] {
    UniqueFd c(::accept(listener.get(), nullptr, nullptr));
    if (!c) return;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
      if (n <= 0) break;
      if (::send(c.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      echoed += static_cast<size_t>(n);
    }
  });

  // Host to guest: retry until the guest listens (until then the guest answers RST and
  // the device closes our socket).
  std::string host_data(1 << 20, '\0');
  for (size_t i = 0; i < host_data.size(); ++i) host_data[i] = static_cast<char>((i * 131) ^ (i >> 10));
  std::string ok_line, host_got;
  std::atomic<bool> stop{false};
  std::thread host([&] {
    for (int attempt = 0; attempt < 1200 && !stop; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      auto a = addr_of(uds);
      if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) continue;
      if (::send(s.get(), "CONNECT 5000\n", 13, MSG_NOSIGNAL) != 13) continue;
      std::string line;
      char ch;
      while (line.size() < 32 && ::recv(s.get(), &ch, 1, 0) == 1 && ch != '\n') line.push_back(ch);
      if (!line.starts_with("OK ")) continue;
      ok_line = line;
      std::thread writer([&] {
        (void)::send(s.get(), host_data.data(), host_data.size(), MSG_NOSIGNAL);
        ::shutdown(s.get(), SHUT_WR);
      });
      host_got = read_all(s.get(), 2 * host_data.size());
      writer.join();
      return;
    }
  });

  const std::string cmd =
      "vsock-tool listen 5000 & "
      "head -c 1048576 /dev/urandom > /tmp/a; "
      "vsock-tool connect 2 6000 < /tmp/a > /tmp/b; echo connect-exit=$?; "
      "echo guest-sent-md5=$(md5sum < /tmp/a | cut -c1-32) guest-got-md5=$(md5sum < /tmp/b | cut -c1-32) "
      "bytes=$(wc -c < /tmp/b); "
      "wait; echo listen-done";
  auto r = run_process({vireo_bin(), "run", "--kernel", guest.image(dir), "--initrd", initrd,
                        "--memory", guest.memory(), "--transport", guest.transport, "--vsock",
                        "cid=3,uds=" + uds,
                        "--cmdline",
                        "console=ttyS0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""},
                       "", std::chrono::seconds(300));
  stop = true;
  host.join();
  ::shutdown(listener.get(), SHUT_RDWR);
  echo.join();
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  // Host to guest and back.
  // Local ports count up from 2^30 (every refused attempt took one).
  ASSERT_TRUE(ok_line.starts_with("OK ")) << out;
  EXPECT_GE(std::stoull(ok_line.substr(3)), 1ull << 30) << ok_line;
  EXPECT_EQ(host_got.size(), host_data.size()) << out;
  EXPECT_TRUE(host_got == host_data) << "echoed data differs";
  EXPECT_NE(out.find("listen-done"), std::string::npos) << out;
  // Guest to host and back.
  EXPECT_NE(out.find("connect-exit=0"), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("guest-sent-md5=([0-9a-f]{32}) guest-got-md5=([0-9a-f]{32}) bytes=(\\d+)")))
      << out;
  EXPECT_EQ(m[1].str(), m[2].str()) << out;
  EXPECT_EQ(m[3].str(), "1048576") << out;
  EXPECT_EQ(echoed.load(), 1u << 20);
  // The device's socket goes with vireo.
  EXPECT_NE(::access(uds.c_str(), F_OK), 0);
  run_process({"/bin/rm", "-rf", scratch});
}

// Both transports: the vsock device behind virtio-mmio and behind virtio-pci; and Debian's
// kernel with its vsock modules over PCI.
INSTANTIATE_TEST_SUITE_P(Transports, LinuxVirtioVsockOn, ::testing::ValuesIn(device_test_guests()),
                         [](const auto& info) { return info.param.name(); });

TEST(LinuxVirtioVsock, BadFlagsAreOneLineAndStatus2) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto cid = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--vsock", "cid=2,uds=/tmp/x"});
  EXPECT_EQ(cid.exit_status, 2);
  EXPECT_EQ(cid.err, "vireo: --vsock: cid=2 must be a number from 3 to 4294967294\n");
  auto nodir = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--vsock",
                            "cid=3,uds=/tmp/vireo-no-such-dir/v.sock"});
  EXPECT_EQ(nodir.exit_status, 2);
  EXPECT_EQ(nodir.err,
            "vireo: --vsock: cannot listen on /tmp/vireo-no-such-dir/v.sock: No such file or directory\n");
  auto missing = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--vsock", "uds=/tmp/x"});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_EQ(missing.err, "vireo: --vsock: cid=N is required\n");
  // A socket another program listens on is not taken over.
  const std::string busy = fmt::format("/tmp/vireo-vsock-busy-{}.sock", ::getpid());
  ::unlink(busy.c_str());
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = addr_of(busy);
  ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(l.get(), 1), 0);
  auto in_use = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--vsock", "cid=3,uds=" + busy});
  EXPECT_EQ(in_use.exit_status, 2);
  EXPECT_EQ(in_use.err, "vireo: --vsock: " + busy + " is in use by another program\n");
  ::unlink(busy.c_str());
}

}  // namespace
}  // namespace vireo::test
