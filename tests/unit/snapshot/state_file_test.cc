// The state file format: a round trip, and each way a reader refuses a file.
#include "snapshot/state_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <xxhash.h>

namespace vireo::snapshot {
namespace {

const KnownKinds kKnown{{"vm-config", 1}, {"serial", 2}, {"device-state", kAnyVersion}};

StateFile sample() {
  StateFile f;
  f.sections.push_back({"vm", "vm-config", 1, {1, 2, 3, 4}});
  f.sections.push_back({"device/com1", "serial", 2, std::vector<uint8_t>(300, 0xab)});
  f.sections.push_back({"device/rtc", "device-state", 7, {}});
  return f;
}

// Puts a valid checksum on bytes changed on purpose (to reach the checks after it).
void reseal(std::vector<uint8_t>& b) {
  const uint64_t sum = XXH64(b.data(), b.size() - 8, 0);
  for (int i = 0; i < 8; ++i) b[b.size() - 8 + static_cast<size_t>(i)] = static_cast<uint8_t>(sum >> (8 * i));
}

std::string refusal(std::span<const uint8_t> bytes) {
  auto r = decode_state_file(bytes, kKnown);
  if (r.ok()) return "(accepted)";
  return r.error().message();
}

TEST(StateFile, RoundTrip) {
  const StateFile f = sample();
  const auto bytes = encode_state_file(f);
  auto back = decode_state_file(bytes, kKnown);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, f);
  EXPECT_EQ(back->vireo_version, VIREO_VERSION);
}

TEST(StateFile, EmptyFileRoundTrips) {
  auto back = decode_state_file(encode_state_file(StateFile{}), kKnown);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(back->sections.empty());
}

TEST(StateFile, RefusesBadMagic) {
  auto b = encode_state_file(sample());
  b[0] = 'X';
  EXPECT_NE(refusal(b).find("does not start like one"), std::string::npos) << refusal(b);
  const std::vector<uint8_t> elf = {0x7f, 'E', 'L', 'F'};
  EXPECT_NE(refusal(elf).find("does not start like one"), std::string::npos) << refusal(elf);
  EXPECT_NE(refusal({}).find("truncated"), std::string::npos) << refusal({});
}

TEST(StateFile, RefusesAnotherMajor) {
  StateFile f = sample();
  f.major = kFormatMajor + 1;
  const auto b = encode_state_file(f);
  EXPECT_NE(refusal(b).find(fmt::format("its format is {}.0", kFormatMajor + 1)), std::string::npos)
      << refusal(b);
}

TEST(StateFile, AcceptsOlderMinorRefusesNewer) {
  StateFile f = sample();
  f.minor = kFormatMinor + 1;
  f.vireo_version = "9.9.9";
  const auto b = encode_state_file(f);
  const std::string why = refusal(b);
  EXPECT_NE(why.find("newer than this vireo"), std::string::npos) << why;
  EXPECT_NE(why.find("restore it with vireo 9.9.9 or newer"), std::string::npos) << why;
}

TEST(StateFile, RefusesBadChecksum) {
  auto b = encode_state_file(sample());
  b[b.size() / 2] ^= 1;  // a bit in the sections
  EXPECT_NE(refusal(b).find("damaged (checksum"), std::string::npos) << refusal(b);
  auto t = encode_state_file(sample());
  t.back() ^= 0x80;  // the trailer itself
  EXPECT_NE(refusal(t).find("damaged (checksum"), std::string::npos) << refusal(t);
}

TEST(StateFile, RefusesTruncatedAtEveryLength) {
  const auto b = encode_state_file(sample());
  for (size_t n = 1; n < b.size(); ++n) {
    const std::string why = refusal(std::span(b).first(n));
    EXPECT_NE(why.find("truncated"), std::string::npos) << n << " bytes: " << why;
  }
}

TEST(StateFile, RefusesTrailingBytes) {
  auto b = encode_state_file(sample());
  b.push_back(0);
  EXPECT_NE(refusal(b).find("after its end"), std::string::npos) << refusal(b);
}

TEST(StateFile, RefusesUnknownKind) {
  StateFile f = sample();
  f.vireo_version = "0.7.0";
  f.sections.push_back({"gpu0", "virtio-gpu", 1, {}});
  const std::string why = refusal(encode_state_file(f));
  EXPECT_NE(why.find("section 'gpu0' is of kind 'virtio-gpu'"), std::string::npos) << why;
  EXPECT_NE(why.find("restore it with vireo 0.7.0"), std::string::npos) << why;
}

TEST(StateFile, RefusesNewerSectionVersion) {
  StateFile f = sample();
  f.sections[1].version = 3;
  const std::string why = refusal(encode_state_file(f));
  EXPECT_NE(why.find("section 'device/com1' (serial) is version 3"), std::string::npos) << why;
  f.sections[1].version = 1;  // older: the section's decoder handles it
  EXPECT_EQ(refusal(encode_state_file(f)), "(accepted)");
}

TEST(StateFile, RefusesDuplicateSection) {
  StateFile f = sample();
  f.sections.push_back(f.sections[0]);
  const std::string why = refusal(encode_state_file(f));
  EXPECT_NE(why.find("section 'vm' twice"), std::string::npos) << why;
}

// Lengths inside a well-sealed file that point past its end: refused, not read.
TEST(StateFile, RefusesLyingLengths) {
  StateFile f;
  f.sections.push_back({"vm", "vm-config", 1, {1, 2, 3, 4}});
  const auto good = encode_state_file(f);
  // The section's u64 length sits 12 bytes before its 4 payload bytes and the trailer.
  auto b = good;
  const size_t len_at = b.size() - 8 - 4 - 8;
  b[len_at] = 0xff;
  b[len_at + 5] = 0x7f;
  reseal(b);
  EXPECT_NE(refusal(b).find("claims"), std::string::npos) << refusal(b);
  // The section count.
  auto c = good;
  const size_t body_at = 8 + 2 + 2 + 4 + std::strlen(VIREO_VERSION) + 8;
  c[body_at + 3] = 0x10;
  reseal(c);
  EXPECT_NE(refusal(c).find("claims"), std::string::npos) << refusal(c);
}

}  // namespace
}  // namespace vireo::snapshot
