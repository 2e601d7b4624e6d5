// Test helpers: a small sparse guest-physical memory with an access log, and a builder of
// guest page tables in it.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "arch/x86/emulator/cpu_state.h"
#include "arch/x86/emulator/guest_phys_memory.h"
#include "arch/x86/emulator/paging.h"

namespace vireo::arch::x86::emu::testing {

// Guest RAM made of 4-KiB pages added one by one; everything else is "not RAM".
class FakePhysMemory : public GuestPhysMemory {
 public:
  static constexpr uint64_t kPage = 4096;

  void add_ram(uint64_t gpa, uint64_t size) {
    for (uint64_t p = gpa & ~(kPage - 1); p < gpa + size; p += kPage)
      if (!pages_.count(p)) pages_[p] = std::make_unique<Page>();
  }
  bool has(uint64_t gpa) const { return pages_.count(gpa & ~(kPage - 1)) != 0; }

  Result<void> read(uint64_t gpa, std::span<uint8_t> out) override {
    ++reads;
    for (size_t i = 0; i < out.size(); ++i) {
      uint8_t* b = byte(gpa + i);
      if (!b) return Error(fmt::format("fake read outside RAM at {:#x}", gpa + i));
      out[i] = *b;
    }
    return {};
  }
  Result<void> write(uint64_t gpa, std::span<const uint8_t> in) override {
    for (size_t i = 0; i < in.size(); ++i)
      if (!byte(gpa + i)) return Error(fmt::format("fake write outside RAM at {:#x}", gpa + i));
    writes.push_back({gpa, in.size()});
    for (size_t i = 0; i < in.size(); ++i) *byte(gpa + i) = in[i];
    return {};
  }
  Result<bool> cmpxchg8(uint64_t gpa, uint64_t& expected, uint64_t desired) override {
    if (gpa % 8) return Error("fake cmpxchg8 unaligned");
    if (before_cmpxchg) before_cmpxchg(gpa);
    uint64_t cur = 0;
    VIREO_TRY(read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&cur), 8)));
    ++cmpxchgs;
    if (cur != expected) {
      expected = cur;
      return false;
    }
    VIREO_TRY(write(gpa, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&desired), 8)));
    return true;
  }
  Result<bool> cmpxchg16(uint64_t gpa, std::array<uint64_t, 2>& expected,
                         const std::array<uint64_t, 2>& desired) override {
    if (gpa % 16) return Error("fake cmpxchg16 unaligned");
    if (before_cmpxchg) before_cmpxchg(gpa);
    std::array<uint64_t, 2> cur{};
    VIREO_TRY(read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(cur.data()), 16)));
    ++cmpxchgs;
    if (cur != expected) {
      expected = cur;
      return false;
    }
    VIREO_TRY(write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(desired.data()), 16)));
    return true;
  }

  uint64_t u64(uint64_t gpa) {
    uint64_t v = 0;
    (void)read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  uint32_t u32(uint64_t gpa) { return static_cast<uint32_t>(u64_partial(gpa, 4)); }
  void set_u64(uint64_t gpa, uint64_t v) { set_bytes(gpa, &v, 8); }
  void set_u32(uint64_t gpa, uint32_t v) { set_bytes(gpa, &v, 4); }
  void set_bytes(uint64_t gpa, const void* p, size_t n) {
    (void)write(gpa, std::span<const uint8_t>(static_cast<const uint8_t*>(p), n));
  }
  void get_bytes(uint64_t gpa, void* p, size_t n) {
    (void)read(gpa, std::span<uint8_t>(static_cast<uint8_t*>(p), n));
  }
  void clear_log() {
    writes.clear();
    reads = 0;
    cmpxchgs = 0;
  }

  struct WriteLog {
    uint64_t gpa;
    size_t size;
  };
  std::vector<WriteLog> writes;
  int reads = 0;
  int cmpxchgs = 0;
  std::function<void(uint64_t gpa)> before_cmpxchg;

 private:
  using Page = std::array<uint8_t, kPage>;
  uint8_t* byte(uint64_t gpa) {
    auto it = pages_.find(gpa & ~(kPage - 1));
    if (it == pages_.end()) return nullptr;
    return it->second->data() + (gpa & (kPage - 1));
  }
  uint64_t u64_partial(uint64_t gpa, size_t n) {
    uint64_t v = 0;
    (void)read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), n));
    return v;
  }
  std::map<uint64_t, std::unique_ptr<Page>> pages_;
};

// Page-table entry bits.
inline constexpr uint64_t kP = 1ull << 0;
inline constexpr uint64_t kRW = 1ull << 1;
inline constexpr uint64_t kUS = 1ull << 2;
inline constexpr uint64_t kA = 1ull << 5;
inline constexpr uint64_t kD = 1ull << 6;
inline constexpr uint64_t kPS = 1ull << 7;
inline constexpr uint64_t kXD = 1ull << 63;

// Builds page tables for one paging mode; tables are allocated from `table_area` on.
class PageTables {
 public:
  PageTables(FakePhysMemory& mem, PagingMode mode, uint64_t table_area)
      : mem_(mem), mode_(mode), next_(table_area) {
    root_ = alloc();
  }
  uint64_t cr3() const { return root_; }
  int levels() const {
    switch (mode_) {
      case PagingMode::k32Bit: return 2;
      case PagingMode::kPae: return 3;
      case PagingMode::k4Level: return 4;
      default: return 5;
    }
  }
  unsigned esize() const { return mode_ == PagingMode::k32Bit ? 4 : 8; }

  // Maps [va, va+page_size) to pa; the leaf gets `leaf` flags (PS added for large pages),
  // the tables on the way `table` flags (PAE PDPTEs: P only).
  void map(uint64_t va, uint64_t pa, uint64_t page_size, uint64_t leaf,
           uint64_t table = kP | kRW | kUS) {
    int leaf_level = level_of(page_size);
    uint64_t t = root_;
    for (int level = levels(); level > leaf_level; --level) {
      uint64_t e = entry_gpa_in(t, va, level);
      uint64_t v = read_entry(e);
      if (!(v & kP)) {
        uint64_t nt = alloc();
        uint64_t flags = (mode_ == PagingMode::kPae && level == 3) ? kP : table;
        v = nt | flags;
        write_entry(e, v);
      }
      t = v & addr_mask();
    }
    uint64_t v = pa | leaf | (leaf_level > 1 ? kPS : 0);
    if (mode_ == PagingMode::k32Bit && leaf_level == 2) {  // PSE-36: bits 39:32 -> 20:13
      v = (pa & 0xffc00000ull) | (((pa >> 32) & 0xff) << 13) | leaf | kPS;
    }
    write_entry(entry_gpa_in(t, va, leaf_level), v);
  }

  // The gpa of the entry for `va` at `level` (tables must exist down to it).
  uint64_t entry_gpa(uint64_t va, int level) {
    uint64_t t = root_;
    for (int l = levels(); l > level; --l) t = read_entry(entry_gpa_in(t, va, l)) & addr_mask();
    return entry_gpa_in(t, va, level);
  }
  uint64_t entry(uint64_t va, int level) { return read_entry(entry_gpa(va, level)); }
  void set_entry(uint64_t va, int level, uint64_t v) { write_entry(entry_gpa(va, level), v); }

 private:
  int level_of(uint64_t page_size) const {
    if (page_size == 4096) return 1;
    if (page_size == (4ull << 20)) return 2;  // 32-bit PSE
    if (page_size == (2ull << 20)) return 2;
    return 3;  // 1 GiB
  }
  uint64_t addr_mask() const {
    return mode_ == PagingMode::k32Bit ? 0xfffff000ull : 0x000ffffffffff000ull;
  }
  uint64_t entry_gpa_in(uint64_t table, uint64_t va, int level) const {
    if (mode_ == PagingMode::k32Bit) {
      unsigned shift = level == 2 ? 22 : 12;
      return table + ((va >> shift) & 0x3ff) * 4;
    }
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t bits = (mode_ == PagingMode::kPae && level == 3) ? 3 : 0x1ff;
    return table + ((va >> shift) & bits) * 8;
  }
  uint64_t read_entry(uint64_t gpa) {
    return esize() == 4 ? mem_.u32(gpa) : mem_.u64(gpa);
  }
  void write_entry(uint64_t gpa, uint64_t v) {
    if (esize() == 4) mem_.set_u32(gpa, static_cast<uint32_t>(v));
    else mem_.set_u64(gpa, v);
  }
  uint64_t alloc() {
    uint64_t p = next_;
    next_ += 4096;
    mem_.add_ram(p, 4096);
    return p;
  }

  FakePhysMemory& mem_;
  PagingMode mode_;
  uint64_t next_;
  uint64_t root_;
};

// Flat 64-bit long mode, CPL 0, with paging (4-level unless la57).
inline SystemRegs long_mode_sregs(uint64_t cr3, bool la57 = false) {
  SystemRegs s;
  s.cr0 = kCr0Pe | kCr0Pg | kCr0Wp | (1u << 4) /* ET */;
  s.cr3 = cr3;
  s.cr4 = kCr4Pae | (la57 ? kCr4La57 : 0);
  s.efer = kEferLme | kEferLma | kEferNxe;
  s.cs = Segment{0, 0xffffffff, 0x10, 0xb, 0, 0, 1, 1, 0};
  for (Segment* sg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss})
    *sg = Segment{0, 0xffffffff, 0x18, 0x3, 0, 1, 0, 1, 0};
  return s;
}

// Flat 32-bit protected mode, CPL 0; paging as given (CR0.PG set if cr4/cr3 are used).
inline SystemRegs protected_mode_sregs(bool paging, uint64_t cr3 = 0, uint64_t cr4 = 0) {
  SystemRegs s;
  s.cr0 = kCr0Pe | (1u << 4) | (paging ? (kCr0Pg | kCr0Wp) : 0);
  s.cr3 = cr3;
  s.cr4 = cr4;
  s.cs = Segment{0, 0xffffffff, 0x10, 0xb, 0, 1, 0, 1, 0};
  for (Segment* sg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss})
    *sg = Segment{0, 0xffffffff, 0x18, 0x3, 0, 1, 0, 1, 0};
  return s;
}

// Real mode at reset-like state: all bases 0, limits 64 KiB.
inline SystemRegs real_mode_sregs() {
  SystemRegs s;
  s.cs = Segment{0, 0xffff, 0, 0xb, 0, 0, 0, 1, 0};
  for (Segment* sg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) *sg = Segment{0, 0xffff, 0, 0x3, 0, 0, 0, 1, 0};
  return s;
}

}  // namespace vireo::arch::x86::emu::testing
