#include "snapshot/state_file.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cstring>
#include <set>

#include "util/state_codec.h"

namespace vireo::snapshot {

namespace {

constexpr size_t kMaxVersionString = 256;
constexpr size_t kMaxId = 256;
constexpr size_t kMaxKind = 64;
constexpr size_t kTrailerSize = 8;
// The fixed part of a section: two empty strings, version, length.
constexpr size_t kMinSectionSize = 4 + 4 + 4 + 8;

uint64_t checksum(std::span<const uint8_t> data) { return XXH64(data.data(), data.size(), 0); }

std::string printable(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t c : b) s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
  return s;
}

Error refuse(std::string why) { return Error("cannot read the state file: " + std::move(why)); }

}  // namespace

std::vector<uint8_t> encode_state_file(const StateFile& file) {
  StateWriter body;
  body.u32(static_cast<uint32_t>(file.sections.size()));
  for (const auto& s : file.sections) {
    body.string(s.id);
    body.string(s.kind);
    body.u32(s.version);
    body.u64(s.bytes.size());
    body.raw(s.bytes);
  }
  const std::vector<uint8_t> b = body.take();

  StateWriter w;
  for (char c : kStateFileMagic) w.u8(static_cast<uint8_t>(c));
  w.u16(file.major);
  w.u16(file.minor);
  w.string(file.vireo_version);
  w.u64(b.size());
  w.raw(b);
  std::vector<uint8_t> out = w.take();
  const uint64_t sum = checksum(out);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(sum >> (8 * i)));
  return out;
}

Result<StateFile> decode_state_file(std::span<const uint8_t> data, const KnownKinds& known) {
  const size_t magic_len = std::min(data.size(), sizeof kStateFileMagic);
  if (magic_len && std::memcmp(data.data(), kStateFileMagic, magic_len) != 0)
    return refuse(fmt::format("it does not start like one ('{}'): is it the right file?",
                              printable(data.first(std::min<size_t>(data.size(), 8)))));
  StateReader r(data, "the state file");
  StateFile f;
  auto header = [&]() -> Result<void> {
    VIREO_TRY(r.raw(sizeof kStateFileMagic));
    VIREO_ASSIGN_OR_RETURN(f.major, r.u16());
    VIREO_ASSIGN_OR_RETURN(f.minor, r.u16());
    return {};
  };
  if (auto h = header(); !h.ok())
    return refuse(fmt::format("it is truncated ({} bytes): was it copied completely?", data.size()));
  if (f.major != kFormatMajor)
    return refuse(fmt::format(
        "its format is {}.{}, and this vireo ({}) reads format {} only: restore it with the "
        "vireo release that took it",
        f.major, f.minor, VIREO_VERSION, kFormatMajor));
  auto version = r.string(kMaxVersionString);
  auto body_len = version.ok() ? r.u64() : Result<uint64_t>(version.error());
  if (!body_len.ok())
    return refuse(fmt::format("it is truncated ({} bytes): was it copied completely?", data.size()));
  f.vireo_version = *version;
  if (f.minor > kFormatMinor)
    return refuse(fmt::format(
        "it was written by vireo {} in format {}.{}, newer than this vireo ({}) reads ({}.{}): "
        "restore it with vireo {} or newer",
        f.vireo_version, f.major, f.minor, VIREO_VERSION, kFormatMajor, kFormatMinor,
        f.vireo_version));
  const size_t body_at = r.position();
  if (*body_len > r.remaining() || r.remaining() - *body_len < kTrailerSize)
    return refuse(fmt::format("it is truncated ({} bytes of {}): was it copied completely?",
                              data.size(),
                              *body_len > data.size() ? std::string("more")
                                                      : std::to_string(body_at + *body_len +
                                                                       kTrailerSize)));
  if (r.remaining() - *body_len > kTrailerSize)
    return refuse(fmt::format("it has {} bytes after its end: is it the right file?",
                              r.remaining() - *body_len - kTrailerSize));
  const size_t trailer_at = body_at + *body_len;
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t{data[trailer_at + static_cast<size_t>(i)]} << (8 * i);
  const uint64_t actual = checksum(data.first(trailer_at));
  if (stored != actual)
    return refuse(fmt::format(
        "it is damaged (checksum {:#018x}, its contents give {:#018x}): use an intact copy or "
        "take the snapshot again",
        stored, actual));

  StateReader body(data.subspan(body_at, *body_len), "the state file's sections");
  VIREO_ASSIGN_OR_RETURN(uint32_t count, body.u32());
  if (count > body.remaining() / kMinSectionSize)
    return refuse(fmt::format("it claims {} sections in {} bytes: it was not written by vireo",
                              count, body.remaining()));
  std::set<std::string, std::less<>> ids;
  for (uint32_t i = 0; i < count; ++i) {
    Section s;
    auto one = [&]() -> Result<void> {
      VIREO_ASSIGN_OR_RETURN(s.id, body.string(kMaxId));
      VIREO_ASSIGN_OR_RETURN(s.kind, body.string(kMaxKind));
      VIREO_ASSIGN_OR_RETURN(s.version, body.u32());
      VIREO_ASSIGN_OR_RETURN(uint64_t len, body.u64());
      if (len > body.remaining())
        return Error(fmt::format("section '{}' claims {} bytes, {} are left", s.id, len,
                                 body.remaining()));
      VIREO_ASSIGN_OR_RETURN(auto b, body.raw(static_cast<size_t>(len)));
      s.bytes.assign(b.begin(), b.end());
      return {};
    };
    if (auto r1 = one(); !r1.ok())
      return refuse(fmt::format("section {}: {}: it was not written by vireo", i,
                                r1.error().message()));
    if (!ids.insert(s.id).second)
      return refuse(fmt::format("it has section '{}' twice: it was not written by vireo, or is "
                                "damaged; take the snapshot again",
                                s.id));
    auto k = known.find(s.kind);
    if (k == known.end())
      return refuse(fmt::format(
          "section '{}' is of kind '{}', which this vireo ({}) does not know: restore it with "
          "vireo {}, which took it",
          s.id, s.kind, VIREO_VERSION, f.vireo_version));
    if (k->second != kAnyVersion && s.version > k->second)
      return refuse(fmt::format(
          "section '{}' ({}) is version {}, and this vireo ({}) reads version {} at most: "
          "restore it with vireo {}, which took it",
          s.id, s.kind, s.version, VIREO_VERSION, k->second, f.vireo_version));
    f.sections.push_back(std::move(s));
  }
  if (auto fin = body.finish(); !fin.ok()) return refuse(fin.error().message());
  return f;
}

}  // namespace vireo::snapshot
