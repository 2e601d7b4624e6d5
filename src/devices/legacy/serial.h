// 16550A UART (as COM1 on PCs): the guest's serial console.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "devices/bus_device.h"
#include "devices/irq.h"

namespace vireo::devices {

class Serial : public BusDevice {
 public:
  using OutputFn = std::function<void(std::span<const uint8_t>)>;
  static constexpr size_t kInputCapacity = 1024;  // bytes buffered towards the guest

  // `irq` may be null (polling only); `out` receives every transmitted byte.
  Serial(std::shared_ptr<Irq> irq, OutputFn out);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Console input: queues bytes for the guest (up to input_room(); the rest is dropped,
  // so callers check the room first) and raises the receive interrupt.
  void enqueue_input(std::span<const uint8_t> bytes);
  size_t input_room() const;

 private:
  uint8_t read_reg(uint64_t reg);
  void write_reg(uint64_t reg, uint8_t v);
  uint8_t iir() const;
  uint8_t msr() const;
  void update_irq();

  mutable std::mutex mu_;
  std::shared_ptr<Irq> irq_;
  OutputFn out_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t dll_ = 0x0c, dlm_ = 0;  // 9600 baud
  uint8_t msr_delta_ = 0;
  bool thr_interrupt_ = false;  // THR empty interrupt pending
  bool irq_level_ = false;
};

}  // namespace vireo::devices
