// Conversions between KVM's register structures and the instruction emulator's.
#pragma once

#include <linux/kvm.h>

#include "arch/x86/emulator/cpu_state.h"

namespace vireo::vmm {

arch::x86::emu::Regs to_emu(const kvm_regs& r);
kvm_regs from_emu(const arch::x86::emu::Regs& e);
arch::x86::emu::Segment to_emu(const kvm_segment& s);
arch::x86::emu::SystemRegs to_emu(const kvm_sregs& s, uint64_t xcr0);

}  // namespace vireo::vmm
