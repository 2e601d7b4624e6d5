// VmConfig: everything needed to build one VM; the single configuration model fed by
// the command line (and later by config files and the API).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log/log.h"
#include "util/result.h"
#include "virtio/rate_limiter.h"

namespace vireo::vmm {

enum class OnReboot { kExit, kRestart };
// Which device the terminal is the console of: the UART (COM1, Linux's ttyS0) or a
// virtio console (Linux's hvc0).
enum class ConsoleKind { kSerial, kVirtio };

// How virtio devices reach the guest: virtio-mmio pages (announced in the DSDT or on the
// command line) or virtio-pci functions on PCI bus 0 (MSI-X interrupts).
enum class Transport { kMmio, kPci };

inline constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=1";
inline constexpr const char* kDefaultVirtioConsoleCmdline = "console=hvc0 reboot=k panic=1";
inline constexpr uint64_t kDefaultMemory = 512ull << 20;
inline constexpr uint32_t kMaxCpus = 254;  // APIC IDs 0..253 (255 is broadcast, 254 IOAPIC)

// One --disk: a virtio-blk device on a raw image file or block device.
struct DiskConfig {
  std::string path;
  bool readonly = false;
  bool direct = false;  // O_DIRECT on the image
  std::string id;       // unique per VM; default "disk<N>"
  std::string serial;   // what the guest reads as the disk's ID; default: the id
  virtio::RateLimit limit;  // bw=, bw_burst=, ops=, ops_burst=
  bool operator==(const DiskConfig&) const = default;
};

// Parses a --disk value: path=FILE[,readonly=on|off][,id=NAME][,serial=STR][,direct=on|off]
// [,bw=BYTES/s][,bw_burst=BYTES][,ops=N/s][,ops_burst=N] (sizes take K/M/G suffixes).
// `index` is the disk's position (for the default id).
Result<DiskConfig> parse_disk(std::string_view spec, size_t index);

// One --net: a virtio-net device on a tap interface.
struct NetConfig {
  std::string tap;
  std::string mac;  // "" = derived from the id and the tap name
  std::string id;   // unique per VM; default "net<N>"
  virtio::RateLimit rx_limit;  // on what the guest receives
  virtio::RateLimit tx_limit;  // on what the guest sends
  bool operator==(const NetConfig&) const = default;
};

// Parses a --net value: tap=NAME[,mac=MAC][,id=NAME][,bw=BYTES/s][,bw_burst=BYTES]
// [,ops=N/s][,ops_burst=N] (each direction gets these limits, with buckets of its own);
// rx_bw=, rx_ops=, tx_bw=, ... (and their _burst) set one direction's only.
Result<NetConfig> parse_net(std::string_view spec, size_t index);

// --vsock: a virtio-vsock device with Firecracker's host side on a Unix socket.
struct VsockConfig {
  uint64_t cid = 0;  // the guest's CID (3 and up)
  std::string uds;   // the socket vireo listens on; guest connections go to uds + "_PORT"
  bool operator==(const VsockConfig&) const = default;
};

// --balloon size=SIZE[,deflate-on-oom=on][,stats=SECONDS]
struct BalloonConfig {
  uint64_t size = 0;  // the balloon's target: memory taken from the guest
  bool deflate_on_oom = false;
  uint32_t stats_seconds = 0;  // 0: no statistics
};
Result<BalloonConfig> parse_balloon(std::string_view spec);

// Parses a --vsock value: cid=N,uds=PATH.
Result<VsockConfig> parse_vsock(std::string_view spec);

// --log-path (with --level, --show-level, --show-log-origin), Firecracker's "logger".
struct LogConfig {
  std::string path;
  log::Options options;
  bool operator==(const LogConfig&) const = default;
};

struct VmConfig {
  std::string kernel_path;
  std::optional<std::string> initrd_path;
  std::string cmdline = kDefaultCmdline;
  uint32_t cpus = 1;
  uint64_t memory = kDefaultMemory;
  OnReboot on_reboot = OnReboot::kExit;
  bool quiet = false;
  bool stats = false;           // print instruction-assist statistics at exit
  bool unpack_bzimage = true;   // unpack bzImages on the host (else the guest decompresses)
  bool boot_tuning = true;      // emulated-kernel-mode hosts: add the tuning switches too
  std::string kvm_device = "/dev/kvm";
  std::optional<std::string> profile_path;     // write a guest profile here at exit
  std::optional<std::string> profile_symbols;  // System.map to name kernel addresses
  uint32_t profile_hz = 1000;                  // samples per second per vCPU
  bool rng = false;             // --rng: a virtio-rng device
  std::vector<DiskConfig> disks;  // --disk, in order
  std::vector<NetConfig> nets;    // --net, in order
  ConsoleKind console = ConsoleKind::kSerial;  // --console serial|virtio
  std::optional<VsockConfig> vsock;  // --vsock
  Transport transport = Transport::kMmio;  // --transport mmio|pci
  std::optional<BalloonConfig> balloon;    // --balloon
  std::optional<std::string> api_sock;     // --api-sock: serve the REST API there
  std::optional<LogConfig> log;             // --log-path: the log's file or FIFO
  std::optional<std::string> metrics_path;  // --metrics-path: JSON lines of metrics
  uint32_t metrics_interval_s = 60;         // --metrics-interval: a line every N seconds
};

// Copies what describes the machine (kernel, initrd, command line, vCPUs, memory and
// devices) from `from` into `into`, keeping `into`'s other settings (console, transport,
// API socket, reboot policy, ...): a config file or the API describes the machine, the
// flags the rest. A log or metrics file that `from` names (the config file's "logger",
// "metrics") replaces `into`'s.
void take_machine(VmConfig& into, const VmConfig& from);

// Checks values that do not need the host (ranges, alignment). Errors name the flag.
Result<void> validate(const VmConfig& cfg);

// Checks the memory size against this host's RAM.
Result<void> validate_memory_for_host(uint64_t memory);

}  // namespace vireo::vmm
