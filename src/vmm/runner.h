// Runs a VM with its serial console on the terminal until it stops; handles signals,
// the console escape and restart on reboot. Returns the process exit status.
#pragma once

#include "vmm/config.h"

namespace vireo::vmm {

int run_with_console(const VmConfig& cfg);

}  // namespace vireo::vmm
