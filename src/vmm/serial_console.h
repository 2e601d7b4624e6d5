// SerialConsole: the terminal (or pipes) on one side, a VM's UART on the other, moved by
// the main thread's event loop.
//
// - Output: the UART buffers what the guest transmits and signals `wake_fd`; the loop
//   takes the bytes and writes them without blocking. When the terminal or pipe is full
//   the console waits for EPOLLOUT and takes nothing more meanwhile, so the UART's buffer
//   fills and the guest sees a busy transmitter: a stalled reader slows the guest's
//   printing, never a vCPU or the loop (signals and the console escape still work). When
//   the reader has gone (EPIPE) output is discarded and the VM runs on.
// - Input: keyboard bytes pass the console escape and wait until the UART has room;
//   while some wait, standard input is not polled (no busy loop), and the UART's wake
//   says when room appears.
// Nothing here touches the shared file descriptions of stdin or stdout (ConsoleStream).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "devices/console_port.h"
#include <functional>

#include "util/event_loop.h"
#include "vmm/console_escape.h"
#include "vmm/console_stream.h"

namespace vireo::vmm {

class SerialConsole {
 public:
  // What to do with a console escape command (Ctrl-A x, Ctrl-A h).
  using EscapeFn = std::function<void(ConsoleEscape::Action)>;

  // Registers the streams in `loop` (stdin only when pollable).
  SerialConsole(EventLoop& loop, ConsoleStream in, ConsoleStream out);
  ~SerialConsole();
  SerialConsole(const SerialConsole&) = delete;
  SerialConsole& operator=(const SerialConsole&) = delete;
  void on_escape(EscapeFn fn) { on_escape_ = std::move(fn); }

  // The console device to serve (the UART or a virtio console), or nullptr between VMs.
  // Input waiting for it is kept.
  void attach(devices::ConsolePort* port);

  // The UART's wake (its eventfd is the runner's).
  void on_wake();

  // Writes what the attached UART still holds, waiting at most `limit` for a slow reader
  // (the last words of a guest that powers off).
  void final_flush(std::chrono::milliseconds limit);

  bool input_open() const { return in_open_; }

 private:
  ConsoleEscape::Action on_input();
  void pump_output();
  void feed_input();
  void watch_input(bool on);
  void watch_output(bool on);

  EventLoop& loop_;
  ConsoleStream in_, out_;
  EscapeFn on_escape_;
  devices::ConsolePort* serial_ = nullptr;
  ConsoleEscape escape_;
  std::deque<uint8_t> pending_in_;   // keyboard bytes waiting for UART room
  std::vector<uint8_t> out_buf_;     // taken from the UART, not yet written
  size_t out_done_ = 0;
  bool in_open_ = false, in_watched_ = false;
  bool out_watched_ = false, out_registered_ = false, out_closed_ = false;
};

}  // namespace vireo::vmm
