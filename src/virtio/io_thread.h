// IoThread: one device back-end's thread, an epoll loop over the device's file
// descriptors (queue kicks, a tap, an io_uring's completion eventfd) that calls each
// one's handler when it becomes readable. Handlers run on this thread only, one at a
// time. Destroying the IoThread (or stop()) wakes the loop and joins it.
//
// Besides the fixed watches given to start(), a device may add and remove watches as it
// goes (vsock's connection sockets), with the epoll events it wants (EPOLLIN, EPOLLOUT)
// and a handler that gets the events that fired.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/epoll.h"
#include "util/result.h"

namespace vireo::virtio {

class IoThread {
 public:
  using Handler = std::function<void()>;
  struct Watch {
    int fd;           // watched for EPOLLIN (level-triggered: the handler drains it)
    Handler handler;
  };

  using EventHandler = std::function<void(uint32_t events)>;
  struct DynamicWatch {
    int fd;
    uint32_t events;  // EPOLLIN | EPOLLOUT (level-triggered); 0 = registered but idle
    EventHandler handler;
  };

  // Starts a thread named `name` (at most 15 characters show) watching `watches` and,
  // from its first wait, `dynamic` (as if added with add_watch()).
  static Result<std::unique_ptr<IoThread>> start(std::string name, std::vector<Watch> watches,
                                                 std::vector<DynamicWatch> dynamic = {});
  // start() in two steps, for handlers that reach the IoThread through the owner's
  // pointer: create() sets it all up without running, launch() starts the thread.
  static Result<std::unique_ptr<IoThread>> create(std::string name, std::vector<Watch> watches,
                                                  std::vector<DynamicWatch> dynamic = {});
  void launch();
  struct Key {  // for start() only
   private:
    friend class IoThread;
    Key() = default;
  };
  explicit IoThread(Key) {}
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Stops and joins the thread (from another thread; a handler must not call it).
  void stop();
  // Stops or resumes watching one of the fds (a tap whose frames have nowhere to go
  // until the driver posts buffers). From a handler, or any thread.
  Result<void> set_watching(int fd, bool on);

  // Dynamic watches; from a handler or any thread. An fd is watched at most once.
  // set_events() with 0 takes the fd out of the epoll set (so a hung-up socket nobody
  // wants to read does not wake the loop over and over) and keeps its handler.
  // After remove_watch() returns, the handler is not called again, even for events the
  // loop already fetched; the caller may then close the fd.
  Result<void> add_watch(int fd, uint32_t events, EventHandler handler);
  Result<void> set_events(int fd, uint32_t events);
  void remove_watch(int fd);

 private:
  struct Dynamic {
    uint64_t token;
    uint32_t events;
    EventHandler handler;
  };
  void run();
  void dispatch(uint64_t token, uint32_t events);

  Epoll epoll_;
  EventFd stop_;
  std::vector<Watch> watches_;
  std::mutex mutex_;  // guards dynamic_, tokens_ and next_token_
  std::unordered_map<int, Dynamic> dynamic_;     // by fd
  std::unordered_map<uint64_t, int> tokens_;     // token -> fd
  uint64_t next_token_ = uint64_t{1} << 32;      // above every fixed watch's index
  std::string name_;
  std::thread thread_;
};

}  // namespace vireo::virtio
