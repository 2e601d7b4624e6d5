#include "util/state_codec.h"

#include <fmt/format.h>

namespace vireo {

void StateWriter::put_le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void StateWriter::bytes(std::span<const uint8_t> b) {
  u32(static_cast<uint32_t>(b.size()));
  bytes_.insert(bytes_.end(), b.begin(), b.end());
}

void StateWriter::string(std::string_view s) {
  bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

Result<uint64_t> StateReader::get_le(int n) {
  if (data_.size() - pos_ < static_cast<size_t>(n))
    return Error(fmt::format("{} is truncated at byte {} (wanted {} more)", what_, pos_, n));
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{data_[pos_ + static_cast<size_t>(i)]} << (8 * i);
  pos_ += static_cast<size_t>(n);
  return v;
}

Result<uint8_t> StateReader::u8() {
  VIREO_ASSIGN_OR_RETURN(auto v, get_le(1));
  return static_cast<uint8_t>(v);
}

Result<bool> StateReader::boolean() {
  VIREO_ASSIGN_OR_RETURN(auto v, get_le(1));
  if (v > 1) return Error(fmt::format("{}: byte {} should be a boolean, is {}", what_, pos_ - 1, v));
  return v == 1;
}

Result<uint16_t> StateReader::u16() {
  VIREO_ASSIGN_OR_RETURN(auto v, get_le(2));
  return static_cast<uint16_t>(v);
}

Result<uint32_t> StateReader::u32() {
  VIREO_ASSIGN_OR_RETURN(auto v, get_le(4));
  return static_cast<uint32_t>(v);
}

Result<uint64_t> StateReader::u64() { return get_le(8); }

Result<int64_t> StateReader::i64() {
  VIREO_ASSIGN_OR_RETURN(auto v, get_le(8));
  return static_cast<int64_t>(v);
}

Result<std::vector<uint8_t>> StateReader::bytes(size_t max) {
  VIREO_ASSIGN_OR_RETURN(uint32_t n, u32());
  if (n > max)
    return Error(fmt::format("{}: a field of {} bytes at byte {} is longer than its limit {}",
                             what_, n, pos_ - 4, max));
  if (data_.size() - pos_ < n)
    return Error(fmt::format("{} is truncated at byte {} (wanted {} more)", what_, pos_, n));
  std::vector<uint8_t> out(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                           data_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
  pos_ += n;
  return out;
}

Result<std::string> StateReader::string(size_t max) {
  VIREO_ASSIGN_OR_RETURN(auto b, bytes(max));
  return std::string(b.begin(), b.end());
}

Result<std::span<const uint8_t>> StateReader::raw(size_t n) {
  if (data_.size() - pos_ < n)
    return Error(fmt::format("{} is truncated at byte {} (wanted {} more)", what_, pos_, n));
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<void> StateReader::finish() const {
  if (pos_ != data_.size())
    return Error(fmt::format("{} has {} unexpected bytes at its end", what_, data_.size() - pos_));
  return {};
}

}  // namespace vireo
