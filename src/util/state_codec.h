// StateWriter / StateReader: the byte encoding of device state structs (snapshots and
// migration). Fixed-width little-endian integers and length-prefixed byte strings, no
// padding, no self-description: each state struct has its own encode/decode pair and a
// version number, so refactoring a struct cannot silently change what is on disk.
//
// A reader is hostile-input safe: every get checks the remaining length, a length prefix
// larger than what is left fails, and finish() fails on trailing bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace vireo {

class StateWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  // A u32 length, then the bytes.
  void bytes(std::span<const uint8_t> b);
  void string(std::string_view s);
  // The bytes as they are, without a length (the caller wrote or knows it).
  void raw(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }

  std::vector<uint8_t> take() { return std::move(bytes_); }

 private:
  void put_le(uint64_t v, int n);
  std::vector<uint8_t> bytes_;
};

class StateReader {
 public:
  // `what` names the state in errors ("serial state").
  StateReader(std::span<const uint8_t> data, std::string what)
      : data_(data), what_(std::move(what)) {}

  Result<uint8_t> u8();
  Result<bool> boolean();  // 0 or 1; anything else is an error
  Result<uint16_t> u16();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  Result<int64_t> i64();
  // A length-prefixed byte string of at most `max` bytes.
  Result<std::vector<uint8_t>> bytes(size_t max);
  Result<std::string> string(size_t max);
  // The next `n` bytes as they are (a view into the data).
  Result<std::span<const uint8_t>> raw(size_t n);
  // Fails unless every byte was consumed.
  Result<void> finish() const;
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  Result<uint64_t> get_le(int n);
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace vireo
