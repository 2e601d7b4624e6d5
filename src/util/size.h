// Memory sizes on the command line: "512M", "2G", "65536K", "1048576".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace vireo {

// Parses a size with an optional K/M/G/T suffix (binary units, case-insensitive,
// optional trailing "B"/"iB"). A bare number is bytes... unless `default_unit` says MiB.
Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit = 1);

// 536870912 -> "512M", 1536 -> "1536", 3221225472 -> "3G".
std::string format_size(uint64_t bytes);

}  // namespace vireo
