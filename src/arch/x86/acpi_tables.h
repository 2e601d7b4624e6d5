// Building blocks for firmware tables: a little-endian byte writer, byte checksums, the
// ACPI system description table (SDT) header, generic address structures, and a tiny
// AML encoder for the few objects vireo's DSDT needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace vireo::arch::x86 {

// Helpers shared by the ACPI and MP table builders.
namespace fw {

using Bytes = std::vector<uint8_t>;

// Sum of all bytes modulo 256. ACPI and MP tables are valid when their bytes sum to 0.
uint8_t byte_sum(std::span<const uint8_t> bytes);
// The value a checksum byte must hold (while it is still 0) for `bytes` to sum to 0.
uint8_t checksum_byte(std::span<const uint8_t> bytes);

// Appends little-endian values to a byte vector and patches them in place later.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}

  size_t size() const { return out_.size(); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  // Writes exactly `width` bytes: `s` truncated or padded with `pad`.
  void fixed_string(std::string_view s, size_t width, char pad = ' ');
  void zeros(size_t n) { out_.insert(out_.end(), n, 0); }

  void patch_u8(size_t at, uint8_t v) { patch_le(at, v, 1); }
  void patch_u16(size_t at, uint16_t v) { patch_le(at, v, 2); }
  void patch_u32(size_t at, uint32_t v) { patch_le(at, v, 4); }

 private:
  void put_le(uint64_t v, int n);
  void patch_le(size_t at, uint64_t v, int n);
  Bytes& out_;
};

}  // namespace fw

namespace acpi {

using fw::Bytes;
using fw::ByteWriter;

// Identification every vireo table carries.
inline constexpr std::string_view kOemId = "VIREO ";         // 6 bytes
inline constexpr std::string_view kOemTableId = "VIREOVM ";  // 8 bytes
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::string_view kCreatorId = "VIRO";       // 4 bytes
inline constexpr uint32_t kCreatorRevision = 1;

// SDT header layout (ACPI 6.x, 5.2.6).
inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kHeaderLengthOffset = 4;
inline constexpr size_t kHeaderRevisionOffset = 8;
inline constexpr size_t kHeaderChecksumOffset = 9;

// Appends a 36-byte SDT header with length and checksum left 0.
void begin_table(Bytes& table, std::string_view signature, uint8_t revision);
// Stores the table's length and checksum; `table` must hold exactly one table.
void finish_table(Bytes& table);

// Generic Address Structure (ACPI 6.x, 5.2.3.2).
enum class AddressSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
enum class AccessSize : uint8_t { kUndefined = 0, kByte = 1, kWord = 2, kDword = 3, kQword = 4 };
struct GenericAddress {
  AddressSpace space = AddressSpace::kSystemMemory;
  uint8_t bit_width = 0;
  uint8_t bit_offset = 0;
  AccessSize access_size = AccessSize::kUndefined;
  uint64_t address = 0;
};
inline constexpr size_t kGasSize = 12;
void put_gas(ByteWriter& w, const GenericAddress& gas);
// An 8-bit I/O port register accessed with byte accesses.
constexpr GenericAddress io_port_byte(uint16_t port) {
  return {AddressSpace::kSystemIo, 8, 0, AccessSize::kByte, port};
}

}  // namespace acpi

// A minimal AML encoder (ACPI 6.x, chapter 20). Each function returns the encoded bytes
// of one term; nest them to build a definition block body. Names are ACPI name strings
// such as "_S5_", "_SB_.COM1" or "\\_SB_"; segments shorter than 4 characters are
// padded with '_'.
namespace aml {

using fw::Bytes;
using fw::ByteWriter;

inline constexpr uint8_t kZeroOp = 0x00;
inline constexpr uint8_t kOneOp = 0x01;
inline constexpr uint8_t kNameOp = 0x08;
inline constexpr uint8_t kBytePrefix = 0x0a;
inline constexpr uint8_t kWordPrefix = 0x0b;
inline constexpr uint8_t kDwordPrefix = 0x0c;
inline constexpr uint8_t kStringPrefix = 0x0d;
inline constexpr uint8_t kQwordPrefix = 0x0e;
inline constexpr uint8_t kScopeOp = 0x10;
inline constexpr uint8_t kBufferOp = 0x11;
inline constexpr uint8_t kPackageOp = 0x12;
inline constexpr uint8_t kExtOpPrefix = 0x5b;
inline constexpr uint8_t kDeviceOp = 0x82;  // after kExtOpPrefix
inline constexpr uint8_t kRootChar = '\\';
inline constexpr uint8_t kDualNamePrefix = 0x2e;
inline constexpr uint8_t kMultiNamePrefix = 0x2f;
inline constexpr uint8_t kOnesOp = 0xff;

// PkgLength for a package whose contents after the PkgLength are `payload` bytes long
// (the encoded length counts its own 1-4 bytes). Payloads must be below 2^28 - 4.
Bytes pkg_length(size_t payload);
// NameString: optional root prefix, then one, two (DualNamePrefix) or more
// (MultiNamePrefix) 4-character segments separated by '.'.
Bytes name_string(std::string_view name);
// The shortest integer encoding: ZeroOp, OneOp, or a Byte/Word/DWord/QWord constant.
Bytes integer(uint64_t value);
// EISA ID ("PNP0501") as the compressed DWordConst _HID/_CID values use.
Bytes eisa_id(std::string_view id);
// A String object ("LNRO0005"): StringPrefix, the ASCII characters, a NUL.
Bytes string(std::string_view s);

// Name(name, object)
Bytes name(std::string_view name, const Bytes& object);
// Package() {elements...}: each element is an encoded data object. At most 255.
Bytes package(std::initializer_list<Bytes> elements);
// Buffer() {data}
Bytes buffer(std::span<const uint8_t> data);
// Scope(name) {terms}
Bytes scope(std::string_view name, const std::vector<Bytes>& terms);
// Device(name) {terms}
Bytes device(std::string_view name, const std::vector<Bytes>& terms);

// Resource descriptors (ACPI 6.x, 6.4) for _CRS buffers.
// IO(Decode16, min, max, alignment, length)
Bytes io_port_descriptor(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
// IRQNoFlags() {irq}: edge triggered, active high, exclusive.
Bytes irq_descriptor(unsigned irq);
// Memory32Fixed(ReadWrite, base, length)
Bytes memory32_fixed_descriptor(uint32_t base, uint32_t length);
// Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi}: any GSI, not only 0-15.
Bytes extended_interrupt_descriptor(uint32_t gsi);
// Address space descriptors (ACPI 6.x, 6.4.3.5) for the ranges a bridge passes on to its
// children: ResourceProducer, PosDecode, MinFixed, MaxFixed, granularity 0, no
// translation, no resource source; the length is max - min + 1 (min <= max, and the
// length must fit the descriptor's width).
// WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, len)
Bytes word_bus_number_descriptor(uint16_t min, uint16_t max);
// WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, len)
Bytes word_io_descriptor(uint16_t min, uint16_t max);
// The _MEM field of a memory range's type-specific flags.
enum class MemoryCaching : uint8_t {
  kNonCacheable = 0,
  kCacheable = 1,
  kWriteCombining = 2,
  kPrefetchable = 3,
};
// DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, 0,
//             min, max, 0, len)
Bytes dword_memory_descriptor(uint32_t min, uint32_t max, MemoryCaching caching);
// QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, 0,
//             min, max, 0, len)
Bytes qword_memory_descriptor(uint64_t min, uint64_t max, MemoryCaching caching);
// ResourceTemplate() {descriptors}: the descriptors plus the end tag, as a Buffer.
Bytes resource_template(const std::vector<Bytes>& descriptors);

}  // namespace aml

}  // namespace vireo::arch::x86
