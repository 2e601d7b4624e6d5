#include "vmm/insn_assist.h"

#include "vmm/kvm_emu_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "arch/x86/emulator/assist.h"
#include "arch/x86/emulator/decoder.h"
#include "arch/x86/emulator/describe.h"
#include "arch/x86/emulator/guest_phys_memory.h"

namespace vireo::vmm {

namespace emu = arch::x86::emu;

void AssistStats::record(const std::string& insn, std::chrono::nanoseconds t) {
  std::lock_guard lock(mu_);
  auto& e = entries_[insn];
  ++e.count;
  e.time += t;
}

std::map<std::string, AssistStats::Entry> AssistStats::snapshot() const {
  std::lock_guard lock(mu_);
  return entries_;
}

uint64_t AssistStats::total_count() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [k, e] : entries_) n += e.count;
  return n;
}

std::chrono::nanoseconds AssistStats::total_time() const {
  std::lock_guard lock(mu_);
  std::chrono::nanoseconds t{0};
  for (const auto& [k, e] : entries_) t += e.time;
  return t;
}

std::string AssistStats::report(std::chrono::nanoseconds wall) const {
  auto entries = snapshot();
  if (entries.empty()) return "";
  std::chrono::nanoseconds total{0};
  uint64_t count = 0;
  for (const auto& [k, e] : entries) {
    total += e.time;
    count += e.count;
  }
  std::string out = fmt::format(
      "vireo: instruction assists (confirms the host emulates guest kernel mode): {} in {:.3f} ms ({:.3f}% of {:.2f} s run time)\n", count,
      static_cast<double>(total.count()) / 1e6,
      wall.count() > 0 ? 100.0 * static_cast<double>(total.count()) / static_cast<double>(wall.count()) : 0.0,
      static_cast<double>(wall.count()) / 1e9);
  std::vector<std::pair<std::string, Entry>> sorted(entries.begin(), entries.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  for (const auto& [k, e] : sorted)
    out += fmt::format("vireo:   {:>8}  {:9.1f} us  {}\n", e.count,
                       static_cast<double>(e.time.count()) / 1e3, k);
  return out;
}

namespace {

const char* mode_name(const kvm_sregs& s) {
  if (!(s.cr0 & 1)) return "real mode";
  if (s.efer & (1u << 10)) return s.cs.l ? "64-bit mode" : "compatibility mode";
  return "protected mode";
}

}  // namespace

Result<void> InsnAssist::handle(const kvm::VcpuFd& vcpu) {
  auto start = std::chrono::steady_clock::now();
  const kvm_run* run = vcpu.run_struct();
  const auto& ef = run->emulation_failure;
  if (run->emulation_failure.ndata < 2 ||
      !(ef.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
    return Error("the host could not emulate an instruction and did not say which");
  std::span<const uint8_t> bytes(ef.insn_bytes, std::min<size_t>(ef.insn_size, 15));

  VIREO_ASSIGN_OR_RETURN(kvm_regs kregs, vcpu.get_regs());
  VIREO_ASSIGN_OR_RETURN(kvm_sregs ksregs, vcpu.get_sregs());
  emu::Regs regs = to_emu(kregs);
  emu::SystemRegs sregs = to_emu(ksregs, 1);
  auto decoded = emu::decode(bytes, emu::cpu_mode(sregs, regs.rflags));
  // XCR0 (one more ioctl) only for XGETBV, the one instruction that reads it.
  if (decoded.ok() && decoded.insn.map == emu::OpcodeMap::k0F && decoded.insn.opcode == 0x01 &&
      decoded.insn.modrm == 0xd0) {
    if (auto xcrs = vcpu.get_xcrs(); xcrs.ok())
      for (uint32_t i = 0; i < xcrs->nr_xcrs && i < KVM_MAX_XCRS; ++i)
        if (xcrs->xcrs[i].xcr == 0) sregs.xcr0 = xcrs->xcrs[i].value;
  }
  std::string what = decoded.ok() ? emu::describe_short(decoded.insn)
                                  : fmt::format("undecodable [{}]", emu::hex_bytes(bytes));
  auto where = [&] {
    return fmt::format("{} [{}] at RIP {:#x} (CS {:#x}, {}, CPL {})", what, emu::hex_bytes(bytes),
                       kregs.rip, ksregs.cs.selector, mode_name(ksregs), ksregs.cs.dpl);
  };

  // MXCSR lives in the FPU state: fetched only for the instructions that use it.
  const bool uses_mxcsr = decoded.ok() && decoded.insn.map == emu::OpcodeMap::k0F &&
                          decoded.insn.opcode == 0xae && decoded.insn.mod != 3 &&
                          (decoded.insn.reg & 7) >= 2 && (decoded.insn.reg & 7) <= 3;
  uint32_t mxcsr = 0;
  if (uses_mxcsr) {
    VIREO_ASSIGN_OR_RETURN(mxcsr, vcpu.get_mxcsr());
    sregs.mxcsr = mxcsr;
  }

  emu::GuestMemoryPhys phys(mem_);
  emu::AssistResult result = emu::assist_bytes(bytes, regs, sregs, phys, features_);

  if (auto* u = std::get_if<emu::Unsupported>(&result))
    return Error(fmt::format("cannot complete {}: {}", where(), u->reason));

  if (auto* done = std::get_if<emu::Completed>(&result)) {
    if (uses_mxcsr && sregs.mxcsr != mxcsr) VIREO_TRY(vcpu.set_mxcsr(sregs.mxcsr));
    VIREO_TRY(vcpu.set_regs(from_emu(regs)));
    if (done->single_step_trap) {
      // RFLAGS.TF was set: the single-step trap the CPU raises after the instruction.
      VIREO_ASSIGN_OR_RETURN(kvm_debugregs dr, vcpu.get_debugregs());
      dr.dr6 |= 1u << 14;  // BS
      VIREO_TRY(vcpu.set_debugregs(dr));
      VIREO_ASSIGN_OR_RETURN(kvm_vcpu_events ev, vcpu.get_vcpu_events());
      ev.exception.injected = 1;
      ev.exception.nr = 1;
      ev.exception.has_error_code = 0;
      ev.exception.error_code = 0;
      VIREO_TRY(vcpu.set_vcpu_events(ev));
    }
  } else if (auto* ex = std::get_if<emu::InjectException>(&result)) {
    if (ex->cr2) {
      ksregs.cr2 = *ex->cr2;
      VIREO_TRY(vcpu.set_sregs(ksregs));
    }
    VIREO_ASSIGN_OR_RETURN(kvm_vcpu_events ev, vcpu.get_vcpu_events());
    ev.exception.injected = 1;
    ev.exception.nr = ex->vector;
    ev.exception.has_error_code = ex->error_code.has_value();
    ev.exception.error_code = ex->error_code.value_or(0);
    VIREO_TRY(vcpu.set_vcpu_events(ev));
  } else if (auto* sw = std::get_if<emu::InjectSoftware>(&result)) {
    VIREO_TRY(vcpu.set_regs(from_emu(regs)));  // RIP past the instruction
    VIREO_ASSIGN_OR_RETURN(kvm_vcpu_events ev, vcpu.get_vcpu_events());
    if (sw->kind == emu::SoftwareKind::kSoftInterrupt) {
      ev.interrupt.injected = 1;
      ev.interrupt.nr = sw->vector;
      ev.interrupt.soft = 1;
    } else {
      ev.exception.injected = 1;
      ev.exception.nr = sw->vector;
      ev.exception.has_error_code = 0;
      ev.exception.error_code = 0;
    }
    VIREO_TRY(vcpu.set_vcpu_events(ev));
  }
  stats_.record(what, std::chrono::steady_clock::now() - start);
  return {};
}

}  // namespace vireo::vmm
