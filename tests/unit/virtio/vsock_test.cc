// virtio-vsock behind the virtio-mmio transport, with its real I/O thread, over a small
// real guest memory; the test plays the guest's driver (packets on the rings) and the
// host programs (real Unix sockets in a scratch directory under /tmp).
#include "virtio/vsock.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;
using vsockp::Header;

constexpr uint64_t kCid = 3;
constexpr uint32_t kRxBuf = 4096 + 44;
constexpr uint16_t kRing = 64;

sockaddr_un addr_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

UniqueFd host_connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = addr_of(path);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
  timeval tv{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

UniqueFd host_listen(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = addr_of(path);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

// Reads exactly n bytes (or what arrives before EOF or the 2 s timeout).
std::string host_read(int fd, size_t n) {
  std::string s;
  while (s.size() < n) {
    char buf[4096];
    const ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - s.size()), 0);
    if (r <= 0) break;
    s.append(buf, static_cast<size_t>(r));
  }
  return s;
}

// True if the host socket reads EOF (not a timeout).
bool host_eof(int fd) {
  char c;
  return ::recv(fd, &c, 1, 0) == 0;
}

// True if the other end closed: EOF, or ECONNRESET when it left our bytes unread.
bool host_closed(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// One split queue laid out in the test's guest memory, driven from the test.
struct Ring {
  uint64_t desc = 0, avail = 0, used = 0;
  uint16_t next_desc = 0, avail_idx = 0, used_seen = 0;
};

struct Packet {
  Header h;
  std::string data;
};

struct VsockFixture {
  VsockFixture() { t->attach_irq(irq); }
  static std::string make_scratch() {
    char dir[] = "/tmp/vireo-vsock-XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    return dir;
  }
  ~VsockFixture() {
    t.reset();
    dev.reset();
    std::string cmd = "rm -rf " + scratch;
    (void)!::system(cmd.c_str());
  }

  Ring make_ring() {
    Ring r;
    r.desc = mem.alloc(split::desc_bytes(kRing), 16);
    r.avail = mem.alloc(split::avail_bytes(kRing), 2);
    r.used = mem.alloc(split::used_bytes(kRing), 4);
    return r;
  }
  void bring_up() {
    ASSERT_TRUE(regs.negotiate(feature::bit(feature::kVersion1)));
    for (uint32_t q = 0; q < 3; ++q) {
      rings[q] = make_ring();
      regs.setup_queue(q, kRing, rings[q].desc, rings[q].avail, rings[q].used);
    }
    regs.driver_ok();
    ASSERT_TRUE(t->active());
    // Receive buffers: descriptor i is buffer i, posted again when used.
    for (uint16_t i = 0; i < kRing; ++i) {
      rx_buf[i] = mem.alloc(kRxBuf);
      write_desc(rings[0], i, rx_buf[i], kRxBuf, split::kDescWrite, 0);
    }
    for (uint16_t i = 0; i < 32; ++i) make_available(rings[0], i);
    regs.write(mmio::kQueueNotify, Vsock::kRxQueue);
  }

  void write_desc(Ring& r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    const uint64_t at = r.desc + 16 * i;
    (void)mem.mem().write_obj<uint64_t>(at, addr);
    (void)mem.mem().write_obj<uint32_t>(at + 8, len);
    (void)mem.mem().write_obj<uint16_t>(at + 12, flags);
    (void)mem.mem().write_obj<uint16_t>(at + 14, next);
  }
  void make_available(Ring& r, uint16_t head) {
    (void)mem.mem().write_obj<uint16_t>(r.avail + 4 + 2 * (r.avail_idx % kRing), head);
    ++r.avail_idx;
    (void)mem.mem().write_obj<uint16_t>(r.avail + 2, r.avail_idx);
  }
  uint16_t used_idx(const Ring& r) { return *mem.mem().read_obj<uint16_t>(r.used + 2); }

  // The guest sends one packet (header and payload in separate buffers) and waits until
  // the device has taken it.
  void send(Header h, const std::string& data = "", std::optional<uint32_t> len = std::nullopt) {
    h.len = len.value_or(static_cast<uint32_t>(data.size()));
    Ring& r = rings[1];
    const uint64_t hb = mem.alloc(sizeof(h));
    (void)mem.mem().write_obj(hb, h);
    const uint16_t head = r.next_desc % kRing;
    if (data.empty()) {
      write_desc(r, head, hb, sizeof(h), 0, 0);
      r.next_desc += 1;
    } else {
      const uint64_t db = mem.alloc(data.size());
      (void)mem.mem().write(db, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
      write_desc(r, head, hb, sizeof(h), split::kDescNext, (head + 1) % kRing);
      write_desc(r, (head + 1) % kRing, db, static_cast<uint32_t>(data.size()), 0, 0);
      r.next_desc += 2;
    }
    make_available(r, head);
    regs.write(mmio::kQueueNotify, Vsock::kTxQueue);
    EXPECT_TRUE(eventually([&] { return used_idx(r) == r.avail_idx; }));
  }

  // The next packet the device put in a receive buffer, or nullopt after `wait_ms`.
  std::optional<Packet> receive(int wait_ms = 2000) {
    Ring& r = rings[0];
    for (int i = 0; i < wait_ms && used_idx(r) == r.used_seen; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (used_idx(r) == r.used_seen) return std::nullopt;
    const uint64_t at = r.used + 4 + 8 * (r.used_seen % kRing);
    const uint16_t id = static_cast<uint16_t>(*mem.mem().read_obj<uint32_t>(at));
    const uint32_t len = *mem.mem().read_obj<uint32_t>(at + 4);
    ++r.used_seen;
    Packet p;
    p.h = *mem.mem().read_obj<Header>(rx_buf[id]);
    EXPECT_EQ(len, sizeof(Header) + p.h.len);
    p.data.resize(p.h.len);
    (void)mem.mem().read(rx_buf[id] + sizeof(Header),
                         std::span<uint8_t>(reinterpret_cast<uint8_t*>(p.data.data()), p.data.size()));
    make_available(r, id);  // the buffer goes back, as Linux does
    regs.write(mmio::kQueueNotify, Vsock::kRxQueue);
    return p;
  }

  // A header from the guest (CID 3, port `guest_port`) to the host's `host_port`.
  static Header from_guest(uint16_t op, uint32_t guest_port, uint32_t host_port) {
    Header h;
    h.src_cid = kCid;
    h.dst_cid = vsockp::kHostCid;
    h.src_port = guest_port;
    h.dst_port = host_port;
    h.type = vsockp::kTypeStream;
    h.op = op;
    h.buf_alloc = 256 * 1024;
    return h;
  }

  // Host connects to the device's socket for `port`; the guest sees REQUEST and accepts.
  // Returns the host socket; `local` gets the device's port.
  UniqueFd host_to_guest(uint32_t port, uint32_t& local) {
    UniqueFd s = host_connect(path);
    const std::string line = "CONNECT " + std::to_string(port) + "\n";
    EXPECT_EQ(::send(s.get(), line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
    auto req = receive();
    EXPECT_TRUE(req);
    if (!req) return s;
    EXPECT_EQ(req->h.op, vsockp::kOpRequest);
    local = req->h.src_port;
    send(from_guest(vsockp::kOpResponse, port, local));
    EXPECT_EQ(host_read(s.get(), 3 + std::to_string(local).size() + 1), "OK " + std::to_string(local) + "\n");
    return s;
  }

  test::TestDriver mem{16, 0x1000000};
  std::string scratch = make_scratch(), path = scratch + "/v.sock";
  std::shared_ptr<Vsock> dev = *Vsock::create(kCid, path);
  std::shared_ptr<MmioTransport> t = *MmioTransport::create(dev, mem.mem());
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs{*t};
  Ring rings[3];
  uint64_t rx_buf[kRing] = {};
};

TEST(Vsock, ConfigHasTheGuestCid) {
  VsockFixture f;
  EXPECT_EQ(f.regs.read(mmio::kDeviceId), 19u);
  EXPECT_EQ(f.regs.read(mmio::kConfig), kCid);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 4), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(f.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST(Vsock, SocketInUseOrBadCidIsAnError) {
  VsockFixture f;
  auto again = Vsock::create(kCid, f.path);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("in use"), std::string::npos) << again.error().message();
  EXPECT_FALSE(Vsock::create(2, f.scratch + "/x.sock").ok());
  auto nodir = Vsock::create(kCid, f.scratch + "/missing/v.sock");
  ASSERT_FALSE(nodir.ok());
  EXPECT_NE(nodir.error().message().find("missing/v.sock"), std::string::npos);
}

TEST(Vsock, StaleSocketFileIsReplacedAndRemovedAtTheEnd) {
  VsockFixture f;
  const std::string stale = f.scratch + "/stale.sock";
  { UniqueFd l = host_listen(stale); }  // closed without unlinking: nobody listens
  {
    auto v = Vsock::create(kCid, stale);
    ASSERT_TRUE(v.ok()) << v.error().message();
    UniqueFd s = host_connect(stale);  // it listens now
  }
  EXPECT_NE(::access(stale.c_str(), F_OK), 0);
  const std::string file = f.scratch + "/plain";
  (void)!::system(("touch " + file).c_str());
  auto v = Vsock::create(kCid, file);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("not a socket"), std::string::npos);
}

TEST(Vsock, HostConnectsToAGuestPortAndDataFlowsBothWays) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5000, local);
  EXPECT_EQ(local, Vsock::kFirstLocalPort);
  ASSERT_EQ(::send(s.get(), "hello", 5, 0), 5);
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, vsockp::kOpRw);
  EXPECT_EQ(p->h.src_cid, vsockp::kHostCid);
  EXPECT_EQ(p->h.dst_cid, kCid);
  EXPECT_EQ(p->h.src_port, local);
  EXPECT_EQ(p->h.dst_port, 5000u);
  EXPECT_EQ(p->h.buf_alloc, Vsock::kBufAlloc);
  EXPECT_EQ(p->data, "hello");
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 5000, local), "world");
  EXPECT_EQ(host_read(s.get(), 5), "world");
  // The guest closes: the host reads EOF and the guest gets the RST it waits for.
  Header sd = VsockFixture::from_guest(vsockp::kOpShutdown, 5000, local);
  sd.flags = vsockp::kShutdownRcv | vsockp::kShutdownSend;
  f.send(sd);
  EXPECT_TRUE(host_eof(s.get()));
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
  EXPECT_TRUE(eventually([&] { return f.dev->stats().connections.load() == 0; }));
}

TEST(Vsock, HostEofIsShutdownSendAndTheGuestMayStillAnswer) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5001, local);
  ASSERT_EQ(::send(s.get(), "q", 1, 0), 1);
  ASSERT_EQ(::shutdown(s.get(), SHUT_WR), 0);
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "q");
  auto sd = f.receive();
  ASSERT_TRUE(sd);
  EXPECT_EQ(sd->h.op, vsockp::kOpShutdown);
  EXPECT_EQ(sd->h.flags, vsockp::kShutdownSend);
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 5001, local), "answer");
  EXPECT_EQ(host_read(s.get(), 6), "answer");
  Header gsd = VsockFixture::from_guest(vsockp::kOpShutdown, 5001, local);
  gsd.flags = vsockp::kShutdownSend;
  f.send(gsd);
  EXPECT_TRUE(host_eof(s.get()));
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
}

TEST(Vsock, GuestDoneSendingThenHostEofClosesTheConnection) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5006, local);
  Header gsd = VsockFixture::from_guest(vsockp::kOpShutdown, 5006, local);
  gsd.flags = vsockp::kShutdownSend;
  f.send(gsd);
  EXPECT_TRUE(host_eof(s.get()));  // our write side shut
  ASSERT_EQ(::send(s.get(), "last", 4, 0), 4);
  ASSERT_EQ(::shutdown(s.get(), SHUT_WR), 0);
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "last");
  auto sd = f.receive();
  ASSERT_TRUE(sd);
  EXPECT_EQ(sd->h.op, vsockp::kOpShutdown);
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
  EXPECT_TRUE(eventually([&] { return f.dev->stats().connections.load() == 0; }));
  // The device goes on serving.
  uint32_t local2 = 0;
  UniqueFd s2 = f.host_to_guest(5007, local2);
  EXPECT_EQ(local2, local + 1);
}

TEST(Vsock, GuestRefusalClosesTheHostSocket) {
  VsockFixture f;
  f.bring_up();
  UniqueFd s = host_connect(f.path);
  ASSERT_EQ(::send(s.get(), "CONNECT 7\n", 10, 0), 10);
  auto req = f.receive();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->h.op, vsockp::kOpRequest);
  EXPECT_EQ(req->h.dst_port, 7u);
  f.send(VsockFixture::from_guest(vsockp::kOpRst, 7, req->h.src_port));
  EXPECT_TRUE(host_eof(s.get()));
  EXPECT_FALSE(f.receive(50));  // no RST for an RST
}

TEST(Vsock, GuestThatNeverAnswersTimesOut) {
  VsockFixture f;
  f.bring_up();
  UniqueFd s = host_connect(f.path);
  ASSERT_EQ(::send(s.get(), "CONNECT 8\n", 10, 0), 10);
  auto req = f.receive();
  ASSERT_TRUE(req);
  const auto start = std::chrono::steady_clock::now();
  timeval tv{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_TRUE(host_eof(s.get()));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(waited, 1.5);
  EXPECT_LT(waited, 4.0);
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
  EXPECT_EQ(rst->h.src_port, req->h.src_port);
}

TEST(Vsock, MalformedOrLongConnectLinesCloseTheSocket) {
  VsockFixture f;
  f.bring_up();
  for (std::string bad : std::vector<std::string>{"CONNECT\n", "CONNECT x1\n", "CONNECT 5 6\n", "CONNECT 99999999999\n",
                                                  "CONNECTS 5\n", "CONNECT -1\n",
                          std::string(40, '1')}) {
    UniqueFd s = host_connect(f.path);
    ASSERT_EQ(::send(s.get(), bad.data(), bad.size(), 0), static_cast<ssize_t>(bad.size()));
    EXPECT_TRUE(host_closed(s.get())) << bad;
  }
  EXPECT_FALSE(f.receive(50));
}

TEST(Vsock, ConnectLineAsFirecrackerReadsIt) {
  VsockFixture f;
  f.bring_up();
  UniqueFd s = host_connect(f.path);
  // Any case, extra blanks, CRLF; the bytes after the line are the guest's.
  const std::string line = "connect  5010 \r\nfirst";
  ASSERT_EQ(::send(s.get(), line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
  auto req = f.receive();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->h.op, vsockp::kOpRequest);
  EXPECT_EQ(req->h.dst_port, 5010u);
  f.send(VsockFixture::from_guest(vsockp::kOpResponse, 5010, req->h.src_port));
  EXPECT_EQ(host_read(s.get(), 3), "OK ");
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "first");
}

TEST(Vsock, GuestConnectsToAHostListener) {
  VsockFixture f;
  f.bring_up();
  UniqueFd l = host_listen(f.path + "_6000");
  f.send(VsockFixture::from_guest(vsockp::kOpRequest, 1234, 6000));
  auto resp = f.receive();
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->h.op, vsockp::kOpResponse);
  EXPECT_EQ(resp->h.src_port, 6000u);
  EXPECT_EQ(resp->h.dst_port, 1234u);
  UniqueFd s(::accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(s);
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 1234, 6000), "ping");
  EXPECT_EQ(host_read(s.get(), 4), "ping");
  ASSERT_EQ(::send(s.get(), "pong", 4, 0), 4);
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "pong");
  s.reset();  // host closes
  auto sd = f.receive();
  ASSERT_TRUE(sd);
  EXPECT_EQ(sd->h.op, vsockp::kOpShutdown);
  Header gsd = VsockFixture::from_guest(vsockp::kOpShutdown, 1234, 6000);
  gsd.flags = vsockp::kShutdownRcv | vsockp::kShutdownSend;
  f.send(gsd);
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
}

TEST(Vsock, ConnectionsSurvivePauseAndResume) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5004, local);
  f.dev->pause();
  ASSERT_EQ(::send(s.get(), "later", 5, 0), 5);
  EXPECT_FALSE(f.receive(30));
  f.dev->resume();
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "later");
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 5004, local), "back");
  EXPECT_EQ(host_read(s.get(), 4), "back");
}

TEST(Vsock, ResetWithTheDriverClosesHostSockets) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5005, local);
  f.regs.write(mmio::kStatus, 0);
  EXPECT_TRUE(host_eof(s.get()));
  EXPECT_EQ(f.dev->stats().connections.load(), 0u);
}

TEST(Vsock, GuestChurnWithoutReceiveBuffersStaysBounded) {
  VsockFixture f;
  f.bring_up();
  UniqueFd l = host_listen(f.path + "_6003");
  // 32 connections use up the 32 receive buffers (their RESPONSEs; buffers go back only
  // in receive(), which this test never calls): nothing more can be answered.
  for (int i = 0; i < 32; ++i) f.send(VsockFixture::from_guest(vsockp::kOpRequest, 100 + i, 6003));
  ASSERT_TRUE(eventually([&] { return f.used_idx(f.rings[0]) == 32; }));
  for (uint32_t i = 0; i < 1500; ++i) {
    // Each connection is made and reset again before its RESPONSE could go out.
    f.send(VsockFixture::from_guest(vsockp::kOpRequest, 1000 + i, 6003));
    f.send(VsockFixture::from_guest(vsockp::kOpRst, 1000 + i, 6003));
    UniqueFd c(::accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK));
  }
  EXPECT_LE(f.dev->stats().connections.load(), 32u + 1);
  EXPECT_EQ(f.regs.status() & status::kDeviceNeedsReset, 0u);
}

TEST(Vsock, RandomGuestPacketsNeverStopTheDevice) {
  VsockFixture f;
  f.bring_up();
  UniqueFd l = host_listen(f.path + "_6004");
  ASSERT_EQ(::fcntl(l.get(), F_SETFL, O_NONBLOCK), 0);  // accepted as they come
  UniqueFd h = host_connect(f.path);
  ASSERT_EQ(::send(h.get(), "CONNECT 5000\n", 13, 0), 13);
  std::mt19937 rng(42);
  const uint32_t ports[] = {5000, 6004, Vsock::kFirstLocalPort, Vsock::kFirstLocalPort + 1, 7, 1234};
  const uint32_t lens[] = {0, 1, 100, 4096, 70000, 0xffffffff};
  std::vector<UniqueFd> accepted;
  for (int i = 0; i < 2000; ++i) {
    Header g = VsockFixture::from_guest(static_cast<uint16_t>(rng() % 9), ports[rng() % 6], ports[rng() % 6]);
    if (rng() % 20 == 0) g.type = static_cast<uint16_t>(rng() % 4);
    if (rng() % 50 == 0) g.src_cid = rng() % 5;
    g.flags = rng() % 4;
    g.buf_alloc = rng() % 2 ? rng() : 0;
    g.fwd_cnt = rng();
    const std::string data(rng() % 3 == 0 ? rng() % 200 : 0, 'r');
    const bool lie = rng() % 4 == 0;
    f.send(g, data, lie ? std::optional<uint32_t>(lens[rng() % 6]) : std::nullopt);
    if (rng() % 3 == 0)
      while (f.receive(0)) {
      }
    if (UniqueFd c(::accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK)); c) accepted.push_back(std::move(c));
  }
  EXPECT_EQ(f.regs.status() & status::kDeviceNeedsReset, 0u);
  EXPECT_LE(f.dev->stats().connections.load(), Vsock::kMaxConnections);
  while (f.receive(20)) {
  }
  // Still serving.
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(9999, local);
  ASSERT_EQ(::send(s.get(), "alive", 5, 0), 5);
  std::optional<Packet> p;
  while ((p = f.receive()) && p->h.dst_port != 9999) {
  }
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "alive");
}

TEST(Vsock, GuestConnectionToNoListenerIsReset) {
  VsockFixture f;
  f.bring_up();
  f.send(VsockFixture::from_guest(vsockp::kOpRequest, 1234, 6001));
  auto rst = f.receive();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->h.op, vsockp::kOpRst);
  EXPECT_EQ(rst->h.src_port, 6001u);
  EXPECT_EQ(rst->h.dst_port, 1234u);
}

TEST(Vsock, HostileGuestPacketsAreResetOrDropped) {
  VsockFixture f;
  f.bring_up();
  // Data for a connection that does not exist: RST.
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 1, 2), "x");
  auto p = f.receive();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->h.op, vsockp::kOpRst);
  // Not from our CID, or not to the host: dropped without an answer.
  Header wrong = VsockFixture::from_guest(vsockp::kOpRequest, 1, 2);
  wrong.src_cid = 9;
  f.send(wrong);
  wrong = VsockFixture::from_guest(vsockp::kOpRequest, 1, 2);
  wrong.dst_cid = 7;
  f.send(wrong);
  // A length past the buffer, a huge one, a datagram type: RST.
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 1, 2), "abc", 100);
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 1, 2), "", 0xffffffff);
  Header dgram = VsockFixture::from_guest(vsockp::kOpRequest, 1, 2);
  dgram.type = 3;
  f.send(dgram);
  for (int i = 0; i < 3; ++i) {
    auto r = f.receive();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->h.op, vsockp::kOpRst);
  }
  EXPECT_FALSE(f.receive(50));
  EXPECT_EQ(f.dev->stats().dropped.load(), 5u);
  // Data before RESPONSE on a host-initiated connection: RST, host socket closed.
  UniqueFd s = host_connect(f.path);
  ASSERT_EQ(::send(s.get(), "CONNECT 9\n", 10, 0), 10);
  auto req = f.receive();
  ASSERT_TRUE(req);
  f.send(VsockFixture::from_guest(vsockp::kOpRw, 9, req->h.src_port), "early");
  auto r = f.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->h.op, vsockp::kOpRst);
  EXPECT_TRUE(host_eof(s.get()));
  EXPECT_EQ(f.regs.status() & status::kDeviceNeedsReset, 0u);
}

TEST(Vsock, GuestIgnoringCreditIsReset) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5002, local);  // the host never reads
  const std::string chunk(64 * 1024, 'z');
  bool reset = false;
  for (int i = 0; i < 64 && !reset; ++i) {
    f.send(VsockFixture::from_guest(vsockp::kOpRw, 5002, local), chunk);
    while (auto p = f.receive(20)) reset |= p->h.op == vsockp::kOpRst;
  }
  EXPECT_TRUE(reset);
  EXPECT_TRUE(eventually([&] { return f.dev->stats().connections.load() == 0; }));
}

TEST(Vsock, HostDataWaitsForTheGuestsCredit) {
  VsockFixture f;
  f.bring_up();
  uint32_t local = 0;
  UniqueFd s = f.host_to_guest(5003, local);
  // The guest offers 10000 bytes of buffer.
  Header credit = VsockFixture::from_guest(vsockp::kOpCreditUpdate, 5003, local);
  credit.buf_alloc = 10000;
  f.send(credit);
  const std::string data(100000, 'd');
  std::thread writer([&] { (void)::send(s.get(), data.data(), data.size(), 0); });
  std::string got;
  int asked = 0;
  auto take = [&] {
    while (auto p = f.receive(100)) {
      got += p->data;
      asked += p->h.op == vsockp::kOpCreditRequest;
    }
  };
  take();
  EXPECT_EQ(got.size(), 10000u);
  EXPECT_EQ(asked, 1);  // out of credit: asked once
  f.send(credit);       // the same numbers again: no new request
  take();
  EXPECT_EQ(asked, 1);
  // The guest read it all: 10000 more.
  credit.fwd_cnt = 10000;
  f.send(credit);
  take();
  EXPECT_EQ(got.size(), 20000u);
  EXPECT_EQ(asked, 2);
  credit.buf_alloc = 1 << 20;
  f.send(credit);
  while (got.size() < data.size()) {
    auto p = f.receive();
    if (!p) break;
    got += p->data;
  }
  writer.join();
  EXPECT_EQ(got, data);
}

TEST(Vsock, GuestToHostMegabyteWithCreditUpdates) {
  VsockFixture f;
  f.bring_up();
  UniqueFd l = host_listen(f.path + "_6002");
  f.send(VsockFixture::from_guest(vsockp::kOpRequest, 77, 6002));
  auto resp = f.receive();
  ASSERT_TRUE(resp);
  ASSERT_EQ(resp->h.op, vsockp::kOpResponse);
  UniqueFd s(::accept(l.get(), nullptr, nullptr));
  std::string got;
  std::thread reader([&] { got = host_read(s.get(), 1 << 20); });
  // Send as a Linux guest would: only what the device's credit allows.
  uint32_t sent = 0, peer_fwd = resp->h.fwd_cnt, peer_alloc = resp->h.buf_alloc;
  std::string all;
  for (size_t i = 0; i < (1u << 20); ++i) all.push_back(static_cast<char>(i * 7 + (i >> 12)));
  while (sent < all.size()) {
    const uint32_t credit = peer_alloc - (sent - peer_fwd);
    if (credit == 0) {
      auto p = f.receive();
      ASSERT_TRUE(p) << "no credit update at " << sent;
      peer_fwd = p->h.fwd_cnt;
      continue;
    }
    const uint32_t n = std::min<uint32_t>({credit, 32768, static_cast<uint32_t>(all.size() - sent)});
    f.send(VsockFixture::from_guest(vsockp::kOpRw, 77, 6002), all.substr(sent, n));
    sent += n;
    while (auto p = f.receive(0)) peer_fwd = p->h.fwd_cnt;
  }
  reader.join();
  EXPECT_EQ(got, all);
}

}  // namespace
}  // namespace vireo::virtio
