// Command-line parsing for `vireo`: turns argv into a VmConfig or an answer to print.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vmm/config.h"

namespace vireo::cli {

struct ParsedCommand {
  // Set when a VM should run; otherwise print `out`/`err` and exit with `exit_code`.
  std::optional<vmm::VmConfig> run;
  std::string out;
  std::string err;  // one line, without the trailing newline
  int exit_code = 0;
};

// `args` excludes the program name.
ParsedCommand parse_command_line(const std::vector<std::string>& args);

}  // namespace vireo::cli
