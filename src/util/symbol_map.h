// SymbolMap: address -> symbol lookups from a Linux System.map ("<hex> <type> <name>").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace vireo {

class SymbolMap {
 public:
  struct Symbol {
    std::string name;
    uint64_t offset;  // from the symbol's address
  };

  static SymbolMap parse(std::string_view text);
  static Result<SymbolMap> load(const std::string& path);

  // The text symbol at or before `addr` (nullopt below the first one or past the last
  // one by more than 1 MiB).
  std::optional<Symbol> lookup(uint64_t addr) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<uint64_t, std::string>> entries_;  // sorted by address
};

}  // namespace vireo
