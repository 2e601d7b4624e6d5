#include "arch/x86/emulator/paging.h"

#include <algorithm>

#include <fmt/format.h>

namespace vireo::arch::x86::emu {

namespace {

// Bits lo..hi (inclusive); empty if lo > hi.
constexpr uint64_t bit_range(unsigned lo, unsigned hi) {
  if (lo > hi) return 0;
  uint64_t upper = hi >= 63 ? ~0ull : (1ull << (hi + 1)) - 1;
  return upper & ~((1ull << lo) - 1);
}

constexpr uint64_t kPteP = 1ull << 0;
constexpr uint64_t kPteRw = 1ull << 1;
constexpr uint64_t kPteUs = 1ull << 2;
constexpr uint64_t kPteA = 1ull << 5;
constexpr uint64_t kPteD = 1ull << 6;
constexpr uint64_t kPtePs = 1ull << 7;
constexpr uint64_t kPteXd = 1ull << 63;

constexpr int kMaxRetries = 64;

const char* level_name(int level) {
  static constexpr const char* kNames[] = {"PTE", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"};
  return kNames[level];
}

}  // namespace

PagingMode paging_mode(const SystemRegs& s) {
  if (!(s.cr0 & kCr0Pg)) return PagingMode::kNone;
  if (!(s.cr4 & kCr4Pae)) return PagingMode::k32Bit;
  if (!(s.efer & kEferLma)) return PagingMode::kPae;
  return (s.cr4 & kCr4La57) ? PagingMode::k5Level : PagingMode::k4Level;
}

const char* to_string(PagingMode m) {
  switch (m) {
    case PagingMode::kNone: return "no paging";
    case PagingMode::k32Bit: return "32-bit paging";
    case PagingMode::kPae: return "PAE paging";
    case PagingMode::k4Level: return "4-level paging";
    case PagingMode::k5Level: return "5-level paging";
  }
  return "?";
}

Outcome<uint64_t> PageWalker::translate(uint64_t linear, const PageAccess& access) {
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    bool retry = false;
    auto r = walk_once(linear, access, retry);
    if (!retry) return r;
  }
  return Error(fmt::format("page walk for {:#x}: page-table entries keep changing", linear));
}

Outcome<uint64_t> PageWalker::walk_once(uint64_t linear, const PageAccess& access,
                                        bool& retry) {
  const PagingMode mode = paging_mode(sregs_);
  if (mode == PagingMode::kNone) return linear & 0xffffffffull;

  const unsigned maxphy = std::clamp<unsigned>(features_.maxphyaddr, 32, 52);
  const bool pae = mode != PagingMode::k32Bit;
  const bool nxe = pae && (sregs_.efer & kEferNxe);
  const bool pse = !pae && (sregs_.cr4 & kCr4Pse);
  const bool smep = sregs_.cr4 & kCr4Smep;
  const bool smap = sregs_.cr4 & kCr4Smap;
  const bool wp = sregs_.cr0 & kCr0Wp;
  const bool write = access.type == AccessType::kWrite;
  const bool fetch = access.type == AccessType::kExecute;
  const bool user_access = access.cpl == 3 && !access.implicit_supervisor;

  uint32_t ec = 0;
  if (write) ec |= kPfWrite;
  if (user_access) ec |= kPfUser;
  if (fetch && (smep || nxe)) ec |= kPfFetch;

  const uint64_t addr_mask = pae ? bit_range(12, maxphy - 1) : 0xfffff000ull;
  const uint64_t high_rsvd =
      mode == PagingMode::kPae ? bit_range(maxphy, 62) : bit_range(maxphy, 51);
  const uint64_t nx_rsvd = nxe ? 0 : kPteXd;
  const unsigned esize = pae ? 8 : 4;

  int levels;
  uint64_t table;
  switch (mode) {
    case PagingMode::k32Bit: levels = 2; table = sregs_.cr3 & 0xfffff000ull; break;
    case PagingMode::kPae: levels = 3; table = sregs_.cr3 & 0xffffffe0ull; break;
    case PagingMode::k4Level: levels = 4; table = sregs_.cr3 & addr_mask; break;
    default: levels = 5; table = sregs_.cr3 & addr_mask; break;
  }

  struct Used {
    uint64_t gpa;
    uint64_t value;
    bool has_ad;
  };
  Used used[5];
  int nused = 0;
  bool user = true, writable = true, nx = false;
  uint64_t phys = 0;

  for (int level = levels; level >= 1; --level) {
    unsigned shift, index_bits;
    if (!pae) {
      shift = level == 2 ? 22 : 12;
      index_bits = 10;
    } else {
      shift = 12 + 9 * (level - 1);
      index_bits = (mode == PagingMode::kPae && level == 3) ? 2 : 9;
    }
    const uint64_t index = (linear >> shift) & ((1ull << index_bits) - 1);
    const uint64_t egpa = table + index * esize;
    uint64_t value = 0;
    auto rd = mem_.read(egpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&value), esize));
    if (!rd.ok())
      return rd.error().context(fmt::format("page walk for {:#x} ({}): reading the {} at {:#x}",
                                            linear, to_string(mode), level_name(level),
                                            egpa));
    if (!(value & kPteP)) return make_pf(ec, linear);

    const bool ps = value & kPtePs;
    const bool pae_pdpte = mode == PagingMode::kPae && level == 3;
    uint64_t rsvd = 0;
    bool leaf = level == 1;
    if (!pae) {
      if (level == 2 && ps && pse) {
        rsvd = bit_range(13 + (std::min(maxphy, 40u) - 32), 21);
        leaf = true;
      }
    } else if (pae_pdpte) {
      rsvd = bit_range(maxphy, 63) | bit_range(1, 2) | bit_range(5, 8);
    } else if (level >= 4) {
      rsvd = high_rsvd | nx_rsvd | kPtePs;
    } else if (level == 3) {
      rsvd = high_rsvd | nx_rsvd;
      if (!features_.gbpages) {
        rsvd |= kPtePs;
      } else if (ps) {
        rsvd |= bit_range(13, 29);
        leaf = true;
      }
    } else if (level == 2) {
      rsvd = high_rsvd | nx_rsvd;
      if (ps) {
        rsvd |= bit_range(13, 20);
        leaf = true;
      }
    } else {
      rsvd = high_rsvd | nx_rsvd;
    }
    if (value & rsvd) return make_pf(ec | kPfPresent | kPfReserved, linear);

    if (!pae_pdpte) {
      user = user && (value & kPteUs);
      writable = writable && (value & kPteRw);
      nx = nx || (nxe && (value & kPteXd));
    }
    used[nused++] = Used{egpa, value, !pae_pdpte};

    if (leaf) {
      if (!pae && level == 2) {  // 4-MiB page; PDE bits 20:13 are physical bits 39:32
        phys = (value & 0xffc00000ull) | (((value >> 13) & 0xff) << 32) |
               (linear & 0x3fffffull);
        phys &= bit_range(0, maxphy - 1);
      } else {
        uint64_t page_mask = bit_range(0, shift - 1);
        phys = (value & addr_mask & ~page_mask) | (linear & page_mask);
      }
      break;
    }
    table = value & addr_mask;
  }

  // Permission checks (SDM vol. 3, 4.6).
  const bool supervisor = !user_access;
  bool allowed = true;
  if (fetch) {
    if (nx) allowed = false;
    else if (supervisor) allowed = !(user && smep);
    else allowed = user;
  } else if (supervisor) {
    if (user && smap && (access.implicit_supervisor || access.cpl == 3 || !(rflags_ & kFlagAc)))
      allowed = false;
    else if (write && !writable && wp)
      allowed = false;
  } else {
    allowed = user && (!write || writable);
  }
  if (!allowed) return make_pf(ec | kPfPresent, linear);

  // Accessed and dirty bits, as locked updates of the entries.
  for (int i = 0; i < nused; ++i) {
    const Used& u = used[i];
    if (!u.has_ad) continue;
    uint64_t want = u.value | kPteA;
    if (i == nused - 1 && write) want |= kPteD;
    if (want == u.value) continue;
    bool swapped;
    if (esize == 8) {
      uint64_t expected = u.value;
      auto r = mem_.cmpxchg8(u.gpa, expected, want);
      if (!r.ok()) return r.error().context(fmt::format("setting A/D bits at {:#x}", u.gpa));
      swapped = *r;
    } else {  // a 4-byte entry: exchange the aligned quadword holding it
      const uint64_t qgpa = u.gpa & ~7ull;
      const unsigned shift = (u.gpa & 4) ? 32 : 0;
      uint64_t cur = 0;
      auto rd = mem_.read(qgpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&cur), 8));
      if (!rd.ok()) return rd.error().context(fmt::format("setting A/D bits at {:#x}", u.gpa));
      if (((cur >> shift) & 0xffffffffull) != u.value) {
        retry = true;
        return uint64_t{0};
      }
      uint64_t desired = (cur & ~(0xffffffffull << shift)) | (want << shift);
      auto r = mem_.cmpxchg8(qgpa, cur, desired);
      if (!r.ok()) return r.error().context(fmt::format("setting A/D bits at {:#x}", u.gpa));
      swapped = *r;
    }
    if (!swapped) {  // the entry changed under us: walk again
      retry = true;
      return uint64_t{0};
    }
  }
  return phys;
}

}  // namespace vireo::arch::x86::emu
