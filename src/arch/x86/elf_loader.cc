#include "arch/x86/elf_loader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

namespace {

// Our own copies of the ELF64 structures we read (all little endian on x86-64).
struct Elf64Ehdr {
  std::array<uint8_t, 16> ident;
  uint16_t type;
  uint16_t machine;
  uint32_t version;
  uint64_t entry;
  uint64_t phoff;
  uint64_t shoff;
  uint32_t flags;
  uint16_t ehsize;
  uint16_t phentsize;
  uint16_t phnum;
  uint16_t shentsize;
  uint16_t shnum;
  uint16_t shstrndx;
};
static_assert(sizeof(Elf64Ehdr) == 64);

struct Elf64Phdr {
  uint32_t type;
  uint32_t flags;
  uint64_t offset;
  uint64_t vaddr;
  uint64_t paddr;
  uint64_t filesz;
  uint64_t memsz;
  uint64_t align;
};
static_assert(sizeof(Elf64Phdr) == 56);

struct Elf64Shdr {
  uint32_t name;
  uint32_t type;
  uint64_t flags;
  uint64_t addr;
  uint64_t offset;
  uint64_t size;
  uint32_t link;
  uint32_t info;
  uint64_t addralign;
  uint64_t entsize;
};
static_assert(sizeof(Elf64Shdr) == 64);

constexpr uint8_t kElfClass64 = 2;
constexpr uint8_t kElfData2Lsb = 1;
constexpr uint16_t kEtExec = 2;
constexpr uint16_t kEmX86_64 = 62;
constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kPtNote = 4;
constexpr uint32_t kShtNote = 7;

Error malformed(std::string_view why) { return Error(fmt::format("not a kernel: {}", why)); }

// True if [offset, offset+len) lies inside a buffer of `size` bytes (overflow-safe).
bool in_bounds(uint64_t offset, uint64_t len, uint64_t size) {
  return offset <= size && len <= size - offset;
}

template <class T>
T read_struct(std::span<const uint8_t> bytes, uint64_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

uint32_t read_u32(std::span<const uint8_t> bytes, uint64_t offset) {
  return read_struct<uint32_t>(bytes, offset);
}

uint64_t align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

// Walks the notes in `area` (already bounds-checked) looking for the PVH entry note.
Result<std::optional<uint64_t>> find_pvh_note(std::span<const uint8_t> area,
                                             std::string_view where) {
  uint64_t pos = 0;
  while (area.size() - pos >= 12) {
    const uint32_t namesz = read_u32(area, pos);
    const uint32_t descsz = read_u32(area, pos + 4);
    const uint32_t type = read_u32(area, pos + 8);
    const uint64_t name_off = pos + 12;
    const uint64_t desc_off = name_off + align4(namesz);
    if (!in_bounds(name_off, namesz, area.size()) || !in_bounds(desc_off, descsz, area.size()))
      return malformed(fmt::format("ELF note at offset {:#x} of {} runs past its end", pos,
                                   where));
    std::string_view name(reinterpret_cast<const char*>(area.data() + name_off), namesz);
    const bool is_xen = name == std::string_view("Xen\0", 4) || name == "Xen";
    if (is_xen && type == kXenElfNotePhys32Entry) {
      uint64_t entry = 0;
      if (descsz == 4)
        entry = read_u32(area, desc_off);
      else if (descsz == 8)
        entry = read_struct<uint64_t>(area, desc_off);
      else
        return malformed(fmt::format("PVH entry note in {} has a {}-byte value (expected 4 or 8)",
                                     where, descsz));
      if (entry > 0xffffffffull)
        return malformed(fmt::format("PVH entry {:#x} is above 4 GiB", entry));
      return std::optional<uint64_t>(entry);
    }
    const uint64_t next = desc_off + align4(descsz);
    if (next >= area.size()) break;
    pos = next;
  }
  return std::optional<uint64_t>();
}

Result<Elf64Ehdr> check_header(std::span<const uint8_t> image) {
  if (image.size() < sizeof(Elf64Ehdr))
    return malformed(fmt::format("ELF header truncated ({} bytes)", image.size()));
  auto eh = read_struct<Elf64Ehdr>(image, 0);
  if (!is_elf(image)) return malformed("no ELF magic");
  if (eh.ident[4] != kElfClass64)
    return malformed(fmt::format("ELF class {} is not ELFCLASS64", eh.ident[4]));
  if (eh.ident[5] != kElfData2Lsb) return malformed("ELF image is not little endian");
  if (eh.machine != kEmX86_64)
    return malformed(fmt::format("ELF machine {} is not x86-64 (62)", eh.machine));
  if (eh.type != kEtExec)
    return malformed(fmt::format("ELF type {} is not an executable (ET_EXEC)", eh.type));
  if (eh.phnum == 0) return malformed("ELF image has no program headers");
  if (eh.phentsize < sizeof(Elf64Phdr))
    return malformed(fmt::format("ELF program header size {} is too small", eh.phentsize));
  if (!in_bounds(eh.phoff, uint64_t{eh.phnum} * eh.phentsize, image.size()))
    return malformed("ELF program header table runs past the end of the file");
  return eh;
}

}  // namespace

bool is_elf(std::span<const uint8_t> image) {
  return image.size() >= 4 && image[0] == 0x7f && image[1] == 'E' && image[2] == 'L' &&
         image[3] == 'F';
}

Result<ElfKernel> load_elf(const memory::GuestMemory& mem, std::span<const uint8_t> image) {
  VIREO_ASSIGN_OR_RETURN(const Elf64Ehdr eh, check_header(image));

  // Pass 1: validate every segment before touching guest memory.
  std::vector<Elf64Phdr> loads;
  ElfKernel out;
  for (uint16_t i = 0; i < eh.phnum; ++i) {
    auto ph = read_struct<Elf64Phdr>(image, eh.phoff + uint64_t{i} * eh.phentsize);
    if (ph.type == kPtNote) {
      if (out.pvh_entry) continue;
      if (!in_bounds(ph.offset, ph.filesz, image.size()))
        return malformed(fmt::format("PT_NOTE segment {} runs past the end of the file", i));
      VIREO_ASSIGN_OR_RETURN(out.pvh_entry,
                             find_pvh_note(image.subspan(ph.offset, ph.filesz),
                                           fmt::format("PT_NOTE segment {}", i)));
      continue;
    }
    if (ph.type != kPtLoad) continue;
    if (!in_bounds(ph.offset, ph.filesz, image.size()))
      return malformed(fmt::format(
          "segment {} (offset {:#x}, {:#x} bytes) runs past the end of the file ({} bytes)", i,
          ph.offset, ph.filesz, image.size()));
    if (ph.filesz > ph.memsz)
      return malformed(fmt::format("segment {} has filesz {:#x} > memsz {:#x}", i, ph.filesz,
                                   ph.memsz));
    if (ph.memsz == 0) continue;
    if (ph.paddr < layout::kHighMemStart)
      return malformed(fmt::format("segment {} at {:#x} is below 1 MiB", i, ph.paddr));
    if (!mem.contains(ph.paddr, ph.memsz))
      return Error(fmt::format(
          "kernel segment {} ({:#x}..{:#x}) is outside guest RAM (is guest memory too small?)",
          i, ph.paddr, ph.paddr + ph.memsz));
    loads.push_back(ph);
  }
  if (loads.empty()) return malformed("ELF image has no loadable segments");

  // The PVH note may live only in a section (no PT_NOTE carries it).
  if (!out.pvh_entry && eh.shoff != 0 && eh.shnum != 0) {
    if (eh.shentsize < sizeof(Elf64Shdr))
      return malformed(fmt::format("ELF section header size {} is too small", eh.shentsize));
    if (!in_bounds(eh.shoff, uint64_t{eh.shnum} * eh.shentsize, image.size()))
      return malformed("ELF section header table runs past the end of the file");
    for (uint16_t i = 0; i < eh.shnum && !out.pvh_entry; ++i) {
      auto sh = read_struct<Elf64Shdr>(image, eh.shoff + uint64_t{i} * eh.shentsize);
      if (sh.type != kShtNote) continue;
      if (!in_bounds(sh.offset, sh.size, image.size()))
        return malformed(fmt::format("note section {} runs past the end of the file", i));
      VIREO_ASSIGN_OR_RETURN(out.pvh_entry, find_pvh_note(image.subspan(sh.offset, sh.size),
                                                          fmt::format("note section {}", i)));
    }
  }

  out.entry = eh.entry;
  out.image_start = UINT64_MAX;
  for (const auto& ph : loads) {
    out.image_start = std::min(out.image_start, ph.paddr);
    out.image_end = std::max(out.image_end, ph.paddr + ph.memsz);
  }
  if (out.pvh_entry) {
    const uint64_t e = *out.pvh_entry;
    const bool inside = std::any_of(loads.begin(), loads.end(), [e](const Elf64Phdr& ph) {
      return e >= ph.paddr && e - ph.paddr < ph.memsz;
    });
    if (!inside)
      return malformed(fmt::format("PVH entry {:#x} is not inside a loaded segment", e));
  }

  // Pass 2: copy.
  for (const auto& ph : loads) {
    VIREO_ASSIGN_OR_RETURN(auto dst, mem.writable_slice(ph.paddr, ph.memsz));
    std::memcpy(dst.bytes().data(), image.data() + ph.offset, ph.filesz);
    std::memset(dst.bytes().data() + ph.filesz, 0, ph.memsz - ph.filesz);
  }
  return out;
}

}  // namespace vireo::arch::x86
