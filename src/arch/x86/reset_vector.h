// vireo boots kernels directly and has no BIOS, but a guest may still jump to the BIOS's
// reset entry, F000:FFF0 in real mode: Linux does for its "BIOS" reboot method, which
// kernels built with EFI support take by default on hardware-reduced ACPI machines like
// ours when there is no EFI (arch/x86/kernel/reboot.c: BOOT_EFI falls through to
// BOOT_BIOS). With nothing there the vCPU would run through zeroed memory for ever.
// A few real-mode instructions there do what a BIOS's reset path ends in: pulse the
// reset line through the i8042, so vireo ends (or restarts) the VM as for any reset.
#pragma once

#include <array>
#include <cstdint>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// mov al, 0xfe; out 0x64, al (i8042: pulse reset); then cli; hlt; jmp back to the hlt.
inline constexpr std::array<uint8_t, 8> kResetVectorCode = {0xb0, 0xfe, 0xe6, 0x64,
                                                            0xfa, 0xf4, 0xeb, 0xfd};

// Writes kResetVectorCode at layout::kBiosResetEntry (reserved in the e820 map).
Result<void> write_reset_vector(const memory::GuestMemory& mem);

}  // namespace vireo::arch::x86
