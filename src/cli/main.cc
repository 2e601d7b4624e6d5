// vireo: parse the command line, run the VM, exit with its status.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "vmm/runner.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cmd = vireo::cli::parse_command_line(args);
  if (!cmd.run) {
    std::fputs(cmd.out.c_str(), stdout);
    if (!cmd.err.empty()) std::fprintf(stderr, "vireo: %s\n", cmd.err.c_str());
    return cmd.exit_code;
  }
  return vireo::vmm::run_with_console(*cmd.run);
}
