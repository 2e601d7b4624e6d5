// virtio over PCI in real VMs, and the promise of --transport: Linux finds the same
// devices on virtio-mmio and on virtio-pci. One VM with every kind of virtio device vireo
// has (entropy, two disks, a NIC on a tap, vsock, the console) is booted on each transport;
// the guest lists its virtio devices and their drivers, uses each one a little, and on PCI
// shows the functions on bus 0 and their MSI-X interrupts. Debian's stock cloud kernel,
// whose virtio drivers are modules, finds the same devices over PCI.
#include <unistd.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>
#include <set>

#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

// A network namespace with a tap in it, removed at the end (root needed).
class TapNamespace {
 public:
  TapNamespace() : name_(fmt::format("vireo-pci-{}", ::getpid())) {
    ok_ = sh("ip netns add " + name_) &&
          sh("ip netns exec " + name_ + " ip tuntap add dev vtap0 mode tap vnet_hdr");
  }
  ~TapNamespace() { sh("ip netns del " + name_); }
  bool ok() const { return ok_; }
  std::vector<std::string> exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", name_});
    return argv;
  }

 private:
  static bool sh(const std::string& cmd) { return run_process({"/bin/sh", "-c", cmd}).exit_status == 0; }
  std::string name_;
  bool ok_ = false;
};

// The guest's view: each virtio device's type and driver, one line each, sorted.
constexpr const char* kListDevices =
    "for d in /sys/bus/virtio/devices/*; do "
    "echo virtio-dev=$(cat $d/device):$(basename $(readlink $d/driver)); done | sort; "
    "echo pci-functions=$(ls /sys/bus/pci/devices | wc -l); "
    "echo msi-lines=$(grep -c PCI-MSI /proc/interrupts); ";

std::multiset<std::string> virtio_devices(const std::string& out) {
  std::multiset<std::string> got;
  std::regex re(R"(virtio-dev=(0x[0-9a-f]+:[a-z_]+))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
    got.insert((*it)[1].str());
  return got;
}

int number_after(const std::string& out, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(key + R"(=(\d+))"))) return -1;
  return std::stoi(m[1].str());
}

class LinuxVirtioTransport : public ::testing::TestWithParam<const char*> {};

TEST_P(LinuxVirtioTransport, SameDevicesEitherWay) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  const std::string transport = GetParam();
  TapNamespace ns;
  ASSERT_TRUE(ns.ok()) << "could not make a network namespace with a tap (root needed)";
  char name[] = "/tmp/vireo-pci-XXXXXX";
  ASSERT_NE(::mkdtemp(name), nullptr);
  const std::string scratch = name, disk = scratch + "/a.img", ro = scratch + "/b.img";
  ASSERT_EQ(run_process({"/usr/bin/truncate", "-s", "8M", disk}).exit_status, 0);
  ASSERT_EQ(run_process({"/bin/sh", "-c", "printf read-only-disk > " + ro + " && truncate -s 1M " + ro})
                .exit_status,
            0);

  const std::string cmd =
      std::string(kListDevices) +
      "echo serial=$(cat /sys/block/vda/serial) ro=$(cat /sys/block/vdb/ro); "
      "echo disk-b=$(head -c 14 /dev/vdb); "
      "echo written-$((40+2)) | dd of=/dev/vda conv=fsync 2>/dev/null; "
      "echo mac=$(cat /sys/class/net/eth0/address); "
      "echo rng-bytes=$(dd if=/dev/hwrng bs=4096 count=1 2>/dev/null | wc -c); "
      "echo vsock-cid=$(cat /sys/bus/virtio/drivers/vmw_vsock_virtio_transport/*/device >/dev/null && echo ok)";
  auto r = run_process(
      ns.exec({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd",
               dir + "/initramfs.cpio", "--memory", "256M", "--cpus", "2", "--transport",
               transport, "--console", "virtio", "--rng", "--disk",
               "path=" + disk + ",serial=first-disk", "--disk", "path=" + ro + ",readonly=on",
               "--net", "tap=vtap0,mac=52:54:00:ab:cd:ef", "--vsock",
               fmt::format("cid=7,uds={}/v.sock", scratch), "--cmdline",
               "console=hvc0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""}),
      "", std::chrono::seconds(600));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  const std::multiset<std::string> want = {
      "0x0001:virtio_net",     "0x0002:virtio_blk",     "0x0002:virtio_blk",
      "0x0003:virtio_console", "0x0004:virtio_rng",     "0x0013:vmw_vsock_virtio_transport"};
  EXPECT_EQ(virtio_devices(out), want) << out;
  EXPECT_NE(out.find("serial=first-disk ro=1"), std::string::npos) << out;
  EXPECT_NE(out.find("disk-b=read-only-disk"), std::string::npos) << out;
  EXPECT_NE(out.find("mac=52:54:00:ab:cd:ef"), std::string::npos) << out;
  EXPECT_NE(out.find("rng-bytes=4096"), std::string::npos) << out;
  EXPECT_NE(out.find("vsock-cid=ok"), std::string::npos) << out;
  std::ifstream img(disk);
  std::string first;
  std::getline(img, first);
  EXPECT_EQ(first, "written-42");
  if (transport == "pci") {
    // The host bridge and six functions; every device interrupts through MSI-X (a
    // vector per queue with a callback plus one for configuration changes).
    EXPECT_EQ(number_after(out, "pci-functions"), 7) << out;
    EXPECT_GE(number_after(out, "msi-lines"), 12) << out;
  } else {
    EXPECT_EQ(number_after(out, "pci-functions"), 0) << out;
    EXPECT_EQ(number_after(out, "msi-lines"), 0) << out;
  }
  run_process({"/bin/rm", "-rf", scratch});
}

INSTANTIATE_TEST_SUITE_P(Transports, LinuxVirtioTransport, ::testing::Values("mmio", "pci"),
                         [](const auto& info) { return std::string(info.param); });

// Configuration mechanism #1 only: with acpi=off there is no MCFG and no DSDT, and Linux
// probes bus 0 through ports 0xcf8/0xcfc; MSI-X works the same. (Without ACPI there is no
// soft-off: the guest ends by rebooting through the i8042, status 6.)
TEST(LinuxVirtioPci, FoundThroughConfigPortsWithoutAcpi) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  const std::string cmd = std::string(kListDevices) +
                          "echo rng-bytes=$(dd if=/dev/hwrng bs=4096 count=4 2>/dev/null | wc -c)";
  auto r = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd",
                        dir + "/initramfs.cpio", "--memory", "128M", "--transport", "pci",
                        "--rng", "--cmdline",
                        "console=ttyS0 reboot=k panic=1 acpi=off vireo.then=reboot vireo.cmd=\"" +
                            cmd + "\""},
                       "", std::chrono::seconds(600));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 6) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("PCI: Probing PCI hardware"), std::string::npos) << out;
  EXPECT_EQ(virtio_devices(out), std::multiset<std::string>{"0x0004:virtio_rng"}) << out;
  EXPECT_EQ(number_after(out, "pci-functions"), 2) << out;
  EXPECT_EQ(number_after(out, "msi-lines"), 2) << out;
  EXPECT_NE(out.find("rng-bytes=16384"), std::string::npos) << out;
}

// Debian's cloud kernel loads virtio_pci and the device drivers as modules from its
// initramfs and finds every device on bus 0 through the MCFG table.
TEST(DebianKernelVirtioPci, FindsEveryDeviceOverPci) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  char name[] = "/tmp/vireo-pci-XXXXXX";
  ASSERT_NE(::mkdtemp(name), nullptr);
  const std::string scratch = name, disk = scratch + "/a.img";
  ASSERT_EQ(run_process({"/usr/bin/truncate", "-s", "8M", disk}).exit_status, 0);
  const std::string cmd = std::string(kListDevices) +
                          "echo serial=$(cat /sys/block/vda/serial); "
                          "echo rng-bytes=$(dd if=/dev/hwrng bs=4096 count=1 2>/dev/null | wc -c)";
  auto r = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinuz", "--initrd",
                        dir + "/initramfs.cpio", "--memory", "256M", "--cpus", "2",
                        "--transport", "pci", "--rng", "--disk",
                        "path=" + disk + ",serial=debian-disk", "--vsock",
                        fmt::format("cid=9,uds={}/v.sock", scratch), "--cmdline",
                        "console=ttyS0 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""},
                       "", std::chrono::seconds(600));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("MMCONFIG at [mem 0xe0000000-0xe00fffff] reserved"), std::string::npos) << out;
  const std::multiset<std::string> want = {"0x0002:virtio_blk", "0x0004:virtio_rng",
                                           "0x0013:vmw_vsock_virtio_transport"};
  EXPECT_EQ(virtio_devices(out), want) << out;
  EXPECT_EQ(number_after(out, "pci-functions"), 4) << out;
  EXPECT_GE(number_after(out, "msi-lines"), 6) << out;
  EXPECT_NE(out.find("serial=debian-disk"), std::string::npos) << out;
  EXPECT_NE(out.find("rng-bytes=4096"), std::string::npos) << out;
  run_process({"/bin/rm", "-rf", scratch});
}

}  // namespace
}  // namespace vireo::test
