// A scratch directory under /tmp, removed with everything in it when the test ends (in
// the KVM sandbox /tmp is its own tmpfs: holes can be punched and files locked there,
// unlike on its 9p shares).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace vireo::test {

class ScratchDir {
 public:
  ScratchDir() {
    char name[] = "/tmp/vireo-test-XXXXXX";
    path_ = ::mkdtemp(name) ? name : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vireo::test
