// Reading whole files (kernel images, initrds) into memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace vireo {

// Reads the whole regular file at `path`. `what` names the file in errors:
// read_file("/x", "kernel") fails with "cannot read kernel '/x': No such file or directory".
Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what);

// Creates or truncates `path` and writes `text` to it.
Result<void> write_file(const std::string& path, std::string_view text);

}  // namespace vireo
