// virtio-blk in a real VM: our minimal Linux (either transport) and Debian's cloud kernel
// (PCI) find two disks (found by their serials),
// mounts an ext4 image, writes and syncs files, trims the space of a deleted one, and
// cannot write the read-only disk. vireo is then killed with SIGKILL, and the test finds
// the synced files in the image on the host and the discarded space given back.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "support/linux_fixture.h"
#include "support/scratch_dir.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class LinuxVirtioBlkOn : public ::testing::TestWithParam<LinuxGuest> {};

TEST_P(LinuxVirtioBlkOn, Ext4WritesSurviveKillAndDiscardGivesSpaceBack) {
  VIREO_REQUIRE_KVM();
  const LinuxGuest guest = GetParam();
  const std::string dir = guest.dir();
  VIREO_REQUIRE_GUEST(guest, dir);
  ScratchDir scratch;
  ASSERT_FALSE(scratch.path().empty());
  const std::string disk = scratch.path() + "/root.ext4", ro = scratch.path() + "/ro.img";
  {
    std::ofstream(disk).close();
    ASSERT_EQ(::truncate(disk.c_str(), 64 << 20), 0);
    auto mkfs = run_process({"/sbin/mkfs.ext4", "-q", "-F", "-E", "nodiscard", disk});
    ASSERT_EQ(mkfs.exit_status, 0) << mkfs.err;
    std::string ro_data = "VIREO-RO-DISK";
    ro_data.resize(1 << 20, '\x5a');
    std::ofstream(ro, std::ios::binary) << ro_data;
  }
  const std::string ro_before = file_bytes(ro);
  const uint64_t empty_fs = allocated_bytes(disk);

  // (The ready marker is computed by the shell, so the kernel's echo of its command line
  // does not match it.)
  // The guest writes 4 MiB it keeps and 8 MiB it deletes and trims, syncs, reports the
  // kept file's checksum and waits to be killed.
  const std::string cmd =
      "for d in /sys/block/vd*; do s=$(cat $d/serial); echo disk=${d##*/}:$s:ro=$(cat $d/ro); "
      "[ $s = main ] && M=/dev/${d##*/}; [ $s = ro-serial-7 ] && R=/dev/${d##*/}; done; "
      "mkdir -p /mnt && mount -t ext4 $M /mnt && echo mounted; "
      "echo hello-from-the-guest > /mnt/hello.txt; "
      "dd if=/dev/urandom of=/mnt/keep bs=1M count=4 2>/dev/null; "
      "dd if=/dev/urandom of=/mnt/gone bs=1M count=8 2>/dev/null; sync; "
      "echo keep-md5=$(md5sum /mnt/keep | cut -d' ' -f1); "
      "rm /mnt/gone; sync; fstrim /mnt && echo trimmed; "
      "echo ro-head=$(head -c 13 $R); "
      "dd if=/dev/zero of=$R bs=512 count=1 2>/dev/null || echo ro-write-refused; "
      "sync; echo VIREO-TEST-$((40+2))-READY; sleep 1000";
  Process vm({vireo_bin(), "run", "--kernel", guest.image(dir), "--initrd", guest.initrd(dir),
              "--memory", guest.memory(), "--transport", guest.transport, "--disk", "path=" + disk + ",serial=main", "--disk",
              "path=" + ro + ",readonly=on,serial=ro-serial-7", "--cmdline",
              "console=ttyS0 reboot=k panic=1 vireo.cmd=\"" + cmd + "\""});
  ASSERT_TRUE(vm.started());
  const bool ready = vm.wait_for_output("VIREO-TEST-42-READY", std::chrono::seconds(600));
  // A second vireo cannot take the disk the first one has.
  auto second = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--disk",
                             "path=" + disk});
  vm.send_signal(SIGKILL);
  auto r = vm.wait(std::chrono::seconds(30));
  const std::string& out = r.out;
  ASSERT_TRUE(ready) << out << "\nvireo: " << r.err;
  EXPECT_EQ(r.exit_status, 128 + SIGKILL);
  EXPECT_EQ(second.exit_status, 2) << second.err;
  EXPECT_NE(second.err.find("is in use by another process"), std::string::npos) << second.err;
  EXPECT_EQ(std::count(second.err.begin(), second.err.end(), '\n'), 1) << second.err;

  EXPECT_NE(out.find(":main:ro=0"), std::string::npos) << out;
  EXPECT_NE(out.find(":ro-serial-7:ro=1"), std::string::npos) << out;
  EXPECT_NE(out.find("mounted"), std::string::npos) << out;
  EXPECT_NE(out.find("trimmed"), std::string::npos) << out;
  EXPECT_NE(out.find("ro-head=VIREO-RO-DISK"), std::string::npos) << out;
  EXPECT_NE(out.find("ro-write-refused"), std::string::npos) << out;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  EXPECT_EQ(file_bytes(ro), ro_before) << "the read-only image changed";

  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("keep-md5=([0-9a-f]{32})"))) << out;
  const std::string guest_md5 = m[1].str();

  // Discard: 12 MiB were written, 8 of them trimmed; without discard the image would hold
  // at least 12 MiB more than the empty file system.
  const uint64_t used = allocated_bytes(disk) - empty_fs;
  EXPECT_GE(used, 4u << 20) << "the kept file is in the image";
  EXPECT_LT(used, 8u << 20) << "the trimmed 8 MiB were given back (holes punched)";

  // What the guest synced is in the image after SIGKILL: replay the journal, then read
  // the files with debugfs.
  auto fsck = run_process({"/sbin/e2fsck", "-fy", disk});
  EXPECT_LE(fsck.exit_status, 1) << fsck.out << fsck.err;
  auto cat = run_process({"/sbin/debugfs", "-R", "cat /hello.txt", disk});
  EXPECT_NE(cat.out.find("hello-from-the-guest"), std::string::npos) << cat.out << cat.err;
  const std::string dumped = scratch.path() + "/keep";
  auto dump = run_process({"/sbin/debugfs", "-R", "dump /keep " + dumped, disk});
  auto md5 = run_process({"/usr/bin/md5sum", dumped});
  EXPECT_EQ(md5.out.substr(0, 32), guest_md5) << dump.err;
}

// Both transports: the same disk behind virtio-mmio and behind virtio-pci; and Debian's
// kernel with its virtio_blk module over PCI.
INSTANTIATE_TEST_SUITE_P(Transports, LinuxVirtioBlkOn, ::testing::ValuesIn(device_test_guests()),
                         [](const auto& info) { return info.param.name(); });

TEST(LinuxVirtioBlk, MissingImageOrBadSpecIsOneLineAndStatus2) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto r = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--disk",
                        "path=/nonexistent/disk.img,id=boot"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_EQ(r.err,
            "vireo: --disk boot: cannot open '/nonexistent/disk.img' for writing: No such file or "
            "directory\n");
  auto bad = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--disk", "file=x"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_NE(bad.err.find("unknown key 'file'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace vireo::test
