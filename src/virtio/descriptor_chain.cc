#include "virtio/descriptor_chain.h"

#include <fmt/format.h>

#include <algorithm>

namespace vireo::virtio {

uint64_t DescriptorChain::readable_bytes() const {
  uint64_t n = 0;
  for (const auto& d : descriptors)
    if (!d.device_writable) n += d.len;
  return n;
}

uint64_t DescriptorChain::writable_bytes() const {
  uint64_t n = 0;
  for (const auto& d : descriptors)
    if (d.device_writable) n += d.len;
  return n;
}

ChainReader::ChainReader(const memory::GuestMemory& mem, const DescriptorChain& chain)
    : mem_(mem) {
  for (const auto& d : chain.descriptors) {
    if (d.device_writable || d.len == 0) continue;
    parts_.push_back(d);
    remaining_ += d.len;
  }
}

Result<void> ChainReader::read(std::span<uint8_t> out) {
  if (out.size() > remaining_)
    return Error(fmt::format("the request is {} bytes short", out.size() - remaining_));
  size_t done = 0;
  while (done < out.size()) {
    const Descriptor& d = parts_[index_];
    const uint64_t n = std::min<uint64_t>(out.size() - done, d.len - offset_);
    VIREO_TRY(mem_.read(d.addr + offset_, out.subspan(done, n)));
    done += n;
    offset_ += n;
    remaining_ -= n;
    if (offset_ == d.len) {
      ++index_;
      offset_ = 0;
    }
  }
  return {};
}

Result<void> ChainReader::skip(uint64_t n) {
  if (n > remaining_) return Error(fmt::format("the request is {} bytes short", n - remaining_));
  while (n > 0) {
    const Descriptor& d = parts_[index_];
    const uint64_t step = std::min<uint64_t>(n, d.len - offset_);
    n -= step;
    offset_ += step;
    remaining_ -= step;
    if (offset_ == d.len) {
      ++index_;
      offset_ = 0;
    }
  }
  return {};
}

ChainWriter::ChainWriter(const memory::GuestMemory& mem, const DescriptorChain& chain)
    : mem_(mem) {
  for (const auto& d : chain.descriptors) {
    if (!d.device_writable || d.len == 0) continue;
    parts_.push_back(d);
    remaining_ += d.len;
  }
}

Result<void> ChainWriter::write(std::span<const uint8_t> in) {
  if (in.size() > remaining_)
    return Error(fmt::format("the request's buffers are {} bytes too small", in.size() - remaining_));
  size_t done = 0;
  while (done < in.size()) {
    const Descriptor& d = parts_[index_];
    const uint64_t n = std::min<uint64_t>(in.size() - done, d.len - offset_);
    VIREO_TRY(mem_.write(d.addr + offset_, in.subspan(done, n)));
    done += n;
    offset_ += n;
    remaining_ -= n;
    written_ += n;
    if (offset_ == d.len) {
      ++index_;
      offset_ = 0;
    }
  }
  return {};
}

}  // namespace vireo::virtio
