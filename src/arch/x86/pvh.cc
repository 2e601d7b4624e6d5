#include "arch/x86/pvh.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace vireo::arch::x86 {

Result<void> write_pvh_start_info(const memory::GuestMemory& mem, const BootInfo& info) {
  if (info.e820.size() > layout::kPvhMemmapMaxEntries)
    return Error(fmt::format("memory map has {} entries; the PVH memmap area holds {}",
                             info.e820.size(), layout::kPvhMemmapMaxEntries));
  std::vector<HvmMemmapEntry> memmap;
  memmap.reserve(info.e820.size());
  for (const auto& e : info.e820)
    memmap.push_back(HvmMemmapEntry{e.addr, e.size, static_cast<uint32_t>(e.type), 0});

  HvmStartInfo si{};
  si.magic = kHvmStartMagic;
  si.version = kHvmStartInfoVersion;
  si.cmdline_paddr = info.cmdline_gpa;
  si.rsdp_paddr = info.rsdp_gpa;
  si.memmap_paddr = layout::kPvhMemmap;
  si.memmap_entries = static_cast<uint32_t>(memmap.size());
  if (info.initrd_size != 0) {
    si.nr_modules = 1;
    si.modlist_paddr = kPvhModlist;
    const HvmModlistEntry mod{info.initrd_gpa, info.initrd_size, 0, 0};
    VIREO_TRY(mem.write_obj(kPvhModlist, mod));
  }
  VIREO_TRY(mem.write(layout::kPvhMemmap,
                      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(memmap.data()),
                                               memmap.size() * sizeof(HvmMemmapEntry))));
  VIREO_TRY(mem.write_obj(layout::kPvhStartInfo, si));
  return {};
}

Result<void> write_cmdline(const memory::GuestMemory& mem, std::string_view cmdline,
                           uint64_t max) {
  const uint64_t capacity = std::min(max, layout::kCmdlineMax);
  if (cmdline.find('\0') != std::string_view::npos)
    return Error("kernel command line contains a NUL byte");
  if (cmdline.size() + 1 > capacity)
    return Error(fmt::format("kernel command line is too long: {} bytes, at most {} fit",
                             cmdline.size(), capacity == 0 ? 0 : capacity - 1));
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  auto r = mem.write(layout::kCmdline, bytes);
  if (!r.ok()) return r.error().context("writing the kernel command line");
  return {};
}

}  // namespace vireo::arch::x86
