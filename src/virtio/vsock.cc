#include "virtio/vsock.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "util/unix_socket.h"
#include "virtio/rate_limiter.h"  // monotonic_ns

namespace vireo::virtio {

using vsockp::Header;

namespace {

constexpr size_t kHeaderSize = sizeof(Header);
// RSTs for connections already gone, waiting for receive buffers: one per connection
// plus a margin for packets to unknown ports; beyond that they are dropped (the guest
// times out instead).
constexpr size_t kMaxResets = Vsock::kMaxConnections + 256;
// Tell the guest about freed buffer space once this much was passed on, so that it can
// go on sending before its credit runs out.
constexpr uint32_t kCreditUpdateThreshold = Vsock::kBufAlloc / 4;

// "CONNECT <port>" (the newline already taken off) -> port. As Firecracker reads it: the
// keyword in any case, words separated by blanks ("connect 52\r" is fine).
std::optional<uint32_t> parse_connect(std::string_view line) {
  constexpr std::string_view kBlanks = " \t\r";
  auto next_word = [&]() {
    const size_t start = std::min(line.find_first_not_of(kBlanks), line.size());
    line.remove_prefix(start);
    const size_t end = std::min(line.find_first_of(kBlanks), line.size());
    const std::string_view w = line.substr(0, end);
    line.remove_prefix(end);
    return w;
  };
  const std::string_view keyword = next_word(), number = next_word();
  if (keyword.size() != 7 || !std::equal(keyword.begin(), keyword.end(), "connect",
                                         [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
    return std::nullopt;
  if (!next_word().empty() || number.empty()) return std::nullopt;
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), port);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return port;
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

Result<std::shared_ptr<Vsock>> Vsock::create(uint64_t guest_cid, std::string uds_path) {
  if (guest_cid < kMinGuestCid || guest_cid > kMaxGuestCid)
    return Error(fmt::format("guest CID {} is out of range ({}-{})", guest_cid, kMinGuestCid, kMaxGuestCid));
  VIREO_ASSIGN_OR_RETURN(auto fd, unix_listen(uds_path, 64));
  return std::make_shared<Vsock>(Key{}, guest_cid, std::move(uds_path), std::move(fd));
}

Vsock::Vsock(Key, uint64_t guest_cid, std::string uds_path, UniqueFd listener)
    : cid_(guest_cid), path_(std::move(uds_path)), listener_(std::move(listener)) {}

Vsock::~Vsock() {
  deactivate();
  ::unlink(path_.c_str());  // the socket file is ours (create() bound it)
}

uint64_t Vsock::offered_features() const {
  return feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
         feature::bit(feature::kIndirectDesc);
}

void Vsock::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t c[8];
  std::memcpy(c, &cid_, sizeof(c));
  std::memcpy(data.data(), c + offset, data.size());
}

Result<void> Vsock::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  used_[0] = used_[1] = false;
  scratch_.resize(kMaxPayload);
  auto timer = TimerFd::create();
  if (!timer.ok()) {
    act_ = {};
    return timer.error().context("virtio-vsock request timer");
  }
  timer_ = std::move(*timer);
  timer_at_ = 0;
  resume();
  if (!thread_) {
    deactivate();
    return Error("virtio-vsock: cannot start its I/O thread");
  }
  return {};
}

void Vsock::stop_thread() {
  // Joined before the pointer goes: until then handlers may still use it.
  if (thread_) thread_->stop();
  thread_.reset();
}

void Vsock::deactivate() {
  stop_thread();
  // The guest's connections end with the driver; their host sockets see EOF.
  conns_.clear();
  by_ports_.clear();
  rx_pending_.clear();
  resets_.clear();
  timer_.reset();
  stats_.connections.store(0, std::memory_order_relaxed);
  act_ = {};
}

void Vsock::pause() { stop_thread(); }

void Vsock::resume() {
  if (!act_.interrupts || thread_) return;
  std::vector<IoThread::Watch> watches = {
      {act_.kicks[kRxQueue].fd(), [this] { on_rx_kick(); }},
      {act_.kicks[kTxQueue].fd(), [this] { on_tx_kick(); }},
      {listener_.get(), [this] { on_listener(); }},
      {timer_->fd(), [this] { on_timer(); }},
  };
  std::vector<IoThread::DynamicWatch> sockets;
  for (auto& [id, c] : conns_)
    sockets.push_back({c->sock.get(), c->events, [this, id = id](uint32_t ev) { on_socket(id, ev); }});
  auto t = IoThread::create("virtio-vsock", std::move(watches), std::move(sockets));
  if (!t.ok()) return;
  thread_ = std::move(*t);  // before it runs: handlers use it
  listener_paused_ = false;
  thread_->launch();
}

void Vsock::broken(std::string why) {
  if (broken_) return;
  broken_ = true;
  act_.interrupts->needs_reset(std::move(why));
}

void Vsock::notify(uint16_t queue) {
  if (!used_[queue] || broken_) return;
  used_[queue] = false;
  notify_used(act_, queue);
}

void Vsock::on_rx_kick() {
  act_.kicks[kRxQueue].drain();
  process_rx();
}

void Vsock::on_tx_kick() {
  act_.kicks[kTxQueue].drain();
  process_tx();
}

// ---------------------------------------------------------------- connections

Vsock::Conn* Vsock::find(uint32_t local_port, uint32_t peer_port) {
  auto it = by_ports_.find({local_port, peer_port});
  return it == by_ports_.end() ? nullptr : it->second;
}

Vsock::Conn* Vsock::add_conn(UniqueFd sock, State state) {
  auto c = std::make_unique<Conn>();
  c->id = next_id_++;
  c->sock = std::move(sock);
  c->state = state;
  Conn* p = c.get();
  const uint64_t id = p->id;
  if (!thread_->add_watch(p->sock.get(), 0, [this, id](uint32_t ev) { on_socket(id, ev); }).ok())
    return nullptr;
  conns_.emplace(id, std::move(c));
  stats_.connections.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void Vsock::erase(Conn& c) {
  thread_->remove_watch(c.sock.get());
  if (c.state != State::kReadingConnect) by_ports_.erase({c.local_port, c.peer_port});
  // Out of rx_pending_ too: with no receive buffers posted, a guest opening and resetting
  // connections would otherwise grow it without bound.
  if (c.queued) std::erase(rx_pending_, c.id);
  if (listener_paused_ && thread_->set_watching(listener_.get(), true).ok()) listener_paused_ = false;
  stats_.connections.fetch_sub(1, std::memory_order_relaxed);
  conns_.erase(c.id);  // closes the host socket
}

void Vsock::kill(Conn& c) {
  // The guest knows the connection once it has seen our REQUEST or sent its own.
  if (c.state == State::kEstablished || (c.state == State::kRequested && !c.want_request))
    queue_rst(c.local_port, c.peer_port);
  erase(c);
}

void Vsock::queue_rst(uint32_t local_port, uint32_t peer_port) {
  if (resets_.size() >= kMaxResets) {
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Header h;
  h.src_cid = vsockp::kHostCid;
  h.dst_cid = cid_;
  h.src_port = local_port;
  h.dst_port = peer_port;
  h.type = vsockp::kTypeStream;
  h.op = vsockp::kOpRst;
  resets_.push_back(h);
}

uint32_t Vsock::peer_credit(const Conn& c) const {
  const uint32_t in_flight = c.rx_cnt - c.peer_fwd_cnt;  // wraps, as the counters do
  return in_flight >= c.peer_buf_alloc ? 0 : c.peer_buf_alloc - in_flight;
}

bool Vsock::can_forward(const Conn& c) const {
  return c.readable && c.state == State::kEstablished && !c.guest_no_recv && !c.host_eof;
}

bool Vsock::has_packet(const Conn& c) const {
  if (c.want_request || c.want_response || c.want_credit) return true;
  if (!can_forward(c)) return false;
  // Data, or a CREDIT_REQUEST when it waits for credit (once: the guest's answer comes
  // with the same numbers until its reader catches up, and then it tells us anyway).
  return peer_credit(c) > 0 || !c.credit_asked;
}

void Vsock::queue(Conn& c) {
  if (c.queued || !has_packet(c)) return;
  c.queued = true;
  rx_pending_.push_back(c.id);
}

void Vsock::update_events(Conn& c) {
  uint32_t want = 0;
  if (c.state == State::kReadingConnect) want = EPOLLIN;
  if (c.state == State::kEstablished) {
    // Readable data waits (IN off) until it has gone to the guest: level-triggered IN
    // would wake the loop for nothing while the guest has no credit or buffers.
    if (!c.readable && !c.host_eof && !c.guest_no_recv) want |= EPOLLIN;
    if (c.tx_off < c.tx_buf.size()) want |= EPOLLOUT;
  }
  if (want == c.events) return;
  if (thread_->set_events(c.sock.get(), want).ok()) c.events = want;
}

Header Vsock::header_for(const Conn& c, uint16_t op) const {
  Header h;
  h.src_cid = vsockp::kHostCid;
  h.dst_cid = cid_;
  h.src_port = c.local_port;
  h.dst_port = c.peer_port;
  h.type = vsockp::kTypeStream;
  h.op = op;
  h.buf_alloc = kBufAlloc;
  h.fwd_cnt = c.fwd_cnt;
  return h;
}

// ---------------------------------------------------------------- host side

void Vsock::on_listener() {
  for (;;) {
    UniqueFd s(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!s) {
      // Out of descriptors or memory: the listener stays readable, so stop watching it
      // until a connection closes (else the loop would spin on it).
      if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
          thread_->set_watching(listener_.get(), false).ok())
        listener_paused_ = true;
      return;
    }
    if (conns_.size() >= kMaxConnections) continue;  // closed: the host program sees EOF
    if (Conn* c = add_conn(std::move(s), State::kReadingConnect)) update_events(*c);
  }
}

void Vsock::on_socket(uint64_t id, uint32_t events) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (c.state == State::kReadingConnect) {
    read_connect_line(c);
  } else {
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c.events & EPOLLIN)) {
      c.readable = true;  // read when it can go to the guest
      queue(c);
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) flush_tx(c);
    if (auto still = conns_.find(id); still != conns_.end()) update_events(*still->second);
  }
  process_rx();
}

void Vsock::read_connect_line(Conn& c) {
  // One byte at a time: whatever follows the line is the guest's, not ours to take.
  for (;;) {
    if (c.line.size() >= kMaxConnectLine) return erase(c);
    char ch;
    const ssize_t n = ::recv(c.sock.get(), &ch, 1, MSG_DONTWAIT);
    if (n < 0 && would_block(errno)) return;
    if (n <= 0) return erase(c);
    if (ch != '\n') {
      c.line.push_back(ch);
      continue;
    }
    auto port = parse_connect(c.line);
    if (!port) return erase(c);
    uint32_t local = next_local_port_;
    while (find(local, *port)) local = local == UINT32_MAX ? kFirstLocalPort : local + 1;
    next_local_port_ = local == UINT32_MAX ? kFirstLocalPort : local + 1;
    c.local_port = local;
    c.peer_port = *port;
    c.state = State::kRequested;
    c.want_request = true;
    by_ports_[{local, *port}] = &c;
    update_events(c);
    queue(c);
    return;
  }
}

void Vsock::flush_tx(Conn& c) {
  while (c.tx_off < c.tx_buf.size()) {
    const ssize_t n = ::send(c.sock.get(), c.tx_buf.data() + c.tx_off, c.tx_buf.size() - c.tx_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && would_block(errno)) break;
    if (n <= 0) return kill(c);
    c.tx_off += static_cast<size_t>(n);
    c.fwd_cnt += static_cast<uint32_t>(n);
    stats_.tx_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  if (c.tx_off == c.tx_buf.size()) {
    c.tx_buf.clear();
    c.tx_off = 0;
  }
  if (c.fwd_cnt - c.fwd_cnt_told >= kCreditUpdateThreshold) c.want_credit = true;
  queue(c);
  maybe_finish(c);
}

void Vsock::maybe_finish(Conn& c) {
  if (c.tx_off < c.tx_buf.size() || !c.guest_no_send) return;
  if (!c.host_write_shut) {
    ::shutdown(c.sock.get(), SHUT_WR);  // the host reads EOF
    c.host_write_shut = true;
  }
  // Nobody will send any more (or the guest will not even read): close, with the RST a
  // Linux guest waits for after its SHUTDOWN.
  if (c.host_eof || c.guest_no_recv) kill(c);
}

void Vsock::start_deadline(Conn& c) {
  c.deadline_ns = monotonic_ns() + kRequestTimeoutNs;
  // One timer for all: armed for the earliest deadline (arming replaces the time).
  if (timer_at_ != 0 && timer_at_ <= c.deadline_ns) return;
  if (timer_->arm(kRequestTimeoutNs).ok()) timer_at_ = c.deadline_ns;
}

void Vsock::on_timer() {
  timer_->drain();
  timer_at_ = 0;
  const uint64_t now = monotonic_ns();
  std::vector<uint64_t> expired;
  uint64_t next = 0;
  for (auto& [id, c] : conns_) {
    if (c->deadline_ns == 0) continue;
    if (c->deadline_ns <= now) {
      expired.push_back(id);
    } else if (next == 0 || c->deadline_ns < next) {
      next = c->deadline_ns;
    }
  }
  for (uint64_t id : expired)
    if (auto it = conns_.find(id); it != conns_.end()) kill(*it->second);
  if (next != 0 && timer_->arm(next - now).ok()) timer_at_ = next;
  process_rx();
}

// ---------------------------------------------------------------- transmit (guest to host)

void Vsock::process_tx() {
  Queue& q = act_.queues[kTxQueue];
  if (broken_ || !q.state().ready) return;
  const auto& mem = *act_.mem;
  for (;;) {
    auto chain = q.pop(mem);
    if (!chain.ok()) return broken(chain.error().message());
    if (!*chain) break;
    const DescriptorChain& c = **chain;
    ChainReader r(mem, c);
    auto h = r.read_obj<Header>();
    if (h.ok()) {
      handle_packet(*h, c);
    } else {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);  // shorter than a header
    }
    if (!q.add_used(mem, c.head, 0).ok()) return broken("vsock transmit used ring is not writable");
    used_[kTxQueue] = true;
  }
  notify(kTxQueue);
  process_rx();
}

void Vsock::handle_packet(const Header& h, const DescriptorChain& chain) {
  if (h.src_cid != cid_ || h.dst_cid != vsockp::kHostCid) {
    // Not from our guest or not for the host: nobody to answer.
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Conn* c = find(h.dst_port, h.src_port);
  const bool sane = h.type == vsockp::kTypeStream && h.len <= kMaxPayload &&
                    h.len <= chain.readable_bytes() - kHeaderSize;
  if (!sane) {
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    if (c) return kill(*c);
    if (h.op != vsockp::kOpRst) queue_rst(h.dst_port, h.src_port);
    return;
  }
  if (!c) {
    if (h.op == vsockp::kOpRequest) return guest_connect(h);
    if (h.op != vsockp::kOpRst) queue_rst(h.dst_port, h.src_port);
    return;
  }
  const uint64_t id = c->id;
  if (c->peer_buf_alloc != h.buf_alloc || c->peer_fwd_cnt != h.fwd_cnt) c->credit_asked = false;
  c->peer_buf_alloc = h.buf_alloc;
  c->peer_fwd_cnt = h.fwd_cnt;
  const bool established = c->state == State::kEstablished;
  switch (h.op) {
    case vsockp::kOpRw:
      if (!established || c->guest_no_send) return kill(*c);
      guest_data(*c, chain, h.len);
      break;
    case vsockp::kOpResponse:
      // Only as the answer to our REQUEST, once the guest has seen it.
      if (c->state != State::kRequested || c->want_request) return kill(*c);
      guest_response(*c);
      break;
    case vsockp::kOpRst:
      return erase(*c);
    case vsockp::kOpShutdown:
      if (!established) return kill(*c);
      guest_shutdown(*c, h.flags);
      break;
    case vsockp::kOpCreditUpdate:
      break;  // the credit fields were all it carried
    case vsockp::kOpCreditRequest:
      c->want_credit = true;
      break;
    default:  // a second REQUEST, or no operation at all
      return kill(*c);
  }
  // New credit may let waiting host data go.
  if (auto it = conns_.find(id); it != conns_.end()) queue(*it->second);
}

void Vsock::guest_connect(const Header& h) {
  if (conns_.size() >= kMaxConnections) return queue_rst(h.dst_port, h.src_port);
  auto sock = unix_connect(fmt::format("{}_{}", path_, h.dst_port));
  if (!sock.ok()) return queue_rst(h.dst_port, h.src_port);  // nobody listens there
  Conn* c = add_conn(std::move(*sock), State::kEstablished);
  if (!c) return queue_rst(h.dst_port, h.src_port);
  c->local_port = h.dst_port;
  c->peer_port = h.src_port;
  c->peer_buf_alloc = h.buf_alloc;
  c->peer_fwd_cnt = h.fwd_cnt;
  c->want_response = true;
  by_ports_[{c->local_port, c->peer_port}] = c;
  update_events(*c);
  queue(*c);
}

void Vsock::guest_data(Conn& c, const DescriptorChain& chain, uint32_t len) {
  if (len == 0) return;
  // The guest may have at most our buffer in flight; more means it ignored its credit.
  if (c.tx_buf.size() - c.tx_off + len > kBufAlloc) return kill(c);
  ChainReader r(*act_.mem, chain);
  if (!r.skip(kHeaderSize).ok() || !r.read(std::span<uint8_t>(scratch_.data(), len)).ok())
    return kill(c);
  if (c.tx_off > 0 && c.tx_off >= c.tx_buf.size() / 2) {  // keep the buffer from creeping
    c.tx_buf.erase(c.tx_buf.begin(), c.tx_buf.begin() + static_cast<ptrdiff_t>(c.tx_off));
    c.tx_off = 0;
  }
  c.tx_buf.insert(c.tx_buf.end(), scratch_.begin(), scratch_.begin() + len);
  const uint64_t id = c.id;
  flush_tx(c);
  if (auto it = conns_.find(id); it != conns_.end()) update_events(*it->second);
}

void Vsock::guest_response(Conn& c) {
  c.state = State::kEstablished;
  c.deadline_ns = 0;
  const std::string ok = fmt::format("OK {}\n", c.local_port);
  // The first bytes on a fresh socket: they fit its buffer, or the host program is gone.
  const ssize_t n = ::send(c.sock.get(), ok.data(), ok.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(ok.size())) return kill(c);
  update_events(c);
}

void Vsock::guest_shutdown(Conn& c, uint32_t flags) {
  c.guest_no_recv |= (flags & vsockp::kShutdownRcv) != 0;
  c.guest_no_send |= (flags & vsockp::kShutdownSend) != 0;
  const uint64_t id = c.id;
  maybe_finish(c);
  if (auto it = conns_.find(id); it != conns_.end()) update_events(*it->second);
}

// ---------------------------------------------------------------- receive (host to guest)

void Vsock::process_rx() {
  Queue& q = act_.queues[kRxQueue];
  if (broken_ || !q.state().ready) return;
  const auto& mem = *act_.mem;
  while (!resets_.empty() || !rx_pending_.empty()) {
    auto popped = q.pop(mem);
    if (!popped.ok()) return broken(popped.error().message());
    if (!*popped) break;  // no buffers: the driver's next kick brings us back
    const DescriptorChain& chain = **popped;
    uint32_t written = 0;
    if (chain.writable_bytes() < kHeaderSize) {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);  // useless buffer: hand it back
    } else if (!resets_.empty()) {
      ChainWriter w(mem, chain);
      if (!w.write_obj(resets_.front()).ok()) return broken("vsock receive buffer is not writable");
      resets_.pop_front();
      written = kHeaderSize;
      stats_.resets_sent.fetch_add(1, std::memory_order_relaxed);
    } else {
      const uint64_t id = rx_pending_.front();
      auto it = conns_.find(id);
      bool filled = false;
      if (it != conns_.end()) {
        auto r = fill_packet(*it->second, chain, written);
        if (!r.ok()) return broken(r.error().message());
        filled = *r;
      }
      // Off the list (unless fill_packet closed it: then erase() already took it off).
      if (!rx_pending_.empty() && rx_pending_.front() == id) rx_pending_.pop_front();
      it = conns_.find(id);
      if (it != conns_.end()) {
        Conn& c = *it->second;
        c.queued = false;
        if (filled) queue(c);  // to the back: connections take turns
        update_events(c);
      }
      if (!filled) {
        q.undo_pop();
        continue;
      }
    }
    if (!q.add_used(mem, chain.head, written).ok()) return broken("vsock receive used ring is not writable");
    used_[kRxQueue] = true;
  }
  notify(kRxQueue);
}

Result<bool> Vsock::fill_packet(Conn& c, const DescriptorChain& chain, uint32_t& written) {
  ChainWriter w(*act_.mem, chain);
  auto send = [&](Header h, size_t data_len) -> Result<bool> {
    h.len = static_cast<uint32_t>(data_len);
    VIREO_TRY(w.write_obj(h));
    if (data_len) VIREO_TRY(w.write(std::span<const uint8_t>(scratch_.data(), data_len)));
    written = static_cast<uint32_t>(kHeaderSize + data_len);
    c.fwd_cnt_told = c.fwd_cnt;  // every packet carries it
    c.want_credit = false;
    return true;
  };
  if (c.want_request) {
    c.want_request = false;
    start_deadline(c);
    return send(header_for(c, vsockp::kOpRequest), 0);
  }
  if (c.want_response) {
    c.want_response = false;
    return send(header_for(c, vsockp::kOpResponse), 0);
  }
  if (can_forward(c) && peer_credit(c) == 0 && !c.credit_asked) {
    c.credit_asked = true;
    return send(header_for(c, vsockp::kOpCreditRequest), 0);
  }
  if (can_forward(c)) {
    const size_t room = std::min<uint64_t>({w.remaining() - kHeaderSize, peer_credit(c), kMaxPayload});
    if (room > 0) {
      const ssize_t n = ::recv(c.sock.get(), scratch_.data(), room, MSG_DONTWAIT);
      if (n > 0) {
        c.rx_cnt += static_cast<uint32_t>(n);
        stats_.rx_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        return send(header_for(c, vsockp::kOpRw), static_cast<size_t>(n));
      }
      if (n == 0) {
        // Host EOF: it sends no more. The guest may still send until it shuts down too.
        c.readable = false;
        c.host_eof = true;
        Header h = header_for(c, vsockp::kOpShutdown);
        h.flags = vsockp::kShutdownSend;
        auto r = send(h, 0);
        maybe_finish(c);
        return r;
      }
      if (!would_block(errno)) {
        kill(c);
        return false;
      }
      c.readable = false;  // drained: watch for more
    }
  }
  if (c.want_credit) return send(header_for(c, vsockp::kOpCreditUpdate), 0);
  return false;
}

void Vsock::report_metrics(metrics::Collector& out, const std::string& id) const {
  out.scope("vsock", "device", id);
  out.gauge("connections", stats_.connections.load());
  out.counter("tx_bytes", stats_.tx_bytes.load());
  out.counter("rx_bytes", stats_.rx_bytes.load());
  out.counter("resets_sent", stats_.resets_sent.load());
  out.counter("dropped", stats_.dropped.load());
}

}  // namespace vireo::virtio
