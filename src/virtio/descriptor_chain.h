// DescriptorChain: one request a driver made available on a virtqueue, as the device
// sees it after validation, and cursors that copy bytes out of its device-readable part
// and into its device-writable part.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::virtio {

// One buffer of a chain. [addr, addr+len) lies inside one region of guest RAM (checked
// when the chain was read), so every access through it stays in bounds; the guest may
// still change the bytes at any time.
struct Descriptor {
  uint64_t addr = 0;
  uint32_t len = 0;
  bool device_writable = false;
  bool operator==(const Descriptor&) const = default;
};

struct DescriptorChain {
  uint16_t head = 0;  // the id that goes back in the used ring
  // In chain order: every device-readable descriptor comes before the writable ones.
  std::vector<Descriptor> descriptors;

  uint64_t readable_bytes() const;
  uint64_t writable_bytes() const;
};

// Copies the chain's device-readable bytes out in order.
class ChainReader {
 public:
  ChainReader(const memory::GuestMemory& mem, const DescriptorChain& chain);
  // Copies exactly out.size() bytes, or fails (and copies nothing useful) if fewer remain.
  Result<void> read(std::span<uint8_t> out);
  template <class T>
  Result<T> read_obj() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    VIREO_TRY(read(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
    return v;
  }
  // Skips n bytes.
  Result<void> skip(uint64_t n);
  uint64_t remaining() const { return remaining_; }

 private:
  const memory::GuestMemory& mem_;
  std::vector<Descriptor> parts_;  // the readable descriptors
  size_t index_ = 0;
  uint64_t offset_ = 0;  // into parts_[index_]
  uint64_t remaining_ = 0;
};

// Copies bytes into the chain's device-writable part in order, and counts them (the
// `len` of the used element).
class ChainWriter {
 public:
  ChainWriter(const memory::GuestMemory& mem, const DescriptorChain& chain);
  Result<void> write(std::span<const uint8_t> in);
  template <class T>
  Result<void> write_obj(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), sizeof(T)));
  }
  uint64_t written() const { return written_; }
  uint64_t remaining() const { return remaining_; }

 private:
  const memory::GuestMemory& mem_;
  std::vector<Descriptor> parts_;  // the writable descriptors
  size_t index_ = 0;
  uint64_t offset_ = 0;
  uint64_t remaining_ = 0;
  uint64_t written_ = 0;
};

}  // namespace vireo::virtio
