// The state file: everything stateful of a VM but its memory, as sections.
//
//   header   magic "VIREOST\n", format major u16, minor u16, vireo version (string),
//            body length u64 (the bytes from here to the trailer)
//   body     section count u32, then per section: id (string), kind (string),
//            section version u32, length u64, the bytes
//   trailer  XXH64 (seed 0) of everything before it, u64
//
// Integers are little-endian, strings a u32 length and the bytes (util/state_codec.h).
// A section's id is unique in the file ("vm", "kvm/vcpu1", "device/com1"); its kind
// names the encoding that decodes it and its version that encoding's version, so one
// part of the state can change its encoding alone. A reader refuses a different major
// format, a newer minor one, a wrong checksum, a short file, a kind it does not know, a
// section version newer than it reads and a repeated id, each with a sentence saying
// what to do.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace vireo::snapshot {

inline constexpr char kStateFileMagic[8] = {'V', 'I', 'R', 'E', 'O', 'S', 'T', '\n'};
inline constexpr uint16_t kFormatMajor = 1;
inline constexpr uint16_t kFormatMinor = 0;

struct Section {
  std::string id;
  std::string kind;
  uint32_t version = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const Section&) const = default;
};

struct StateFile {
  uint16_t major = kFormatMajor;
  uint16_t minor = kFormatMinor;
  std::string vireo_version = VIREO_VERSION;  // of the vireo that wrote it
  std::vector<Section> sections;
  bool operator==(const StateFile&) const = default;
};

// The section kinds a reader decodes, each with the newest version it reads.
// kAnyVersion: the section's decoder checks the version itself (device states, whose
// section version is the device's own state version).
using KnownKinds = std::map<std::string, uint32_t, std::less<>>;
inline constexpr uint32_t kAnyVersion = UINT32_MAX;

std::vector<uint8_t> encode_state_file(const StateFile& file);
Result<StateFile> decode_state_file(std::span<const uint8_t> data, const KnownKinds& known);

}  // namespace vireo::snapshot
