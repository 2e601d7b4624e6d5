#include "arch/x86/pvh.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "arch/x86/layout.h"
#include "arch/x86/memory_map.h"

namespace vireo::arch::x86 {
namespace {

using memory::GuestMemory;

constexpr uint64_t kMiB = 1 << 20;

GuestMemory make_mem() {
  auto m = GuestMemory::create({{0, 16 * kMiB}});
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

template <class T>
T at(const GuestMemory& mem, uint64_t gpa) {
  auto v = mem.read_obj<T>(gpa);
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : T{};
}

TEST(Pvh, StartInfoLayout) {
  auto mem = make_mem();
  BootInfo info;
  info.cmdline_gpa = layout::kCmdline;
  info.cmdline_size = 12;
  info.initrd_gpa = 0xf00000;
  info.initrd_size = 0x8765;
  info.rsdp_gpa = 0xe0000;
  info.e820 = build_e820(16 * kMiB);
  ASSERT_TRUE(write_pvh_start_info(mem, info).ok());

  const uint64_t si = layout::kPvhStartInfo;
  EXPECT_EQ(si, 0x6000u);
  EXPECT_EQ(at<uint32_t>(mem, si + 0x00), 0x336ec578u);  // magic
  EXPECT_EQ(at<uint32_t>(mem, si + 0x04), 1u);           // version
  EXPECT_EQ(at<uint32_t>(mem, si + 0x08), 0u);           // flags
  EXPECT_EQ(at<uint32_t>(mem, si + 0x0c), 1u);           // nr_modules
  EXPECT_EQ(at<uint64_t>(mem, si + 0x10), 0x6640u);      // modlist_paddr
  EXPECT_EQ(at<uint64_t>(mem, si + 0x18), 0x20000u);     // cmdline_paddr
  EXPECT_EQ(at<uint64_t>(mem, si + 0x20), 0xe0000u);     // rsdp_paddr
  EXPECT_EQ(at<uint64_t>(mem, si + 0x28), 0x6040u);      // memmap_paddr
  EXPECT_EQ(at<uint32_t>(mem, si + 0x30), info.e820.size());  // memmap_entries
  EXPECT_EQ(at<uint32_t>(mem, si + 0x34), 0u);           // reserved

  for (size_t i = 0; i < info.e820.size(); ++i) {
    SCOPED_TRACE(i);
    const uint64_t e = 0x6040 + 24 * i;
    EXPECT_EQ(at<uint64_t>(mem, e), info.e820[i].addr);
    EXPECT_EQ(at<uint64_t>(mem, e + 8), info.e820[i].size);
    EXPECT_EQ(at<uint32_t>(mem, e + 16), static_cast<uint32_t>(info.e820[i].type));
    EXPECT_EQ(at<uint32_t>(mem, e + 20), 0u);
  }

  EXPECT_EQ(at<uint64_t>(mem, 0x6640), 0xf00000u);  // module paddr
  EXPECT_EQ(at<uint64_t>(mem, 0x6648), 0x8765u);    // size
  EXPECT_EQ(at<uint64_t>(mem, 0x6650), 0u);         // cmdline_paddr
  EXPECT_EQ(at<uint64_t>(mem, 0x6658), 0u);         // reserved
}

TEST(Pvh, NoInitrdMeansNoModules) {
  auto mem = make_mem();
  BootInfo info;
  info.e820 = build_e820(16 * kMiB);
  ASSERT_TRUE(write_pvh_start_info(mem, info).ok());
  EXPECT_EQ(at<uint32_t>(mem, 0x600c), 0u);
  EXPECT_EQ(at<uint64_t>(mem, 0x6010), 0u);
  EXPECT_EQ(at<uint64_t>(mem, 0x6018), 0u);  // no command line given
}

TEST(Pvh, MemmapMustFit) {
  auto mem = make_mem();
  BootInfo info;
  info.e820.assign(layout::kPvhMemmapMaxEntries, E820Entry{0x100000, 0x1000, E820Type::kRam});
  EXPECT_TRUE(write_pvh_start_info(mem, info).ok());
  EXPECT_EQ(at<uint32_t>(mem, 0x6030), layout::kPvhMemmapMaxEntries);
  info.e820.push_back(E820Entry{0x200000, 0x1000, E820Type::kRam});
  auto r = write_pvh_start_info(mem, info);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("65 entries"), std::string::npos) << r.error().message();
}

TEST(Cmdline, WrittenNulTerminated) {
  auto mem = make_mem();
  std::vector<uint8_t> junk(64, 0xee);
  ASSERT_TRUE(mem.write(layout::kCmdline, junk).ok());
  ASSERT_TRUE(write_cmdline(mem, "console=ttyS0 quiet", layout::kCmdlineMax).ok());
  std::vector<uint8_t> got(20);
  ASSERT_TRUE(mem.read(0x20000, got).ok());
  EXPECT_EQ(std::string(got.begin(), got.end() - 1), "console=ttyS0 quiet");
  EXPECT_EQ(got.back(), 0);

  ASSERT_TRUE(write_cmdline(mem, "", layout::kCmdlineMax).ok());
  EXPECT_EQ(at<uint8_t>(mem, 0x20000), 0);
}

TEST(Cmdline, TooLongIsAnError) {
  auto mem = make_mem();
  // The kernel's limit (cmdline_size 255 -> 256 bytes with the NUL).
  EXPECT_TRUE(write_cmdline(mem, std::string(255, 'a'), 256).ok());
  auto r = write_cmdline(mem, std::string(256, 'a'), 256);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "kernel command line is too long: 256 bytes, at most 255 fit");
  // Our area: 64 KiB including the NUL, whatever the caller allows.
  EXPECT_TRUE(write_cmdline(mem, std::string(layout::kCmdlineMax - 1, 'b'), 1 << 20).ok());
  EXPECT_EQ(at<uint8_t>(mem, layout::kCmdline + layout::kCmdlineMax - 1), 0);
  EXPECT_FALSE(write_cmdline(mem, std::string(layout::kCmdlineMax, 'b'), 1 << 20).ok());
  EXPECT_FALSE(write_cmdline(mem, "x", 0).ok());
}

TEST(Cmdline, EmbeddedNulIsRejected) {
  auto mem = make_mem();
  EXPECT_FALSE(write_cmdline(mem, std::string_view("a\0b", 3), layout::kCmdlineMax).ok());
}

}  // namespace
}  // namespace vireo::arch::x86
