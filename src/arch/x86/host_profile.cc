#include "arch/x86/host_profile.h"

#include "util/file.h"

namespace vireo::arch::x86 {

namespace {

// The words of `text` (separated by white space, as `>>` into a string would split it),
// in order.
std::vector<std::string_view> words_of(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos < text.size()) {
    pos = text.find_first_not_of(kSpace, pos);
    if (pos == std::string_view::npos) break;
    size_t end = text.find_first_of(kSpace, pos);
    if (end == std::string_view::npos) end = text.size();
    words.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return words;
}

}  // namespace

HostProfile detect_host_profile(std::string_view text) {
  HostProfile p;
  p.hardware_virtualization = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("flags", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    for (std::string_view f : words_of(line.substr(colon + 1)))
      if (f == "vmx" || f == "svm") p.hardware_virtualization = true;
    break;  // the first CPU is enough
  }
  return p;
}

HostProfile detect_host_profile() {
  auto text = read_file("/proc/cpuinfo", "CPU information");
  if (!text.ok()) return HostProfile{};
  return detect_host_profile(
      std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
}

const std::vector<CmdlineSwitch>& emulated_host_switches() {
  using Kind = CmdlineSwitch::Kind;
  static const std::vector<CmdlineSwitch> switches = {
      {"noxsave", Kind::kRequired,
       "XSAVE/XRSTOR and AVX state live in registers the VMM cannot reach from an "
       "emulation-failure exit; the guest uses FXSAVE instead"},
      {"clearcpuid=ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni,gfni", Kind::kRequired,
       "the kernel would pick SIMD code for its crypto and RNG (e.g. BLAKE2s with SSSE3, "
       "CRC32C with SSE4.2, AES-NI); vector instructions in kernel mode are rejected by this "
       "host and their register state is out of the VMM's reach, so the kernel uses its "
       "generic code instead (user space still sees and uses every feature)"},
      {"mitigations=off", Kind::kTuning,
       "the guest's CPUID shows the host CPU, so the kernel installs speculative-execution "
       "mitigations (return thunks on every ret, retpolines, buffer clearing on entry) that "
       "add instructions to every call and interrupt; here the guest kernel is interpreted "
       "by the host's emulator, never executed speculatively, so they protect nothing and "
       "cost about a third of the early boot here"},
      {"cryptomgr.notests", Kind::kTuning,
       "the crypto self-tests at boot take minutes of interpreted kernel code and make "
       "algorithm lookups time out (the kernel's built-in X.509 certificate then fails to "
       "load with -110)"},
      {"initcall_blacklist=ftrace_check_for_weak_functions,trace_eval_init", Kind::kTuning,
       "two tracing fix-ups that walk every ftrace record and every trace-event format "
       "string at boot (about 10 minutes here): without them, overridden weak functions "
       "stay listed as traceable (ftrace refuses to patch them if asked) and trace-event "
       "formats show enum names instead of their values"},
  };
  return switches;
}

std::string add_emulated_host_switches(const std::string& cmdline, bool tuning) {
  std::string out = cmdline;
  for (const auto& s : emulated_host_switches()) {
    if (s.kind == CmdlineSwitch::Kind::kTuning && !tuning) continue;
    std::string name = s.option;
    name = name.substr(0, name.find('='));
    // Already present as a word (with or without a value)?
    const std::string with_value = name + "=";
    bool present = false;
    for (std::string_view w : words_of(cmdline))
      if (w == name || w.starts_with(with_value)) present = true;
    if (present) continue;
    if (!out.empty()) out += ' ';
    out += s.option;
  }
  return out;
}

}  // namespace vireo::arch::x86
