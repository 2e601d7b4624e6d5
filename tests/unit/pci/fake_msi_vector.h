// FakeMsiVector: an MsiVector that records the messages it is given and counts its
// deliveries, for MSI-X and virtio-pci tests.
#pragma once

#include <cstdint>
#include <vector>

#include "pci/msix.h"

namespace vireo::pci::test {

class FakeMsiVector : public MsiVector {
 public:
  struct Message {
    uint64_t address;
    uint32_t data;
    bool operator==(const Message&) const = default;
  };
  void configure(uint64_t address, uint32_t data) override { configured.push_back({address, data}); }
  void trigger() override { ++triggers; }

  std::vector<Message> configured;
  int triggers = 0;
};

}  // namespace vireo::pci::test
