// virtio-net in a real VM: the test makes a network namespace with a tap in it, runs
// vireo there, and our minimal Linux (either transport) or Debian's cloud kernel (PCI)
// talks TCP to a server on the host side of the tap: 1 MiB each way, checked by MD5 on
// both ends (large enough for TSO and checksum offload to be used both ways), with the
// MAC given on the command line.
#include <unistd.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>

#include "support/linux_fixture.h"
#include "support/net_namespace.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

// Accepts one connection on 10.0.2.1:5000, sends FILE while it reads N bytes, prints
// their MD5, closes.
constexpr const char* kServer = R"(
import hashlib, socket, sys, threading
data = open(sys.argv[1], 'rb').read()
want = int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.0.2.1', 5000))
s.listen(1)
print('listening', flush=True)
s.settimeout(600)
c, _ = s.accept()
t = threading.Thread(target=c.sendall, args=(data,))
t.start()
got = bytearray()
while len(got) < want:
    b = c.recv(65536)
    if not b:
        break
    got += b
t.join()
print('host-got-md5=' + hashlib.md5(got).hexdigest() + ' bytes=' + str(len(got)), flush=True)
c.close()
)";

std::string md5_of(const std::string& path) {
  auto r = run_process({"/usr/bin/md5sum", path});
  return r.out.substr(0, 32);
}

class LinuxVirtioNetOn : public ::testing::TestWithParam<LinuxGuest> {};

TEST_P(LinuxVirtioNetOn, TcpBothWaysThroughATap) {
  VIREO_REQUIRE_KVM();
  const LinuxGuest guest = GetParam();
  const std::string dir = guest.dir();
  VIREO_REQUIRE_GUEST(guest, dir);
  NetNamespace ns("vtap0", "10.0.2.1/24");
  ASSERT_TRUE(ns.ok()) << "could not make a network namespace with a tap (root needed)";
  char name[] = "/tmp/vireo-net-XXXXXX";
  ASSERT_NE(::mkdtemp(name), nullptr);
  const std::string scratch = name, host_data = scratch + "/host.bin";
  ASSERT_EQ(run_process({"/bin/dd", "if=/dev/urandom", "of=" + host_data, "bs=1024", "count=1024"})
                .exit_status,
            0);
  const std::string host_md5 = md5_of(host_data);

  Process server(ns.exec({"/usr/bin/python3", "-c", kServer, host_data, "1048576"}));
  ASSERT_TRUE(server.wait_for_output("listening", std::chrono::seconds(30)));

  const std::string cmd =
      "echo mac=$(cat /sys/class/net/eth0/address); ip link set eth0 up; "
      "ip addr add 10.0.2.2/24 dev eth0; "
      "dd if=/dev/urandom of=/tmp/out bs=1024 count=1024 2>/dev/null; "
      "echo guest-sent-md5=$(md5sum /tmp/out | cut -d' ' -f1); "
      "nc 10.0.2.1 5000 < /tmp/out > /tmp/in; "
      "echo guest-got-md5=$(md5sum /tmp/in | cut -d' ' -f1) bytes=$(wc -c < /tmp/in); "
      "cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets";
  auto r = run_process(ns.exec({vireo_bin(), "run", "--kernel", guest.image(dir), "--initrd",
                                guest.initrd(dir), "--memory", guest.memory(), "--transport",
                                guest.transport, "--net",
                                "tap=vtap0,mac=52:54:00:12:34:56", "--cmdline",
                                "console=ttyS0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" +
                                    cmd + "\""}),
                       "", std::chrono::seconds(600));
  auto s = server.wait(std::chrono::seconds(30));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("mac=52:54:00:12:34:56"), std::string::npos) << out;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  // Host to guest.
  EXPECT_NE(out.find("guest-got-md5=" + host_md5 + " bytes=1048576"), std::string::npos)
      << "host data " << host_md5 << "\n" << out;
  // Guest to host.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("guest-sent-md5=([0-9a-f]{32})"))) << out;
  EXPECT_NE(s.out.find("host-got-md5=" + m[1].str() + " bytes=1048576"), std::string::npos)
      << s.out << s.err;
  run_process({"/bin/rm", "-rf", scratch});
}

// Both transports: on PCI the queues' interrupts are MSI-X vectors and their kicks
// ioeventfds on BAR 0; and Debian's kernel with its virtio_net module over PCI.
INSTANTIATE_TEST_SUITE_P(Transports, LinuxVirtioNetOn, ::testing::ValuesIn(device_test_guests()),
                         [](const auto& info) { return info.param.name(); });

TEST(LinuxVirtioNet, BadOrMissingTapIsOneLineAndStatus2) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto bad = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--net", "tap=x,mac=01:00:00:00:00:01"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_EQ(bad.err, "vireo: --net: mac: MAC 01:00:00:00:00:01 is a multicast address\n");
  auto dup = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--net", "tap=a",
                          "--net", "tap=a"});
  EXPECT_EQ(dup.exit_status, 2);
  EXPECT_EQ(dup.err, "vireo: --net: tap=a is used twice\n");
}

}  // namespace
}  // namespace vireo::test
