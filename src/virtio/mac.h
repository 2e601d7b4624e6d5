// MAC addresses of virtio-net interfaces: parsed, printed, derived.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace vireo::virtio {

using MacAddress = std::array<uint8_t, 6>;

// "52:54:00:12:34:56" -> bytes; a multicast address is refused.
Result<MacAddress> parse_mac(std::string_view text);
std::string format_mac(const MacAddress& mac);
// A locally administered unicast MAC that stays the same for the same id and tap.
MacAddress derived_mac(std::string_view id, std::string_view tap);

}  // namespace vireo::virtio
