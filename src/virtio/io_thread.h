// IoThread: one device back-end's thread, an epoll loop over the device's file
// descriptors (queue kicks, a tap, an io_uring's completion eventfd) that calls each
// one's handler when it becomes readable. Handlers run on this thread only, one at a
// time. Destroying the IoThread (or stop()) wakes the loop and joins it.
#pragma once

#include <functional>
#include <string>
#include <thread>
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

  // Starts a thread named `name` (at most 15 characters show) watching `watches`.
  static Result<std::unique_ptr<IoThread>> start(std::string name, std::vector<Watch> watches);
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

 private:
  void run();

  Epoll epoll_;
  EventFd stop_;
  std::vector<Watch> watches_;
  std::string name_;
  std::thread thread_;
};

}  // namespace vireo::virtio
