#include "arch/x86/reset_vector.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/memory_map.h"

namespace vireo::arch::x86 {
namespace {

TEST(ResetVector, WrittenAtTheBiosResetEntry) {
  auto mem = memory::GuestMemory::create(ram_ranges(16ull << 20));
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(write_reset_vector(*mem).ok());
  std::array<uint8_t, kResetVectorCode.size()> back{};
  ASSERT_TRUE(mem->read(layout::kBiosResetEntry, back).ok());
  EXPECT_EQ(back, kResetVectorCode);
  // F000:FFF0, the address Linux's machine_real_restart() jumps to.
  EXPECT_EQ(layout::kBiosResetEntry, (0xf000u << 4) + 0xfff0u);
}

TEST(ResetVector, LiesInReservedMemoryApartFromTheAcpiTables) {
  EXPECT_LE(layout::kAcpiStart + layout::kAcpiSize, layout::kBiosResetEntry);
  bool reserved = false;
  for (const auto& e : build_e820(512ull << 20))
    if (e.type == E820Type::kReserved && e.addr <= layout::kBiosResetEntry &&
        layout::kBiosResetEntry + kResetVectorCode.size() <= e.addr + e.size)
      reserved = true;
  EXPECT_TRUE(reserved) << "the guest OS could reuse the reset-vector code as RAM";
  // The largest ACPI blob vireo builds still ends before it.
  auto acpi = build_acpi_tables({kAcpiMaxCpus}, layout::kAcpiStart);
  ASSERT_TRUE(acpi.ok()) << acpi.error().message();
  EXPECT_LE(layout::kAcpiStart + acpi->blob.size(), layout::kBiosResetEntry);
}

// The bytes are the real-mode code the header says: checked with binutils' disassembler.
TEST(ResetVector, DisassemblesToAnI8042ResetAndAHaltLoop) {
  char path[] = "/tmp/vireo-reset-vector-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, kResetVectorCode.data(), kResetVectorCode.size()),
            static_cast<ssize_t>(kResetVectorCode.size()));
  ::close(fd);
  std::string cmd = std::string("objdump -D -b binary -m i8086 ") + path;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 256> buf;
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ASSERT_EQ(::pclose(p), 0) << out;
  ::unlink(path);
  for (const char* want : {"mov    $0xfe,%al", "out    %al,$0x64", "cli", "hlt", "jmp    0x5"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " not in:\n" << out;
}

}  // namespace
}  // namespace vireo::arch::x86
