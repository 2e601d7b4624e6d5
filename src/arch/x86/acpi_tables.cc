#include "arch/x86/acpi_tables.h"

#include <cassert>

namespace vireo::arch::x86 {

namespace fw {

uint8_t byte_sum(std::span<const uint8_t> bytes) {
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
  return sum;
}

uint8_t checksum_byte(std::span<const uint8_t> bytes) {
  return static_cast<uint8_t>(0u - byte_sum(bytes));
}

void ByteWriter::fixed_string(std::string_view s, size_t width, char pad) {
  for (size_t i = 0; i < width; ++i)
    out_.push_back(static_cast<uint8_t>(i < s.size() ? s[i] : pad));
}

void ByteWriter::put_le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::patch_le(size_t at, uint64_t v, int n) {
  assert(at + n <= out_.size());
  for (int i = 0; i < n; ++i) out_[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace fw

namespace acpi {

void begin_table(Bytes& table, std::string_view signature, uint8_t revision) {
  assert(signature.size() == 4);
  ByteWriter w(table);
  w.fixed_string(signature, 4);
  w.u32(0);  // length, set by finish_table
  w.u8(revision);
  w.u8(0);  // checksum, set by finish_table
  w.fixed_string(kOemId, 6);
  w.fixed_string(kOemTableId, 8);
  w.u32(kOemRevision);
  w.fixed_string(kCreatorId, 4);
  w.u32(kCreatorRevision);
}

void finish_table(Bytes& table) {
  assert(table.size() >= kHeaderSize);
  ByteWriter w(table);
  w.patch_u32(kHeaderLengthOffset, static_cast<uint32_t>(table.size()));
  w.patch_u8(kHeaderChecksumOffset, 0);
  w.patch_u8(kHeaderChecksumOffset, fw::checksum_byte(table));
}

void put_gas(ByteWriter& w, const GenericAddress& gas) {
  w.u8(static_cast<uint8_t>(gas.space));
  w.u8(gas.bit_width);
  w.u8(gas.bit_offset);
  w.u8(static_cast<uint8_t>(gas.access_size));
  w.u64(gas.address);
}

}  // namespace acpi

namespace aml {

namespace {

[[maybe_unused]] bool is_lead_name_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
[[maybe_unused]] bool is_name_char(char c) {
  return is_lead_name_char(c) || (c >= '0' && c <= '9');
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

// Opcode bytes, PkgLength, then `body`.
Bytes with_pkg_length(std::initializer_list<uint8_t> opcode, const Bytes& body) {
  Bytes out(opcode);
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

}  // namespace

Bytes pkg_length(size_t payload) {
  // One byte holds lengths up to 63; with N extra bytes the first byte keeps 4 bits and
  // each extra byte 8 more. The encoded length includes the PkgLength bytes themselves.
  if (payload + 1 < (1u << 6)) return {static_cast<uint8_t>(payload + 1)};
  for (size_t extra = 1; extra <= 3; ++extra) {
    const size_t total = payload + 1 + extra;
    if (total < (size_t{1} << (4 + 8 * extra))) {
      Bytes out;
      out.push_back(static_cast<uint8_t>((extra << 6) | (total & 0xf)));
      for (size_t i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
      return out;
    }
  }
  assert(false && "AML package too large");
  return {};
}

Bytes name_string(std::string_view name) {
  Bytes out;
  if (!name.empty() && name.front() == '\\') {
    out.push_back(kRootChar);
    name.remove_prefix(1);
  }
  std::vector<std::string_view> segs;
  while (!name.empty()) {
    const size_t dot = name.find('.');
    segs.push_back(name.substr(0, dot));
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  assert(!segs.empty() && segs.size() <= 255);
  if (segs.size() == 2) out.push_back(kDualNamePrefix);
  if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string_view seg : segs) {
    assert(!seg.empty() && seg.size() <= 4 && is_lead_name_char(seg[0]));
    for (size_t i = 0; i < 4; ++i) {
      const char c = i < seg.size() ? seg[i] : '_';
      assert(is_name_char(c));
      out.push_back(static_cast<uint8_t>(c));
    }
  }
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  ByteWriter w(out);
  if (value <= 0xff) {
    w.u8(kBytePrefix);
    w.u8(static_cast<uint8_t>(value));
  } else if (value <= 0xffff) {
    w.u8(kWordPrefix);
    w.u16(static_cast<uint16_t>(value));
  } else if (value <= 0xffffffff) {
    w.u8(kDwordPrefix);
    w.u32(static_cast<uint32_t>(value));
  } else {
    w.u8(kQwordPrefix);
    w.u64(value);
  }
  return out;
}

Bytes eisa_id(std::string_view id) {
  // Bit 31 reserved (0), three letters of 5 bits each ('A' = 1) in bits 30..16, then four
  // hex digits in bits 15..0; the value is stored big-endian.
  assert(id.size() == 7);
  auto hex = [](char c) -> uint32_t {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    assert(false && "EISA ID product digits must be upper-case hex");
    return 0;
  };
  uint32_t be = 0;
  for (int i = 0; i < 3; ++i) {
    assert(id[i] >= 'A' && id[i] <= 'Z');
    be = (be << 5) | uint32_t(id[i] - 'A' + 1);
  }
  for (int i = 3; i < 7; ++i) be = (be << 4) | hex(id[i]);
  // The DWordConst is little-endian, so byte-swap to get the bytes in big-endian order.
  const uint32_t value = ((be >> 24) & 0xff) | ((be >> 8) & 0xff00) | ((be << 8) & 0xff0000) |
                         ((be << 24) & 0xff000000u);
  Bytes out;
  ByteWriter w(out);
  w.u8(kDwordPrefix);
  w.u32(value);
  return out;
}

Bytes string(std::string_view s) {
  Bytes out(s.size() + 2, 0);  // prefix, characters, NUL
  out[0] = kStringPrefix;
  std::copy(s.begin(), s.end(), out.begin() + 1);
  return out;
}

Bytes name(std::string_view name, const Bytes& object) {
  Bytes out{kNameOp};
  append(out, name_string(name));
  append(out, object);
  return out;
}

Bytes package(std::initializer_list<Bytes> elements) {
  assert(elements.size() <= 255);
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const auto& e : elements) append(body, e);
  return with_pkg_length({kPackageOp}, body);
}

Bytes buffer(std::span<const uint8_t> data) {
  Bytes body = integer(data.size());
  body.insert(body.end(), data.begin(), data.end());
  return with_pkg_length({kBufferOp}, body);
}

Bytes scope(std::string_view name, const std::vector<Bytes>& terms) {
  Bytes body = name_string(name);
  for (const auto& t : terms) append(body, t);
  return with_pkg_length({kScopeOp}, body);
}

Bytes device(std::string_view name, const std::vector<Bytes>& terms) {
  Bytes body = name_string(name);
  for (const auto& t : terms) append(body, t);
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, body);
}

Bytes io_port_descriptor(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  // Small item, type 0x08, 7 data bytes; information bit 0 = decodes 16 address bits.
  Bytes out;
  ByteWriter w(out);
  w.u8(0x47);
  w.u8(0x01);
  w.u16(min);
  w.u16(max);
  w.u8(alignment);
  w.u8(length);
  return out;
}

Bytes irq_descriptor(unsigned irq) {
  // Small item, type 0x04, 2 data bytes (a 16-bit IRQ mask): edge, active high.
  assert(irq < 16);
  Bytes out;
  ByteWriter w(out);
  w.u8(0x22);
  w.u16(static_cast<uint16_t>(1u << irq));
  return out;
}

Bytes memory32_fixed_descriptor(uint32_t base, uint32_t length) {
  // Large item 0x86, 9 data bytes: information (bit 0: read-write), base, length.
  Bytes out;
  ByteWriter w(out);
  w.u8(0x86);
  w.u16(9);
  w.u8(0x01);
  w.u32(base);
  w.u32(length);
  return out;
}

Bytes extended_interrupt_descriptor(uint32_t gsi) {
  // Large item 0x89: flags (bit 0 consumer, bit 1 edge, bit 2 active low, bit 3
  // shared), the count of interrupts, then each as a DWord.
  Bytes out;
  ByteWriter w(out);
  w.u8(0x89);
  w.u16(6);
  w.u8(0x03);
  w.u8(1);
  w.u32(gsi);
  return out;
}

namespace {

// Address space descriptors: large items 0x88 (Word), 0x87 (DWord) and 0x8a (QWord), each
// with the resource type, general flags and type-specific flags, then granularity,
// minimum, maximum, translation offset and length in the descriptor's width.
enum class ResourceType : uint8_t { kMemory = 0, kIo = 1, kBusNumber = 2 };
// General flags: bit 3 _MAF (max fixed), bit 2 _MIF (min fixed), bit 1 _DEC (0: positive
// decode), bit 0 (0: the device produces the range for its children).
constexpr uint8_t kProducerMinMaxFixed = (1u << 3) | (1u << 2);
// I/O type-specific flags: _RNG (bits 0-1) 3 = both ISA and non-ISA ranges.
constexpr uint8_t kIoEntireRange = 0x03;
// Memory type-specific flags: bit 0 _RW (1: read-write), bits 1-2 _MEM (caching),
// bits 3-4 _MTP 0 (AddressRangeMemory), bit 5 _TTP 0.
constexpr uint8_t kMemReadWrite = 0x01;
constexpr uint8_t memory_flags(MemoryCaching caching) {
  return static_cast<uint8_t>(kMemReadWrite | (static_cast<uint8_t>(caching) << 1));
}

// `width` is 2, 4 or 8 bytes; the item's length counts the bytes after its 3-byte header.
Bytes address_space_descriptor(uint8_t tag, int width, ResourceType type, uint8_t type_flags,
                               uint64_t min, uint64_t max) {
  assert(min <= max);
  const uint64_t len = max - min + 1;
  assert(width == 8 ? len != 0 : len <= (uint64_t{1} << (8 * width)) - 1);
  auto put = [width](ByteWriter& w, uint64_t v) {
    if (width == 2) w.u16(static_cast<uint16_t>(v));
    if (width == 4) w.u32(static_cast<uint32_t>(v));
    if (width == 8) w.u64(v);
  };
  Bytes out;
  ByteWriter w(out);
  w.u8(tag);
  w.u16(static_cast<uint16_t>(3 + 5 * width));
  w.u8(static_cast<uint8_t>(type));
  w.u8(kProducerMinMaxFixed);
  w.u8(type_flags);
  put(w, 0);  // granularity
  put(w, min);
  put(w, max);
  put(w, 0);  // translation offset
  put(w, len);
  return out;
}

}  // namespace

Bytes word_bus_number_descriptor(uint16_t min, uint16_t max) {
  return address_space_descriptor(0x88, 2, ResourceType::kBusNumber, 0, min, max);
}

Bytes word_io_descriptor(uint16_t min, uint16_t max) {
  return address_space_descriptor(0x88, 2, ResourceType::kIo, kIoEntireRange, min, max);
}

Bytes dword_memory_descriptor(uint32_t min, uint32_t max, MemoryCaching caching) {
  return address_space_descriptor(0x87, 4, ResourceType::kMemory, memory_flags(caching), min,
                                  max);
}

Bytes qword_memory_descriptor(uint64_t min, uint64_t max, MemoryCaching caching) {
  return address_space_descriptor(0x8a, 8, ResourceType::kMemory, memory_flags(caching), min,
                                  max);
}

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes data;
  for (const auto& d : descriptors) append(data, d);
  data.push_back(0x79);  // End tag: small item type 0x0f, 1 data byte
  data.push_back(0x00);  // checksum 0: "the resource data is treated as checksummed"
  return buffer(data);
}

}  // namespace aml

}  // namespace vireo::arch::x86
