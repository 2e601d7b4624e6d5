#include "util/symbol_map.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "util/file.h"

namespace vireo {

SymbolMap SymbolMap::parse(std::string_view text) {
  SymbolMap m;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    // "<hex address> <type letter> <name>"; only code (t/T/w/W) symbols.
    size_t s1 = line.find(' ');
    if (s1 == std::string_view::npos || s1 + 3 > line.size() || line[s1 + 2] != ' ') continue;
    char type = line[s1 + 1];
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    uint64_t addr = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + s1, addr, 16);
    if (ec != std::errc() || p != line.data() + s1) continue;
    m.entries_.emplace_back(addr, std::string(line.substr(s1 + 3)));
  }
  std::stable_sort(m.entries_.begin(), m.entries_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return m;
}

Result<SymbolMap> SymbolMap::load(const std::string& path) {
  VIREO_ASSIGN_OR_RETURN(auto bytes, read_file(path, "symbol map"));
  auto m = parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (m.size() == 0) return Error(fmt::format("symbol map '{}': no code symbols", path));
  return m;
}

std::optional<SymbolMap::Symbol> SymbolMap::lookup(uint64_t addr) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const auto& e) { return a < e.first; });
  if (it == entries_.begin()) return std::nullopt;
  --it;
  if (addr - it->first > (1u << 20)) return std::nullopt;
  return Symbol{it->second, addr - it->first};
}

}  // namespace vireo
