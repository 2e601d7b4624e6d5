#include "virtio/mac.h"

#include <fmt/format.h>

namespace vireo::virtio {

Result<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac{};
  auto bad = [&] { return Error(fmt::format("'{}' is not a MAC address (like 52:54:00:12:34:56)", text)); };
  if (text.size() != 17) return bad();
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return bad();
    unsigned v = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = text[3 * i + k];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) return bad();
      v = v * 16 + static_cast<unsigned>(d);
    }
    mac[i] = static_cast<uint8_t>(v);
  }
  if (mac[0] & 1) return Error(fmt::format("MAC {} is a multicast address", text));
  return mac;
}

std::string format_mac(const MacAddress& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

MacAddress derived_mac(std::string_view id, std::string_view tap) {
  // FNV-1a over "id/tap": the same interface keeps its address across runs.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(id);
  mix("/");
  mix(tap);
  MacAddress mac{};
  mac[0] = 0x06;  // locally administered, unicast
  for (size_t i = 1; i < 6; ++i) mac[i] = static_cast<uint8_t>(h >> (8 * (i - 1)));
  return mac;
}

}  // namespace vireo::virtio
