// Vsock: virtio-vsock (virtio 1.2, 5.10) with Firecracker's host side, so that the tools
// written for Firecracker work unchanged:
// - vireo listens on a Unix socket PATH. A host program connects and writes
//   "CONNECT <port>\n"; vireo asks the guest for a connection to that port (REQUEST from
//   the host CID 2 and a local port of its own) and, when the guest accepts (RESPONSE),
//   answers "OK <local port>\n"; then the bytes flow both ways. A refusal (RST) closes
//   the host socket.
// - A guest connection to CID 2, port P, is a connection to the Unix socket "PATH_P".
// - Shutting down: host EOF becomes SHUTDOWN(SEND) to the guest, the guest's
//   SHUTDOWN(SEND) a shutdown(SHUT_WR) of the host socket once its bytes are out; when
//   neither side will send any more (or the guest has shut down both ways) the device
//   sends RST and closes the host socket, which is what Linux waits for after close().
//   RST from the guest, or an error on the host socket, tears the connection down.
// Memory is bounded: per connection at most kBufAlloc bytes from the guest wait for the
// host socket (the credit the device grants; a guest that sends more is reset), and a host
// socket is read only when the guest has credit for it and has posted receive buffers,
// straight into them. Connections are capped (kMaxConnections), as are resets waiting to
// be delivered. A packet with a bad header, for an unknown connection or in the wrong
// state gets RST or is dropped; nothing a guest sends stops the device.
//
// Queues: receive (0, device to driver), transmit (1), event (2; never used: there is no
// live migration to announce). Everything runs on the device's I/O thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/epoll.h"
#include "util/unique_fd.h"
#include "virtio/device.h"
#include "virtio/io_thread.h"
#include "virtio/spec.h"

namespace vireo::virtio {

// 5.10.6 Device operation.
namespace vsockp {
inline constexpr uint64_t kHostCid = 2;
inline constexpr uint16_t kTypeStream = 1;
inline constexpr uint16_t kOpRequest = 1, kOpResponse = 2, kOpRst = 3, kOpShutdown = 4,
                          kOpRw = 5, kOpCreditUpdate = 6, kOpCreditRequest = 7;
inline constexpr uint32_t kShutdownRcv = 1, kShutdownSend = 2;

// struct virtio_vsock_hdr (all fields little-endian; x86 hosts only).
struct __attribute__((packed)) Header {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = 0;
  uint16_t op = 0;
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
};
static_assert(sizeof(Header) == 44);
}  // namespace vsockp

// The smallest and largest guest CIDs (0-2 are reserved, and Linux's CIDs are 32 bits
// with ~0 meaning "any").
inline constexpr uint64_t kMinGuestCid = 3, kMaxGuestCid = 0xfffffffe;

class Vsock : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint16_t kRxQueue = 0, kTxQueue = 1, kEventQueue = 2;
  // The receive buffer each connection offers the guest (its credit), in bytes.
  static constexpr uint32_t kBufAlloc = 256 * 1024;
  // The largest payload accepted in one packet (Linux sends at most 64 KiB).
  static constexpr uint32_t kMaxPayload = 64 * 1024;
  static constexpr size_t kMaxConnections = 1024;
  // Host-initiated connections get local ports counting up from here (as Firecracker).
  static constexpr uint32_t kFirstLocalPort = 1u << 30;
  // The longest "CONNECT <port>\n" line accepted.
  static constexpr size_t kMaxConnectLine = 32;
  // How long the guest has to answer our REQUEST before the host socket is closed (as
  // Firecracker: a guest that never answers must not hold host programs forever).
  static constexpr uint64_t kRequestTimeoutNs = 2'000'000'000;

  // Listens on `uds_path` (a stale socket file nobody listens on is replaced; one in use
  // is an error).
  static Result<std::shared_ptr<Vsock>> create(uint64_t guest_cid, std::string uds_path);
  struct Key {
   private:
    friend class Vsock;
    Key() = default;
  };
  Vsock(Key, uint64_t guest_cid, std::string uds_path, UniqueFd listener);
  ~Vsock() override;

  std::string_view name() const override { return "virtio-vsock"; }
  uint32_t device_type() const override { return device_id::kVsock; }
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override {
    return {kQueueSize, kQueueSize, kQueueSize};
  }
  uint32_t config_size() const override { return 8; }  // le64 guest_cid
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;

  Result<void> activate(const Activation& activation) override;
  void deactivate() override;
  void pause() override;
  void resume() override;

  uint64_t guest_cid() const { return cid_; }
  const std::string& uds_path() const { return path_; }

  struct Stats {
    std::atomic<uint64_t> connections{0};   // open now
    std::atomic<uint64_t> tx_bytes{0};      // guest to host sockets
    std::atomic<uint64_t> rx_bytes{0};      // host sockets to guest
    std::atomic<uint64_t> resets_sent{0};
    std::atomic<uint64_t> dropped{0};       // malformed or misaddressed packets
  };
  const Stats& stats() const { return stats_; }
  void report_metrics(metrics::Collector& out, const std::string& id) const override;

 private:
  enum class State {
    kReadingConnect,  // host connected to PATH, its CONNECT line is not complete
    kRequested,       // REQUEST to the guest queued or sent, no answer yet
    kEstablished,
  };
  struct Conn {
    uint64_t id = 0;
    UniqueFd sock;
    State state = State::kReadingConnect;
    uint32_t local_port = 0, peer_port = 0;
    std::string line;  // the CONNECT line so far
    // What waits to go to the guest.
    bool want_request = false, want_response = false, want_credit = false;
    bool readable = false;  // the host socket has bytes (or EOF) not read yet
    bool credit_asked = false;  // CREDIT_REQUEST sent since the guest's credit last moved
    bool queued = false;    // in rx_pending_
    // Shutdown.
    bool host_eof = false;        // SHUTDOWN(SEND) delivered: the host sends no more
    bool guest_no_send = false, guest_no_recv = false;
    bool host_write_shut = false;
    // Credit: the guest's receive buffer, and what we sent into it.
    uint32_t peer_buf_alloc = 0, peer_fwd_cnt = 0, rx_cnt = 0;
    // Ours: bytes from the guest passed to the host socket, and the count last told.
    uint32_t fwd_cnt = 0, fwd_cnt_told = 0;
    std::vector<uint8_t> tx_buf;  // guest bytes the host socket did not take yet
    size_t tx_off = 0;
    uint32_t events = 0;  // epoll interest
    uint64_t deadline_ns = 0;  // REQUEST delivered, no answer yet: killed at this time
  };

  void stop_thread();
  void on_rx_kick();
  void on_tx_kick();
  void on_listener();
  void on_socket(uint64_t id, uint32_t events);
  void on_timer();
  void start_deadline(Conn& c);
  void process_tx();
  void process_rx();

  // Transmit side: one packet from the guest.
  void handle_packet(const vsockp::Header& h, const DescriptorChain& chain);
  void guest_connect(const vsockp::Header& h);
  void guest_data(Conn& c, const DescriptorChain& chain, uint32_t len);
  void guest_response(Conn& c);
  void guest_shutdown(Conn& c, uint32_t flags);
  // Receive side: fills `chain` with the next packet of `c`; false if it has none.
  Result<bool> fill_packet(Conn& c, const DescriptorChain& chain, uint32_t& written);

  // Host side.
  void read_connect_line(Conn& c);
  void flush_tx(Conn& c);
  // Shuts the host socket's write side, or closes the connection, once both sides are done.
  void maybe_finish(Conn& c);

  Conn* find(uint32_t local_port, uint32_t peer_port);
  Conn* add_conn(UniqueFd sock, State state);
  // RST to the guest (if the connection got that far) and the host socket closed.
  void kill(Conn& c);
  void erase(Conn& c);
  void queue_rst(uint32_t local_port, uint32_t peer_port);
  void queue(Conn& c);
  bool can_forward(const Conn& c) const;  // host bytes may go to the guest (credit aside)
  bool has_packet(const Conn& c) const;
  uint32_t peer_credit(const Conn& c) const;
  void update_events(Conn& c);
  vsockp::Header header_for(const Conn& c, uint16_t op) const;
  void broken(std::string why);
  void notify(uint16_t queue);

  uint64_t cid_;
  std::string path_;
  UniqueFd listener_;
  bool listener_paused_ = false;  // unwatched after accept() ran out of descriptors
  Activation act_{};
  bool broken_ = false;
  bool used_[2] = {false, false};
  uint64_t next_id_ = 1;
  uint32_t next_local_port_ = kFirstLocalPort;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::map<std::pair<uint32_t, uint32_t>, Conn*> by_ports_;  // (local, peer)
  std::deque<uint64_t> rx_pending_;   // connections with something for the guest (once each)
  std::deque<vsockp::Header> resets_;  // RSTs for connections that are gone
  std::vector<uint8_t> scratch_;
  std::optional<TimerFd> timer_;
  uint64_t timer_at_ = 0;  // when timer_ fires (0: not armed)
  std::unique_ptr<IoThread> thread_;
  Stats stats_;
};

}  // namespace vireo::virtio
