#include "arch/x86/elf_loader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace vireo::arch::x86 {
namespace {

using memory::GuestMemory;

constexpr uint64_t kMiB = 1 << 20;

template <class T>
void put(std::vector<uint8_t>& buf, size_t off, T v) {
  if (buf.size() < off + sizeof(T)) buf.resize(off + sizeof(T));
  std::memcpy(buf.data() + off, &v, sizeof(T));
}

template <class T>
T get(const std::vector<uint8_t>& buf, size_t off) {
  T v;
  std::memcpy(&v, buf.data() + off, sizeof(T));
  return v;
}

std::vector<uint8_t> note(const std::string& name, uint32_t type,
                          const std::vector<uint8_t>& desc, bool with_nul = true) {
  std::vector<uint8_t> n;
  const uint32_t namesz = static_cast<uint32_t>(name.size() + (with_nul ? 1 : 0));
  put<uint32_t>(n, 0, namesz);
  put<uint32_t>(n, 4, static_cast<uint32_t>(desc.size()));
  put<uint32_t>(n, 8, type);
  n.insert(n.end(), name.begin(), name.end());
  if (with_nul) n.push_back(0);
  while (n.size() % 4) n.push_back(0);
  n.insert(n.end(), desc.begin(), desc.end());
  while (n.size() % 4) n.push_back(0);
  return n;
}

std::vector<uint8_t> le32(uint32_t v) {
  std::vector<uint8_t> out(4);
  std::memcpy(out.data(), &v, 4);
  return out;
}
std::vector<uint8_t> le64(uint64_t v) {
  std::vector<uint8_t> out(8);
  std::memcpy(out.data(), &v, 8);
  return out;
}

std::vector<uint8_t> pvh_note(uint32_t entry) { return note("Xen", 18, le32(entry)); }

// A synthetic ELF64 executable: header, program headers, payloads, optional sections.
struct ElfBuilder {
  struct Seg {
    uint32_t type;
    uint64_t paddr;
    std::vector<uint8_t> data;
    uint64_t memsz;  // 0: same as data.size()
  };
  uint64_t entry = 0x100000;
  uint8_t elf_class = 2, data_enc = 1;
  uint16_t type = 2, machine = 62;
  std::vector<Seg> segs;
  std::vector<std::vector<uint8_t>> note_sections;  // SHT_NOTE sections

  // Byte offsets of each segment's payload, filled by build().
  std::vector<uint64_t> payload_offsets;
  uint64_t phoff = 64;

  std::vector<uint8_t> build() {
    std::vector<uint8_t> img(64 + 56 * segs.size(), 0);
    img[0] = 0x7f; img[1] = 'E'; img[2] = 'L'; img[3] = 'F';
    img[4] = elf_class; img[5] = data_enc; img[6] = 1;
    put<uint16_t>(img, 16, type);
    put<uint16_t>(img, 18, machine);
    put<uint32_t>(img, 20, 1);
    put<uint64_t>(img, 24, entry);
    put<uint64_t>(img, 32, phoff);
    put<uint16_t>(img, 52, 64);
    put<uint16_t>(img, 54, 56);
    put<uint16_t>(img, 56, static_cast<uint16_t>(segs.size()));
    payload_offsets.clear();
    for (size_t i = 0; i < segs.size(); ++i) {
      const auto& s = segs[i];
      const uint64_t off = img.size();
      payload_offsets.push_back(off);
      img.insert(img.end(), s.data.begin(), s.data.end());
      const size_t ph = 64 + 56 * i;
      put<uint32_t>(img, ph + 0, s.type);
      put<uint32_t>(img, ph + 4, 7);
      put<uint64_t>(img, ph + 8, off);
      put<uint64_t>(img, ph + 16, s.paddr + 0xffffffff80000000ull);  // vaddr: unused
      put<uint64_t>(img, ph + 24, s.paddr);
      put<uint64_t>(img, ph + 32, s.data.size());
      put<uint64_t>(img, ph + 40, s.memsz ? s.memsz : s.data.size());
      put<uint64_t>(img, ph + 48, 0x1000);
    }
    if (!note_sections.empty()) {
      // Section 0 is the null section, then one SHT_PROGBITS, then the notes.
      std::vector<std::pair<uint64_t, uint64_t>> where;
      for (const auto& n : note_sections) {
        where.push_back({img.size(), n.size()});
        img.insert(img.end(), n.begin(), n.end());
      }
      while (img.size() % 8) img.push_back(0);
      const uint64_t shoff = img.size();
      const uint16_t shnum = static_cast<uint16_t>(2 + note_sections.size());
      img.resize(img.size() + 64 * shnum, 0);
      put<uint32_t>(img, shoff + 64 + 4, 1);  // SHT_PROGBITS
      for (size_t i = 0; i < where.size(); ++i) {
        const size_t sh = shoff + 64 * (2 + i);
        put<uint32_t>(img, sh + 4, 7);  // SHT_NOTE
        put<uint64_t>(img, sh + 24, where[i].first);
        put<uint64_t>(img, sh + 32, where[i].second);
      }
      put<uint64_t>(img, 40, shoff);
      put<uint16_t>(img, 58, 64);
      put<uint16_t>(img, 60, shnum);
    }
    return img;
  }
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

GuestMemory make_mem(uint64_t size = 8 * kMiB) {
  auto m = GuestMemory::create({{0, size}});
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

void expect_not_a_kernel(const Result<ElfKernel>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind("not a kernel: ", 0), 0u) << r.error().message();
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
}

ElfBuilder simple_kernel() {
  ElfBuilder b;
  b.entry = 0x100000;
  b.segs.push_back({1, 0x100000, pattern(0x1800, 1), 0});
  b.segs.push_back({1, 0x200000, pattern(0x300, 2), 0x2000});  // .data + .bss
  return b;
}

TEST(ElfLoader, DetectsMagic) {
  EXPECT_TRUE(is_elf(simple_kernel().build()));
  EXPECT_FALSE(is_elf(std::vector<uint8_t>{0x7f, 'E', 'L'}));
  EXPECT_FALSE(is_elf(std::vector<uint8_t>(64, 0)));
}

TEST(ElfLoader, LoadsSegmentsAndZeroFillsBss) {
  auto mem = make_mem();
  // Dirty the bss range first: the loader must clear it, not rely on fresh memory.
  std::vector<uint8_t> junk(0x2000, 0xaa);
  ASSERT_TRUE(mem.write(0x200000, junk).ok());

  auto b = simple_kernel();
  auto img = b.build();
  auto r = load_elf(mem, img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->entry, 0x100000u);
  EXPECT_FALSE(r->pvh_entry.has_value());
  EXPECT_EQ(r->image_start, 0x100000u);
  EXPECT_EQ(r->image_end, 0x202000u);

  std::vector<uint8_t> got(0x1800);
  ASSERT_TRUE(mem.read(0x100000, got).ok());
  EXPECT_EQ(got, b.segs[0].data);
  std::vector<uint8_t> data(0x2000);
  ASSERT_TRUE(mem.read(0x200000, data).ok());
  EXPECT_TRUE(std::equal(b.segs[1].data.begin(), b.segs[1].data.end(), data.begin()));
  for (size_t i = 0x300; i < 0x2000; ++i) ASSERT_EQ(data[i], 0) << i;
}

TEST(ElfLoader, FindsPvhNoteInPtNote) {
  auto b = simple_kernel();
  auto n = note("GNU", 3, pattern(20, 9));  // a build-id note first
  auto x = note("Xen", 6, le32(0x12345));   // another Xen note type, ignored
  auto p = pvh_note(0x100040);
  n.insert(n.end(), x.begin(), x.end());
  n.insert(n.end(), p.begin(), p.end());
  b.segs.push_back({4, 0, n, 0});
  auto mem = make_mem();
  auto r = load_elf(mem, b.build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->pvh_entry.has_value());
  EXPECT_EQ(*r->pvh_entry, 0x100040u);
  EXPECT_EQ(r->entry, 0x100000u);
}

TEST(ElfLoader, AcceptsEightBytePvhEntry) {
  // Linux emits the note with _ASM_PTR, i.e. a .quad on x86-64.
  auto b = simple_kernel();
  b.segs.push_back({4, 0, note("Xen", 18, le64(0x101000)), 0});
  auto mem = make_mem();
  auto r = load_elf(mem, b.build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->pvh_entry.value_or(0), 0x101000u);
}

TEST(ElfLoader, FindsPvhNoteInSectionOnly) {
  auto b = simple_kernel();
  b.note_sections.push_back(note("GNU", 3, pattern(20, 9)));
  b.note_sections.push_back(pvh_note(0x100100));
  auto mem = make_mem();
  auto r = load_elf(mem, b.build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->pvh_entry.value_or(0), 0x100100u);
}

TEST(ElfLoader, IgnoresNotesNamedOtherThanXen) {
  auto b = simple_kernel();
  b.segs.push_back({4, 0, note("Xe", 18, le32(0x100000)), 0});
  b.segs.push_back({4, 0, note("Xenx", 18, le32(0x100000)), 0});
  auto mem = make_mem();
  auto r = load_elf(mem, b.build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->pvh_entry.has_value());
}

TEST(ElfLoader, PvhEntryMustBeLoadedAndBelow4G) {
  auto mem = make_mem();
  auto b = simple_kernel();
  b.segs.push_back({4, 0, pvh_note(0x300000), 0});
  expect_not_a_kernel(load_elf(mem, b.build()), "not inside a loaded segment");

  auto c = simple_kernel();
  c.segs.push_back({4, 0, note("Xen", 18, le64(0x100000000ull + 0x100000)), 0});
  expect_not_a_kernel(load_elf(mem, c.build()), "above 4 GiB");

  auto d = simple_kernel();
  d.segs.push_back({4, 0, note("Xen", 18, std::vector<uint8_t>(2, 0)), 0});
  expect_not_a_kernel(load_elf(mem, d.build()), "2-byte value");
}

TEST(ElfLoader, MalformedNoteIsRejected) {
  auto b = simple_kernel();
  auto n = pvh_note(0x100000);
  put<uint32_t>(n, 4, 0x7fffffff);  // descsz far past the segment
  b.segs.push_back({4, 0, n, 0});
  auto mem = make_mem();
  expect_not_a_kernel(load_elf(mem, b.build()), "runs past its end");

  auto c = simple_kernel();
  auto m = pvh_note(0x100000);
  put<uint32_t>(m, 0, 0xffffffff);  // namesz overflowing
  c.segs.push_back({4, 0, m, 0});
  expect_not_a_kernel(load_elf(mem, c.build()), "runs past its end");
}

TEST(ElfLoader, SegmentOutsideRamIsRejected) {
  auto mem = make_mem(4 * kMiB);
  auto b = simple_kernel();
  b.segs.push_back({1, 4 * kMiB - 0x100, pattern(0x200, 3), 0});
  auto r = load_elf(mem, b.build());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("outside guest RAM"), std::string::npos)
      << r.error().message();

  // memsz alone can push a segment out of RAM.
  auto c = simple_kernel();
  c.segs[1].memsz = 1ull << 40;
  EXPECT_FALSE(load_elf(mem, c.build()).ok());
  // and so can an address that wraps around.
  auto d = simple_kernel();
  d.segs[1].paddr = ~uint64_t{0} - 0x10;
  EXPECT_FALSE(load_elf(mem, d.build()).ok());
}

TEST(ElfLoader, NothingIsWrittenWhenALaterSegmentIsBad) {
  auto mem = make_mem(4 * kMiB);
  auto b = simple_kernel();
  b.segs.push_back({1, 16 * kMiB, pattern(0x10, 3), 0});
  ASSERT_FALSE(load_elf(mem, b.build()).ok());
  std::vector<uint8_t> got(0x100);
  ASSERT_TRUE(mem.read(0x100000, got).ok());
  EXPECT_EQ(got, std::vector<uint8_t>(0x100, 0));
}

TEST(ElfLoader, SegmentBelowOneMegabyteIsRejected) {
  auto mem = make_mem();
  auto b = simple_kernel();
  b.segs.push_back({1, 0x7000, pattern(0x10, 3), 0});
  expect_not_a_kernel(load_elf(mem, b.build()), "below 1 MiB");
}

TEST(ElfLoader, TruncatedHeadersAreRejected) {
  auto mem = make_mem();
  auto img = simple_kernel().build();
  expect_not_a_kernel(load_elf(mem, std::span(img).first(40)), "ELF header truncated");
  // Program header table cut short.
  expect_not_a_kernel(load_elf(mem, std::span(img).first(64 + 56 + 10)),
                      "program header table");
  // Program header table offset past the end.
  auto far = img;
  put<uint64_t>(far, 32, ~uint64_t{0} - 8);
  expect_not_a_kernel(load_elf(mem, far), "program header table");
  auto small = img;
  put<uint16_t>(small, 54, 32);
  expect_not_a_kernel(load_elf(mem, small), "program header size");
}

TEST(ElfLoader, SegmentPastEndOfFileIsRejected) {
  auto mem = make_mem();
  auto b = simple_kernel();
  auto img = b.build();
  put<uint64_t>(img, 64 + 32, 0x100000);  // filesz of segment 0
  put<uint64_t>(img, 64 + 40, 0x100000);
  expect_not_a_kernel(load_elf(mem, img), "runs past the end of the file");

  auto wrap = b.build();
  put<uint64_t>(wrap, 64 + 8, ~uint64_t{0} - 4);  // offset + filesz overflows
  expect_not_a_kernel(load_elf(mem, wrap), "runs past the end of the file");

  auto bigger = b.build();
  put<uint64_t>(bigger, 64 + 32, 0x2000);  // filesz > memsz
  put<uint64_t>(bigger, 64 + 40, 0x1000);
  EXPECT_FALSE(load_elf(mem, bigger).ok());
}

TEST(ElfLoader, WrongIdentityIsRejected) {
  auto mem = make_mem();
  {
    auto b = simple_kernel();
    b.machine = 3;  // EM_386
    expect_not_a_kernel(load_elf(mem, b.build()), "machine 3");
  }
  {
    auto b = simple_kernel();
    b.elf_class = 1;
    expect_not_a_kernel(load_elf(mem, b.build()), "ELFCLASS64");
  }
  {
    auto b = simple_kernel();
    b.data_enc = 2;
    expect_not_a_kernel(load_elf(mem, b.build()), "little endian");
  }
  {
    auto b = simple_kernel();
    b.type = 3;  // ET_DYN
    expect_not_a_kernel(load_elf(mem, b.build()), "ET_EXEC");
  }
  {
    ElfBuilder b;
    b.segs.push_back({4, 0, pvh_note(0x100000), 0});
    expect_not_a_kernel(load_elf(mem, b.build()), "no loadable segments");
  }
  {
    ElfBuilder b;
    expect_not_a_kernel(load_elf(mem, b.build()), "no program headers");
  }
}

TEST(ElfLoader, BadSectionTableIsRejectedWhenSearched) {
  auto mem = make_mem();
  auto b = simple_kernel();
  b.note_sections.push_back(note("GNU", 3, pattern(8, 1)));
  auto img = b.build();
  const uint64_t shoff = get<uint64_t>(img, 40);
  put<uint64_t>(img, shoff + 64 * 2 + 32, 0x10000000);  // note section size
  expect_not_a_kernel(load_elf(mem, img), "note section 2");
  put<uint16_t>(img, 60, 0x4000);  // shnum past the end
  expect_not_a_kernel(load_elf(mem, img), "section header table");
}

// Hostile input: every truncation and many random corruptions must fail cleanly or load
// within guest memory, never crash (run under ASan in the sanitizer build).
TEST(ElfLoader, CorruptedImagesNeverCrash) {
  auto mem = make_mem();
  auto b = simple_kernel();
  b.segs.push_back({4, 0, pvh_note(0x100010), 0});
  b.note_sections.push_back(pvh_note(0x100020));
  const auto img = b.build();
  for (size_t n = 0; n < img.size(); n += 3) (void)load_elf(mem, std::span(img).first(n));
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    auto bad = img;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly hit the headers, where the offsets and sizes live.
      const size_t pos = rng() % 2 ? rng() % 300 : rng() % bad.size();
      bad[pos] = static_cast<uint8_t>(rng());
    }
    (void)load_elf(mem, bad);
  }
}

}  // namespace
}  // namespace vireo::arch::x86
