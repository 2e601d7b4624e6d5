#include "arch/x86/boot_params.h"

#include <algorithm>

#include <fmt/format.h>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

namespace {

constexpr uint64_t kPageSize = 4096;

uint32_t lo32(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hi32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

SetupHeader minimal_vmlinux_header() {
  SetupHeader h{};
  h.boot_flag = kBootFlagMagic;
  h.header = kHdrSMagic;
  h.version = kVmlinuxHeaderVersion;
  h.kernel_alignment = kVmlinuxKernelAlignment;
  h.cmdline_size = static_cast<uint32_t>(layout::kCmdlineMax - 1);
  return h;
}

}  // namespace

Result<BootParams> build_linux_boot_params(const LoadedKernel& kernel, const BootInfo& info) {
  BootParams bp{};
  bp.hdr = kernel.setup_header ? *kernel.setup_header : minimal_vmlinux_header();
  SetupHeader& h = bp.hdr;
  h.type_of_loader = kTypeOfLoaderUndefined;
  h.loadflags |= kLoadedHigh | kCanUseHeap;
  h.heap_end_ptr = kHeapEndPtr;

  if (info.cmdline_gpa != 0) {
    if (info.cmdline_size == 0) return Error("command line size must include the NUL");
    if (info.cmdline_size - 1 > h.cmdline_size)
      return Error(fmt::format(
          "command line of {} bytes is longer than the kernel accepts ({} bytes)",
          info.cmdline_size - 1, uint32_t{h.cmdline_size}));
    h.cmd_line_ptr = lo32(info.cmdline_gpa);
    bp.ext_cmd_line_ptr = hi32(info.cmdline_gpa);
  }

  if (info.initrd_size != 0) {
    const uint64_t last = info.initrd_gpa + info.initrd_size - 1;
    if (last < info.initrd_gpa) return Error("initrd range wraps around");
    if (kernel.setup_header && !(h.xloadflags & kXlfCanBeLoadedAbove4G)) {
      const uint64_t max = h.initrd_addr_max ? h.initrd_addr_max : kDefaultInitrdAddrMax;
      if (last > max)
        return Error(fmt::format("initrd at {:#x}..{:#x} is above the kernel's initrd_addr_max "
                                 "{:#x}",
                                 info.initrd_gpa, last + 1, max));
    }
    h.ramdisk_image = lo32(info.initrd_gpa);
    bp.ext_ramdisk_image = hi32(info.initrd_gpa);
    h.ramdisk_size = lo32(info.initrd_size);
    bp.ext_ramdisk_size = hi32(info.initrd_size);
  }

  bp.acpi_rsdp_addr = info.rsdp_gpa;

  if (info.e820.size() > kZeroPageE820Max)
    return Error(fmt::format("e820 map has {} entries; the zero page holds {}", info.e820.size(),
                             kZeroPageE820Max));
  for (size_t i = 0; i < info.e820.size(); ++i) {
    const E820Entry& e = info.e820[i];
    bp.e820_table[i] = BootE820Entry{e.addr, e.size, static_cast<uint32_t>(e.type)};
  }
  bp.e820_entries = static_cast<uint8_t>(info.e820.size());
  return bp;
}

Result<void> write_linux_boot_params(const memory::GuestMemory& mem, const LoadedKernel& kernel,
                                     const BootInfo& info) {
  VIREO_ASSIGN_OR_RETURN(const BootParams bp, build_linux_boot_params(kernel, info));
  auto r = mem.write_obj(layout::kZeroPage, bp);
  if (!r.ok()) return r.error().context("writing the zero page");
  return {};
}

Result<uint64_t> place_initrd(const memory::GuestMemory& mem, uint64_t size,
                              uint64_t initrd_addr_max, uint64_t kernel_end) {
  if (size == 0) return Error("initrd is empty");
  const uint64_t addr_max = initrd_addr_max ? initrd_addr_max : kDefaultInitrdAddrMax;
  // Exclusive upper limit: below the MMIO hole and the kernel's own limit.
  const uint64_t limit = addr_max >= layout::kMmioHoleStart ? layout::kMmioHoleStart : addr_max + 1;
  const uint64_t floor = std::max(kernel_end, layout::kHighMemStart);
  // Try the highest RAM region first: RAM is [0, 3 GiB) in practice, but do not assume it.
  std::vector<memory::Region> regions(mem.regions().begin(), mem.regions().end());
  std::sort(regions.begin(), regions.end(),
            [](const memory::Region& a, const memory::Region& b) { return a.gpa > b.gpa; });
  for (const auto& r : regions) {
    const uint64_t top = std::min(r.end(), limit);
    const uint64_t bottom = std::max(r.gpa, floor);
    if (top <= bottom || top - bottom < size) continue;
    const uint64_t addr = (top - size) & ~(kPageSize - 1);
    if (addr < bottom) continue;
    return addr;
  }
  return Error(fmt::format("initrd of {} bytes does not fit in guest memory", size));
}

}  // namespace vireo::arch::x86
