#include "vmm/vm_snapshot.h"

#include <fmt/format.h>

#include <map>

#include "snapshot/kvm_state_codec.h"
#include "snapshot/state_file.h"
#include "util/state_codec.h"

namespace vireo::vmm {

namespace {

constexpr uint32_t kConfigVersion = 1;
constexpr uint32_t kLayoutVersion = 1;
constexpr uint32_t kMaxVcpus = 1024;
constexpr uint32_t kMaxRegions = 64;
constexpr uint32_t kMaxDevices = 1024;
constexpr size_t kMaxName = 256;

const snapshot::KnownKinds& known_kinds() {
  static const snapshot::KnownKinds kinds{
      {"vm-config", kConfigVersion},
      {"kvm-vm", snapshot::kVmKvmStateVersion},
      {"kvm-vcpu", snapshot::kVcpuKvmStateVersion},
      {"device-layout", kLayoutVersion},
      {"device-state", snapshot::kAnyVersion},
  };
  return kinds;
}

std::vector<uint8_t> encode_config(const VmSnapshot& s) {
  StateWriter w;
  w.u32(s.cpus);
  w.u64(s.memory_size);
  w.u32(static_cast<uint32_t>(s.ram.size()));
  for (const auto& r : s.ram) {
    w.u64(r.gpa);
    w.u64(r.size);
  }
  return w.take();
}

Result<void> decode_config(std::span<const uint8_t> bytes, VmSnapshot& s) {
  StateReader r(bytes, "the VM configuration section");
  VIREO_ASSIGN_OR_RETURN(s.cpus, r.u32());
  if (s.cpus == 0 || s.cpus > kMaxVcpus)
    return Error(fmt::format("the VM configuration section: {} vCPUs", s.cpus));
  VIREO_ASSIGN_OR_RETURN(s.memory_size, r.u64());
  VIREO_ASSIGN_OR_RETURN(uint32_t n, r.u32());
  if (n > kMaxRegions) return Error(fmt::format("the VM configuration section: {} RAM regions", n));
  for (uint32_t i = 0; i < n; ++i) {
    VmSnapshot::RamRegion reg;
    VIREO_ASSIGN_OR_RETURN(reg.gpa, r.u64());
    VIREO_ASSIGN_OR_RETURN(reg.size, r.u64());
    s.ram.push_back(std::move(reg));
  }
  return r.finish();
}

std::vector<uint8_t> encode_layout(const std::vector<DeviceManager::SavedDevice>& devices) {
  StateWriter w;
  w.u32(static_cast<uint32_t>(devices.size()));
  for (const auto& d : devices) {
    w.string(d.id);
    w.string(d.kind);
    w.u8(static_cast<uint8_t>(d.where.bus));
    w.u64(d.where.base);
    w.u64(d.where.len);
    w.boolean(d.where.gsi.has_value());
    w.u32(d.where.gsi.value_or(0));
    w.u32(d.where.index);
  }
  return w.take();
}

Result<std::vector<DeviceManager::SavedDevice>> decode_layout(std::span<const uint8_t> bytes) {
  StateReader r(bytes, "the device layout section");
  VIREO_ASSIGN_OR_RETURN(uint32_t n, r.u32());
  if (n > kMaxDevices) return Error(fmt::format("the device layout section: {} devices", n));
  std::vector<DeviceManager::SavedDevice> out;
  for (uint32_t i = 0; i < n; ++i) {
    DeviceManager::SavedDevice d;
    VIREO_ASSIGN_OR_RETURN(d.id, r.string(kMaxName));
    VIREO_ASSIGN_OR_RETURN(d.kind, r.string(kMaxName));
    VIREO_ASSIGN_OR_RETURN(uint8_t bus, r.u8());
    if (bus > static_cast<uint8_t>(devices::BusKind::kPci))
      return Error(fmt::format("the device layout section: device '{}' on bus {}", d.id, bus));
    d.where.bus = static_cast<devices::BusKind>(bus);
    VIREO_ASSIGN_OR_RETURN(d.where.base, r.u64());
    VIREO_ASSIGN_OR_RETURN(d.where.len, r.u64());
    VIREO_ASSIGN_OR_RETURN(bool has_gsi, r.boolean());
    VIREO_ASSIGN_OR_RETURN(uint32_t gsi, r.u32());
    if (has_gsi) d.where.gsi = gsi;
    VIREO_ASSIGN_OR_RETURN(d.where.index, r.u32());
    out.push_back(std::move(d));
  }
  VIREO_TRY(r.finish());
  return out;
}

}  // namespace

std::vector<uint8_t> encode_vm_state(const VmSnapshot& s) {
  snapshot::StateFile f;
  f.sections.push_back({"vm", "vm-config", kConfigVersion, encode_config(s)});
  f.sections.push_back({"kvm/vm", "kvm-vm", snapshot::kVmKvmStateVersion,
                        snapshot::encode_vm_kvm_state(s.kvm.vm)});
  for (size_t i = 0; i < s.kvm.vcpus.size(); ++i)
    f.sections.push_back({fmt::format("kvm/vcpu{}", i), "kvm-vcpu", snapshot::kVcpuKvmStateVersion,
                          snapshot::encode_vcpu_kvm_state(s.kvm.vcpus[i])});
  f.sections.push_back({"devices", "device-layout", kLayoutVersion, encode_layout(s.devices)});
  for (const auto& d : s.devices)
    f.sections.push_back({"device/" + d.id, "device-state", d.state.version, d.state.bytes});
  return snapshot::encode_state_file(f);
}

Result<VmSnapshot> decode_vm_state(std::span<const uint8_t> file) {
  VIREO_ASSIGN_OR_RETURN(auto f, snapshot::decode_state_file(file, known_kinds()));
  std::map<std::string, const snapshot::Section*, std::less<>> by_id;
  for (const auto& s : f.sections) by_id[s.id] = &s;
  auto take = [&](const std::string& id, std::string_view kind) -> Result<const snapshot::Section*> {
    auto it = by_id.find(id);
    if (it == by_id.end())
      return Error(fmt::format("the state file has no section '{}': it is incomplete", id));
    if (it->second->kind != kind)
      return Error(fmt::format("the state file's section '{}' is of kind '{}', not '{}'", id,
                               it->second->kind, kind));
    const snapshot::Section* s = it->second;
    by_id.erase(it);
    return s;
  };
  auto in = [](const std::string& id, Result<void> r) -> Result<void> {
    if (!r.ok()) return r.error().context(fmt::format("state file section '{}'", id));
    return {};
  };

  VmSnapshot s;
  VIREO_ASSIGN_OR_RETURN(const auto* config, take("vm", "vm-config"));
  VIREO_TRY(in("vm", decode_config(config->bytes, s)));
  VIREO_ASSIGN_OR_RETURN(const auto* kvm_vm, take("kvm/vm", "kvm-vm"));
  auto vm_state = snapshot::decode_vm_kvm_state(kvm_vm->bytes, kvm_vm->version);
  if (!vm_state.ok()) return vm_state.error().context("state file section 'kvm/vm'");
  s.kvm.vm = *vm_state;
  for (uint32_t i = 0; i < s.cpus; ++i) {
    const std::string id = fmt::format("kvm/vcpu{}", i);
    VIREO_ASSIGN_OR_RETURN(const auto* sec, take(id, "kvm-vcpu"));
    auto v = snapshot::decode_vcpu_kvm_state(sec->bytes, sec->version);
    if (!v.ok()) return v.error().context(fmt::format("state file section '{}'", id));
    s.kvm.vcpus.push_back(std::move(*v));
  }
  VIREO_ASSIGN_OR_RETURN(const auto* layout, take("devices", "device-layout"));
  auto devices = decode_layout(layout->bytes);
  if (!devices.ok()) return devices.error().context("state file section 'devices'");
  s.devices = std::move(*devices);
  for (auto& d : s.devices) {
    VIREO_ASSIGN_OR_RETURN(const auto* sec, take("device/" + d.id, "device-state"));
    d.state.version = sec->version;
    d.state.bytes = sec->bytes;
  }
  if (!by_id.empty())
    return Error(fmt::format(
        "the state file has section '{}', which belongs to nothing in its VM: it was not "
        "written by vireo {}",
        by_id.begin()->first, VIREO_VERSION));
  return s;
}

}  // namespace vireo::vmm
