#include "util/size.h"

#include <cctype>
#include <fmt/format.h>

namespace vireo {

Result<uint64_t> parse_size(std::string_view text, uint64_t default_unit) {
  auto bad = [&](const char* why) {
    return Error(fmt::format("invalid size '{}': {}", text, why));
  };
  if (text.empty()) return bad("empty");
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - d) / 10) return bad("too large");
    value = value * 10 + d;
    ++i;
  }
  if (i == 0) return bad("expected a number, optionally followed by K, M, G or T");
  std::string suffix;
  for (; i < text.size(); ++i) suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
  uint64_t unit = default_unit;
  if (suffix.empty()) {
  } else if (suffix == "B") {
    unit = 1;
  } else {
    std::string_view s = suffix;
    if (s.size() == 3 && s.substr(1) == "IB") s = s.substr(0, 1);
    else if (s.size() == 2 && s[1] == 'B') s = s.substr(0, 1);
    if (s == "K") unit = 1ull << 10;
    else if (s == "M") unit = 1ull << 20;
    else if (s == "G") unit = 1ull << 30;
    else if (s == "T") unit = 1ull << 40;
    else return bad("unknown suffix (use K, M, G or T)");
  }
  if (value > UINT64_MAX / unit) return bad("too large");
  return value * unit;
}

std::string format_size(uint64_t bytes) {
  const char* units[] = {"T", "G", "M", "K"};
  const int shifts[] = {40, 30, 20, 10};
  for (int i = 0; i < 4; ++i) {
    uint64_t u = 1ull << shifts[i];
    if (bytes >= u && bytes % u == 0) return fmt::format("{}{}", bytes / u, units[i]);
  }
  return fmt::format("{}", bytes);
}

}  // namespace vireo
