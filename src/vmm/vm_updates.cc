// Vm: changes to a running VM's devices (Firecracker's PATCH /drives, /network-interfaces,
// /balloon/statistics). See vm.h.
#include <sys/stat.h>

#include <fmt/format.h>

#include "block/disk_image.h"
#include "virtio/balloon.h"
#include "virtio/block.h"
#include "virtio/net.h"
#include "vmm/vm.h"

namespace vireo::vmm {

namespace {

// Whether `path` names the file `disk` has open (then it cannot be opened again: the
// image is locked, and it is the same disk anyway).
bool same_file(const std::string& path, const block::DiskImage& disk) {
  struct stat a {}, b {};
  return ::stat(path.c_str(), &a) == 0 && ::fstat(disk.fd(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

template <class T>
std::shared_ptr<T> Vm::virtio_device(const std::string& id) const {
  auto it = virtio_by_id_.find(id);
  return it == virtio_by_id_.end() ? nullptr : std::dynamic_pointer_cast<T>(it->second);
}

template <class F>
Result<void> Vm::while_paused(F change) {
  const bool was_paused = paused_;
  if (!was_paused) VIREO_TRY(pause());
  Result<void> r = change();
  if (!was_paused) {
    auto resumed = resume();
    if (r.ok() && !resumed.ok()) return resumed;
  }
  return r;
}

Result<void> Vm::update_drive(const std::string& id, const std::optional<std::string>& path,
                              const std::optional<virtio::RateLimit>& limit) {
  auto blk = virtio_device<virtio::Block>(id);
  if (!blk) return Error(fmt::format("no drive `{}` in this VM", id));
  std::optional<block::DiskImage> disk;
  const bool refresh = path && same_file(*path, blk->disk());
  if (path && !refresh) {
    bool direct = false;
    for (const auto& d : cfg_.disks)
      if (d.id == id) direct = d.direct;
    auto opened = block::DiskImage::open(*path, {.readonly = blk->disk().readonly(), .direct = direct});
    if (!opened.ok()) return opened.error().context("path_on_host");
    disk = std::move(*opened);
  }
  return while_paused([&]() -> Result<void> {
    // What can fail first, so that a refusal changes nothing.
    if (limit) {
      if (auto r = blk->set_rate_limit(*limit); !r.ok()) return r.error().context("rate_limiter");
    }
    if (refresh) {
      if (auto r = blk->refresh_disk_size(); !r.ok()) return r.error().context("path_on_host");
    }
    if (disk) blk->replace_disk(std::move(*disk));
    return {};
  });
}

Result<void> Vm::update_net_limits(const std::string& id, const std::optional<virtio::RateLimit>& rx,
                                   const std::optional<virtio::RateLimit>& tx) {
  auto net = virtio_device<virtio::Net>(id);
  if (!net) return Error(fmt::format("no network interface `{}` in this VM", id));
  return while_paused([&] { return net->set_rate_limits(rx, tx); });
}

Result<void> Vm::set_balloon_target(uint64_t bytes) {
  if (!balloon_) return Error("No balloon device found.");
  // Paused: a driver's reset (on a vCPU thread) does not run into it.
  return while_paused([&]() -> Result<void> {
    balloon_->set_target(bytes);
    return {};
  });
}

Result<void> Vm::set_balloon_stats_interval(uint32_t seconds) {
  if (!balloon_) return Error("No balloon device found.");
  return while_paused([&] { return balloon_->set_stats_interval(seconds); });
}

}  // namespace vireo::vmm
