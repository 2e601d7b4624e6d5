#include "arch/x86/emulator/virtual_memory.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

namespace vireo::arch::x86::emu {

namespace {
constexpr uint64_t kPageSize = 4096;

uint64_t load_le(std::span<const uint8_t> b, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
}  // namespace

Outcome<uint64_t> VirtualMemory::linear(SegReg seg, uint64_t offset, uint32_t size,
                                        AccessType type) {
  return linear_address(sregs_, rflags_, seg, offset, size, type);
}

bool VirtualMemory::alignment_fault(uint64_t la, uint32_t size) const {
  if (cpl_ != 3 || !(sregs_.cr0 & kCr0Am) || !(rflags_ & kFlagAc)) return false;
  uint32_t align = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
  return (la & (align - 1)) != 0;
}

Outcome<PhysRange> VirtualMemory::translate(uint64_t la, uint32_t size, AccessType type) {
  if (size == 0 || size > kPageSize)
    return Error(fmt::format("guest access of {} bytes is not supported", size));
  const bool wrap32 = exec_state(sregs_, rflags_) != ExecState::kLong64;
  PhysRange r;
  uint32_t first = static_cast<uint32_t>(std::min<uint64_t>(size, kPageSize - (la % kPageSize)));
  PageAccess access{type, cpl_, false};
  VIREO_EMU_ASSIGN(r.gpa[0], walker_.translate(la, access));
  r.len[0] = first;
  r.pieces = 1;
  if (first < size) {
    uint64_t la2 = la + first;
    if (wrap32) la2 &= 0xffffffffull;
    VIREO_EMU_ASSIGN(r.gpa[1], walker_.translate(la2, access));
    r.len[1] = size - first;
    r.pieces = 2;
  }
  return r;
}

Outcome<Done> VirtualMemory::read(SegReg seg, uint64_t offset, std::span<uint8_t> out) {
  const auto size = static_cast<uint32_t>(out.size());
  VIREO_EMU_ASSIGN(uint64_t la, linear(seg, offset, size, AccessType::kRead));
  VIREO_EMU_ASSIGN(PhysRange r, translate(la, size, AccessType::kRead));
  if (alignment_fault(la, size)) return make_fault0(kVectorAc, sregs_);
  size_t done = 0;
  for (unsigned i = 0; i < r.pieces; ++i) {
    auto res = mem_.read(r.gpa[i], out.subspan(done, r.len[i]));
    if (!res.ok()) return res.error();
    done += r.len[i];
  }
  return Done{};
}

Outcome<Done> VirtualMemory::write(SegReg seg, uint64_t offset, std::span<const uint8_t> in) {
  const auto size = static_cast<uint32_t>(in.size());
  VIREO_EMU_ASSIGN(uint64_t la, linear(seg, offset, size, AccessType::kWrite));
  VIREO_EMU_ASSIGN(PhysRange r, translate(la, size, AccessType::kWrite));
  if (alignment_fault(la, size)) return make_fault0(kVectorAc, sregs_);
  size_t done = 0;
  for (unsigned i = 0; i < r.pieces; ++i) {
    auto res = mem_.write(r.gpa[i], in.subspan(done, r.len[i]));
    if (!res.ok()) return res.error();
    done += r.len[i];
  }
  return Done{};
}

Outcome<bool> VirtualMemory::cmpxchg(SegReg seg, uint64_t offset, std::span<uint8_t> expected,
                                     std::span<const uint8_t> desired) {
  const auto size = static_cast<uint32_t>(expected.size());
  if ((size != 8 && size != 16) || desired.size() != size)
    return Error(fmt::format("compare-exchange of {} bytes is not supported", size));
  VIREO_EMU_ASSIGN(uint64_t la, linear(seg, offset, size, AccessType::kWrite));
  VIREO_EMU_ASSIGN(PhysRange r, translate(la, size, AccessType::kWrite));
  if (alignment_fault(la, size)) return make_fault0(kVectorAc, sregs_);
  return cmpxchg_phys(r, expected, desired);
}

Outcome<bool> VirtualMemory::cmpxchg_phys(const PhysRange& r, std::span<uint8_t> expected,
                                          std::span<const uint8_t> desired) {
  const size_t size = expected.size();
  const uint64_t gpa = r.gpa[0];
  if (r.pieces == 1 && size == 16 && gpa % 16 == 0) {
    std::array<uint64_t, 2> exp{load_le(expected, 0), load_le(expected, 8)};
    std::array<uint64_t, 2> des{load_le(desired, 0), load_le(desired, 8)};
    auto res = mem_.cmpxchg16(gpa, exp, des);
    if (!res.ok()) return res.error();
    std::memcpy(expected.data(), exp.data(), 16);
    return *res;
  }
  if (r.pieces == 1 && size == 8 && gpa % 8 == 0) {
    uint64_t exp = load_le(expected, 0);
    auto res = mem_.cmpxchg8(gpa, exp, load_le(desired, 0));
    if (!res.ok()) return res.error();
    std::memcpy(expected.data(), &exp, 8);
    return *res;
  }
  if (r.pieces == 1 && size == 8 && gpa % 16 + 8 <= 16) {
    // Misaligned, inside one aligned 16-byte block: exchange the whole block.
    const uint64_t block = gpa & ~15ull;
    const size_t at = gpa % 16;
    uint8_t cur[16];
    auto rd = mem_.read(block, cur);
    if (!rd.ok()) return rd.error();
    for (int attempt = 0; attempt < 64; ++attempt) {
      if (std::memcmp(cur + at, expected.data(), 8) != 0) {
        std::memcpy(expected.data(), cur + at, 8);
        return false;
      }
      uint8_t want[16];
      std::memcpy(want, cur, 16);
      std::memcpy(want + at, desired.data(), 8);
      std::array<uint64_t, 2> exp, des;
      std::memcpy(exp.data(), cur, 16);
      std::memcpy(des.data(), want, 16);
      auto res = mem_.cmpxchg16(block, exp, des);
      if (!res.ok()) return res.error();
      if (*res) return true;
      std::memcpy(cur, exp.data(), 16);  // someone wrote the block: compare again
    }
    return Error(fmt::format("compare-exchange at {:#x}: memory keeps changing", gpa));
  }
  // Split across 16-byte blocks or pages: compare, then store (not atomic).
  uint8_t cur[16] = {};
  size_t done = 0;
  for (unsigned i = 0; i < r.pieces; ++i) {
    auto rd = mem_.read(r.gpa[i], std::span<uint8_t>(cur + done, r.len[i]));
    if (!rd.ok()) return rd.error();
    done += r.len[i];
  }
  if (std::memcmp(cur, expected.data(), size) != 0) {
    std::memcpy(expected.data(), cur, size);
    return false;
  }
  done = 0;
  for (unsigned i = 0; i < r.pieces; ++i) {
    auto wr = mem_.write(r.gpa[i], desired.subspan(done, r.len[i]));
    if (!wr.ok()) return wr.error();
    done += r.len[i];
  }
  return true;
}

}  // namespace vireo::arch::x86::emu
