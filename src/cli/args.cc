#include "cli/args.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>

#include "api/config_file.h"
#include "util/size.h"
#include "vmm/exit_status.h"

namespace vireo::cli {

namespace {

// The flags that describe the machine (what a config file or the API describes instead).
constexpr const char* kMachineFlags[] = {"--kernel", "--initrd", "--cmdline", "--cpus", "--memory",
                                         "--disk", "--net", "--vsock", "--balloon", "--rng"};

constexpr const char* kVersionText = "vireo " VIREO_VERSION;

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

ParsedCommand parse_command_line(const std::vector<std::string>& args) {
  ParsedCommand result;
  CLI::App app{"vireo: a virtual machine monitor on Linux KVM", "vireo"};
  app.set_version_flag("--version", kVersionText);
  app.require_subcommand(0, 1);
  app.footer("Run 'vireo run --help' for the options of a VM.");

  vmm::VmConfig cfg;
  std::string memory = "512M";
  std::string on_reboot = "exit";
  std::string bzimage_unpack = "host";
  std::optional<std::string> initrd;
  std::optional<std::string> cmdline;

  CLI::App* run = app.add_subcommand("run", "Boot a VM with its serial console on this terminal");
  run->add_option("--kernel", cfg.kernel_path,
                  "Kernel to boot: an uncompressed vmlinux ELF (PVH entry if it has the note, "
                  "else its 64-bit entry) or a bzImage (64-bit boot protocol)")
      ->type_name("FILE");
  std::optional<std::string> config_file;
  run->add_option("--config-file", config_file,
                  "Describe the VM with a Firecracker configuration file (boot-source, "
                  "machine-config, drives, network-interfaces, vsock, balloon, entropy) "
                  "instead of --kernel, --cpus, --disk and the other device flags")
      ->type_name("FILE");
  run->add_option("--initrd", initrd, "Initial ramdisk (initramfs) loaded for the kernel")
      ->type_name("FILE");
  run->add_option("--cmdline", cmdline,
                  fmt::format("Kernel command line (default: \"{}\")", vmm::kDefaultCmdline))
      ->type_name("STR");
  run->add_option("--cpus", cfg.cpus, fmt::format("Number of vCPUs, 1-{}", vmm::kMaxCpus))
      ->type_name("N")
      ->default_val(1);
  run->add_option("--memory", memory,
                  "Guest RAM; K/M/G/T suffixes, a bare number means MiB")
      ->type_name("SIZE")
      ->default_val("512M");
  run->add_option("--on-reboot", on_reboot,
                  "What a guest reboot does: 'exit' (status 6) or 'restart' the VM")
      ->type_name("exit|restart")
      ->check(CLI::IsMember({"exit", "restart"}))
      ->default_val("exit");
  run->add_flag("--quiet,-q", cfg.quiet, "Print nothing of vireo's own but errors");
  run->add_flag("--stats", cfg.stats,
                "At exit, print how many guest instructions vireo completed for the host "
                "(instruction assists) and the time they took");
  bool no_boot_tuning = false;
  run->add_flag("--no-boot-tuning", no_boot_tuning,
                "On hosts whose KVM emulates guest kernel mode, add only the Linux command-line "
                "switches the guest needs there (noxsave, clearcpuid=...), not the ones that "
                "skip slow boot work (mitigations=off, cryptomgr.notests, initcall_blacklist=...); "
                "see README.md");
  run->add_option("--bzimage-unpack", bzimage_unpack,
                  "Where a bzImage is decompressed: 'host' (vireo unpacks and caches it, then "
                  "enters the kernel directly) or 'guest' (the kernel's own decompressor)")
      ->type_name("host|guest")
      ->check(CLI::IsMember({"host", "guest"}))
      ->default_val("host");
  run->add_option("--profile", cfg.profile_path,
                  "Sample where each vCPU is, 1000 times a second, and write a histogram to "
                  "FILE at exit ('-' for stderr)")
      ->type_name("FILE");
  run->add_option("--profile-symbols", cfg.profile_symbols,
                  "System.map of the guest kernel, to name the addresses in --profile")
      ->type_name("FILE");
  run->add_flag("--rng", cfg.rng, "A virtio-rng device (entropy from the host's getrandom)");
  std::vector<std::string> disks;
  run->add_option("--disk", disks,
                  "A virtio-blk disk on a raw image file or block device (repeat for more): "
                  "path=FILE[,readonly=on][,id=NAME][,serial=STR][,direct=on][,bw=BYTES/s][,bw_burst=BYTES]"
                  "[,ops=N/s][,ops_burst=N]")
      ->type_name("SPEC")
      ->allow_extra_args(false)
      ->take_all();
  std::vector<std::string> nets;
  run->add_option("--net", nets,
                  "A virtio-net interface on a tap device (repeat for more; created if missing "
                  "and permitted): tap=NAME[,mac=MAC][,id=NAME][,bw=BYTES/s][,ops=N/s] (each direction; "
                  "rx_bw=, tx_ops=, ... for one)")
      ->type_name("SPEC")
      ->allow_extra_args(false)
      ->take_all();
  std::string console = "serial";
  run->add_option("--console", console,
                  "Which device this terminal is the console of: 'serial' (COM1, Linux's ttyS0) "
                  "or 'virtio' (a virtio console, Linux's hvc0; the default command line then "
                  "says console=hvc0)")
      ->type_name("serial|virtio")
      ->check(CLI::IsMember({"serial", "virtio"}))
      ->default_val("serial");
  std::string transport = "mmio";
  run->add_option("--transport", transport,
                  "How the virtio devices reach the guest: 'mmio' (virtio-mmio, found in the "
                  "DSDT or on the command line) or 'pci' (virtio-pci functions on PCI bus 0 "
                  "with MSI-X, as stock distribution kernels expect)")
      ->type_name("mmio|pci")
      ->check(CLI::IsMember({"mmio", "pci"}))
      ->default_val("mmio");
  std::optional<std::string> balloon;
  run->add_option("--balloon", balloon,
                  "A virtio-balloon device: size=SIZE[,deflate-on-oom=on][,stats=SECONDS]. The "
                  "guest gives SIZE of its memory back to the host, and free memory it reports "
                  "leaves the host's RSS; stats=N asks for memory statistics every N seconds")
      ->type_name("SPEC");
  std::optional<std::string> api_sock;
  run->add_option("--api-sock", api_sock,
                  "Serve Firecracker's REST API (HTTP/1.1) on this Unix socket: GET /, "
                  "/machine-config, /vm/config; PATCH /vm to pause and resume")
      ->type_name("PATH");
  std::optional<std::string> log_path;
  run->add_option("--log-path", log_path,
                  "Write the log to this file (appended) or FIFO, one line per message, as "
                  "Firecracker does; warnings and errors also go to stderr")
      ->type_name("PATH");
  std::string log_level = "Info";
  run->add_option("--level", log_level,
                  "The log's level: Off, Error, Warning, Info, Debug or Trace (with --log-path)")
      ->type_name("LEVEL")
      ->default_val("Info");
  bool show_level = false, show_log_origin = false;
  run->add_flag("--show-level", show_level, "Put each message's level in the log");
  run->add_flag("--show-log-origin", show_log_origin,
                "Put each message's source file and line in the log");
  std::optional<std::string> metrics_path;
  run->add_option("--metrics-path", metrics_path,
                  "Write the metrics as JSON lines to this file or FIFO: one line every "
                  "--metrics-interval seconds and on the API's FlushMetrics")
      ->type_name("PATH");
  run->add_option("--metrics-interval", cfg.metrics_interval_s,
                  "Seconds between two metrics lines (default 60, as Firecracker)")
      ->type_name("SECONDS")
      ->default_val(60);
  std::optional<std::string> vsock;
  run->add_option("--vsock", vsock,
                  "A virtio-vsock device with Firecracker's host side: host programs connect to "
                  "the Unix socket PATH and write 'CONNECT <port>'; guest connections to CID 2 "
                  "port P go to PATH_P: cid=N,uds=PATH")
      ->type_name("SPEC");
  run->add_option("--kvm-device", cfg.kvm_device, "KVM device node")
      ->type_name("PATH")
      ->default_val("/dev/kvm");
  run->footer(
      "Console: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
      "Exit status: 0 guest powered off; (v<<1)|1 guest wrote v to port 0xf4; "
      "2 usage or setup error; 4 VMM error; 6 guest reboot; 8 triple fault or guest crash; "
      "10 quit from the console; 128+N signal N.");

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    result.out = app.help();
    return result;
  } catch (const CLI::CallForAllHelp&) {
    result.out = app.help("", CLI::AppFormatMode::All);
    return result;
  } catch (const CLI::CallForVersion&) {
    result.out = std::string(kVersionText) + "\n";
    return result;
  } catch (const CLI::ParseError& e) {
    // CLI11 raises help for subcommands through the subcommand's own exception.
    if (e.get_name() == "CallForHelp") {
      result.out = run->parsed() ? run->help() : app.help();
      return result;
    }
    result.err = one_line(fmt::format("{} (see 'vireo {}--help')", e.what(),
                                      run->parsed() ? "run " : ""));
    result.exit_code = vmm::exit_code::kUsageError;
    return result;
  }

  if (!run->parsed()) {
    result.err = "no command given (try 'vireo run --kernel FILE' or 'vireo --help')";
    result.exit_code = vmm::exit_code::kUsageError;
    return result;
  }

  auto mem = parse_size(memory, 1ull << 20);
  if (!mem.ok()) {
    result.err = "--memory: " + mem.error().message();
    result.exit_code = vmm::exit_code::kUsageError;
    return result;
  }
  cfg.memory = *mem;
  // Each --disk / --net value through its parser (the index names the default id).
  auto parse_all = [&result](const std::vector<std::string>& specs, auto parse, auto& out) {
    for (size_t i = 0; i < specs.size(); ++i) {
      auto v = parse(specs[i], i);
      if (!v.ok()) {
        result.err = v.error().message();
        result.exit_code = vmm::exit_code::kUsageError;
        return false;
      }
      out.push_back(*v);
    }
    return true;
  };
  if (!parse_all(disks, vmm::parse_disk, cfg.disks) || !parse_all(nets, vmm::parse_net, cfg.nets))
    return result;
  cfg.api_sock = api_sock;
  {
    auto level = log::parse_level(log_level);
    if (!level.ok()) {
      result.err = "--level: " + level.error().message();
      result.exit_code = vmm::exit_code::kUsageError;
      return result;
    }
    if (log_path)
      cfg.log = vmm::LogConfig{*log_path, {.level = *level, .show_level = show_level,
                                           .show_origin = show_log_origin}};
    else if (run->count("--level") || show_level || show_log_origin) {
      result.err = "--level, --show-level and --show-log-origin need --log-path";
      result.exit_code = vmm::exit_code::kUsageError;
      return result;
    }
  }
  cfg.metrics_path = metrics_path;
  if (cfg.metrics_interval_s == 0 || cfg.metrics_interval_s > 86400) {
    result.err = fmt::format("--metrics-interval {} is out of range (1-86400 seconds)",
                             cfg.metrics_interval_s);
    result.exit_code = vmm::exit_code::kUsageError;
    return result;
  }
  if (balloon) {
    auto b = vmm::parse_balloon(*balloon);
    if (!b.ok()) {
      result.err = b.error().message();
      result.exit_code = vmm::exit_code::kUsageError;
      return result;
    }
    cfg.balloon = *b;
  }
  if (vsock) {
    auto v = vmm::parse_vsock(*vsock);
    if (!v.ok()) {
      result.err = v.error().message();
      result.exit_code = vmm::exit_code::kUsageError;
      return result;
    }
    cfg.vsock = *v;
  }
  cfg.initrd_path = initrd;
  cfg.console = console == "virtio" ? vmm::ConsoleKind::kVirtio : vmm::ConsoleKind::kSerial;
  cfg.transport = transport == "pci" ? vmm::Transport::kPci : vmm::Transport::kMmio;
  if (cmdline)
    cfg.cmdline = *cmdline;
  else if (cfg.console == vmm::ConsoleKind::kVirtio)
    cfg.cmdline = vmm::kDefaultVirtioConsoleCmdline;
  cfg.unpack_bzimage = bzimage_unpack == "host";
  cfg.boot_tuning = !no_boot_tuning;
  cfg.on_reboot = on_reboot == "restart" ? vmm::OnReboot::kRestart : vmm::OnReboot::kExit;
  if (config_file) {
    // The file describes the machine; the flags that would too are refused, the others
    // (--api-sock, --transport, --on-reboot, ...) apply as usual.
    for (const char* flag : kMachineFlags) {
      if (run->count(flag) > 0) {
        result.err = fmt::format("--config-file describes the VM: leave out {}", flag);
        result.exit_code = vmm::exit_code::kUsageError;
        return result;
      }
    }
    auto file = api::load_config_file(*config_file);
    if (!file.ok()) {
      result.err = file.error().message();
      result.exit_code = vmm::exit_code::kUsageError;
      return result;
    }
    vmm::take_machine(cfg, *file);
  } else if (cfg.kernel_path.empty() && cfg.api_sock) {
    // Only the API socket: the VM is configured through the API and checked when
    // InstanceStart comes; the flags that describe the machine need --kernel.
    for (const char* flag : kMachineFlags) {
      if (run->count(flag) > 0) {
        result.err = fmt::format("{} needs --kernel (with --api-sock alone, the API configures the VM)", flag);
        result.exit_code = vmm::exit_code::kUsageError;
        return result;
      }
    }
    result.run = cfg;
    return result;
  }
  if (auto v = vmm::validate(cfg); !v.ok()) {
    result.err = v.error().message();
    result.exit_code = vmm::exit_code::kUsageError;
    return result;
  }
  result.run = cfg;
  return result;
}

}  // namespace vireo::cli
