#include "pci/msix.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace vireo::pci {

Msix::Msix(uint16_t count, uint8_t table_bar, uint32_t table_offset, uint8_t pba_bar,
           uint32_t pba_offset)
    : table_bar_(table_bar), pba_bar_(pba_bar), table_offset_(table_offset),
      pba_offset_(pba_offset), entries_(std::clamp<uint16_t>(count, 1, 2048)),
      vectors_(entries_.size()) {}  // none attached yet: refresh() skips null vectors

std::vector<uint8_t> Msix::capability_body() const {
  // Message Control (table size - 1), Table Offset/BIR, PBA Offset/BIR.
  std::vector<uint8_t> b(10, 0);
  const uint16_t ctl = static_cast<uint16_t>(entries_.size() - 1);
  const uint32_t table = table_offset_ | table_bar_;
  const uint32_t pba = pba_offset_ | pba_bar_;
  std::memcpy(&b[0], &ctl, 2);
  std::memcpy(&b[2], &table, 4);
  std::memcpy(&b[6], &pba, 4);
  return b;
}

std::vector<uint8_t> Msix::capability_mask() const {
  std::vector<uint8_t> m(10, 0);
  m[1] = static_cast<uint8_t>((kControlEnable | kControlFunctionMask) >> 8);
  return m;
}

void Msix::attach(std::vector<std::shared_ptr<MsiVector>> vectors) {
  std::lock_guard lock(mu_);
  vectors_ = std::move(vectors);
  vectors_.resize(entries_.size());
}

uint16_t Msix::control() const {
  std::lock_guard lock(mu_);
  return control_;
}

bool Msix::enabled() const {
  std::lock_guard lock(mu_);
  return control_ & kControlEnable;
}

bool Msix::deliverable(const Entry& e) const {
  return (control_ & kControlEnable) && !(control_ & kControlFunctionMask) &&
         !(e.control & kEntryMasked);
}

void Msix::refresh(size_t i) {
  Entry& e = entries_[i];
  if (!deliverable(e) || !vectors_[i]) return;
  if (!e.configured || e.sent_address != e.address || e.sent_data != e.data) {
    vectors_[i]->configure(e.address, e.data);
    e.configured = true;
    e.sent_address = e.address;
    e.sent_data = e.data;
  }
  if (e.pending) {
    e.pending = false;
    vectors_[i]->trigger();
  }
}

void Msix::write_control(uint16_t control) {
  std::lock_guard lock(mu_);
  control_ = control & (kControlEnable | kControlFunctionMask);
  for (size_t i = 0; i < entries_.size(); ++i) refresh(i);
}

void Msix::read_table(uint64_t offset, std::span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0xff);
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0) return;
  std::lock_guard lock(mu_);
  if (offset >= table_bytes()) return;
  const Entry& e = entries_[offset / kEntrySize];
  uint8_t raw[kEntrySize];
  const uint32_t words[4] = {static_cast<uint32_t>(e.address),
                             static_cast<uint32_t>(e.address >> 32), e.data, e.control};
  std::memcpy(raw, words, sizeof raw);
  std::memcpy(data.data(), raw + offset % kEntrySize, data.size());
}

void Msix::write_table(uint64_t offset, std::span<const uint8_t> data) {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0) return;
  std::lock_guard lock(mu_);
  if (offset >= table_bytes()) return;
  const size_t i = offset / kEntrySize;
  Entry& e = entries_[i];
  uint32_t words[4] = {static_cast<uint32_t>(e.address), static_cast<uint32_t>(e.address >> 32),
                       e.data, e.control};
  std::memcpy(reinterpret_cast<uint8_t*>(words) + offset % kEntrySize, data.data(), data.size());
  e.address = words[0] | (uint64_t{words[1]} << 32);
  e.data = words[2];
  e.control = words[3] & kEntryMasked;
  refresh(i);
}

void Msix::read_pba(uint64_t offset, std::span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0) return;
  std::lock_guard lock(mu_);
  for (size_t b = 0; b < data.size() * 8; ++b) {
    const uint64_t v = offset * 8 + b;
    if (v < entries_.size() && entries_[v].pending) data[b / 8] |= static_cast<uint8_t>(1u << (b % 8));
  }
}

void Msix::notify(uint16_t v) {
  std::lock_guard lock(mu_);
  if (v >= entries_.size()) return;
  Entry& e = entries_[v];
  if (!(control_ & kControlEnable)) return;  // MSI-X off: the function sends nothing
  e.pending = true;
  refresh(v);
}

void Msix::reset() {
  std::lock_guard lock(mu_);
  control_ = 0;
  for (auto& e : entries_) e = Entry{};
}

void Msix::save(StateWriter& w) const {
  std::lock_guard lock(mu_);
  w.u16(control_);
  w.u32(static_cast<uint32_t>(entries_.size()));
  for (const auto& e : entries_) {
    w.u64(e.address);
    w.u32(e.data);
    w.u32(e.control);
    w.boolean(e.pending);
  }
}

Result<void> Msix::restore(StateReader& r) {
  VIREO_ASSIGN_OR_RETURN(uint16_t control, r.u16());
  VIREO_ASSIGN_OR_RETURN(uint32_t n, r.u32());
  if (n != entries_.size() || (control & ~(kControlEnable | kControlFunctionMask)))
    return Error(fmt::format("MSI-X state: {} vectors (this function has {}) or bad control {:#x}",
                             n, entries_.size(), control));
  std::vector<Entry> entries(n);
  for (auto& e : entries) {
    VIREO_ASSIGN_OR_RETURN(e.address, r.u64());
    VIREO_ASSIGN_OR_RETURN(e.data, r.u32());
    VIREO_ASSIGN_OR_RETURN(e.control, r.u32());
    VIREO_ASSIGN_OR_RETURN(e.pending, r.boolean());
    if (e.control & ~kEntryMasked) return Error("MSI-X state: bad vector control");
  }
  std::lock_guard lock(mu_);
  control_ = control;
  entries_ = std::move(entries);
  // The vectors learn their messages again; pending ones are delivered if they may be.
  for (size_t i = 0; i < entries_.size(); ++i) refresh(i);
  return {};
}

}  // namespace vireo::pci
