// The guest memory file of a snapshot: every region of guest RAM at its offset
// (Region::fd_offset: the regions back to back, in address order), its all-zero pages
// left as holes, so that the file takes the room of the memory the guest used, not of
// its size. A restore maps it with GuestMemory::map_file (private, copy-on-write, pages
// read as the guest touches them).
#pragma once

#include <cstdint>
#include <string>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::memory {

struct MemoryFileStats {
  uint64_t size = 0;        // the file's length: all of guest RAM
  uint64_t data_bytes = 0;  // what was written (the pages that are not all zeros)
};

// Writes `mem` to `fd` (an empty regular file, or one to overwrite: it is truncated).
// The guest must not run meanwhile (pause it).
Result<MemoryFileStats> write_memory_file(const GuestMemory& mem, int fd);
// The same, to a file at `path` (created, mode 0600: guest memory is private).
Result<MemoryFileStats> write_memory_file(const GuestMemory& mem, const std::string& path);

}  // namespace vireo::memory
