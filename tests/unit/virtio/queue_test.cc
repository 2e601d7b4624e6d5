// The split virtqueue against a driver in real guest memory, including a hostile one.
#include "virtio/queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test_driver.h"

namespace vireo::virtio {
namespace {

using test::Buf;
using test::TestDriver;

struct Fixture {
  TestDriver drv{16};
  Queue q{256};
  explicit Fixture(bool event_idx = false) {
    drv.setup(q, event_idx);
    EXPECT_TRUE(q.validate(drv.mem()).ok());
  }
  std::optional<DescriptorChain> pop_ok() {
    auto r = q.pop(drv.mem());
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : std::nullopt;
  }
  std::string pop_error() {
    auto r = q.pop(drv.mem());
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message();
  }
};

TEST(Queue, PopsChainsInOrderWithReadableThenWritable) {
  Fixture f;
  const uint64_t a = f.drv.alloc(100), b = f.drv.alloc(200), c = f.drv.alloc(50);
  const uint16_t h1 = f.drv.add_chain({{a, 100, false}, {b, 200, true}});
  const uint16_t h2 = f.drv.add_chain({{c, 50, false}});
  auto c1 = f.pop_ok();
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->head, h1);
  ASSERT_EQ(c1->descriptors.size(), 2u);
  EXPECT_EQ(c1->descriptors[0], (Descriptor{a, 100, false}));
  EXPECT_EQ(c1->descriptors[1], (Descriptor{b, 200, true}));
  EXPECT_EQ(c1->readable_bytes(), 100u);
  EXPECT_EQ(c1->writable_bytes(), 200u);
  auto c2 = f.pop_ok();
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->head, h2);
  EXPECT_FALSE(f.pop_ok()) << "nothing more";
}

TEST(Queue, UsedRingAndIndexWrap) {
  Fixture f;
  const uint64_t buf = f.drv.alloc(16);
  // 40 rounds through a 16-entry ring: indexes wrap in the ring, not in u16.
  for (int i = 0; i < 40; ++i) {
    f.drv.add_chain({{buf, 16, true}});
    auto c = f.pop_ok();
    ASSERT_TRUE(c);
    ASSERT_TRUE(f.q.add_used(f.drv.mem(), c->head, 7).ok());
    EXPECT_EQ(f.drv.used_idx(), i + 1);
    EXPECT_EQ(f.drv.used_elem(static_cast<uint16_t>(i)), (std::pair<uint32_t, uint32_t>{c->head, 7}));
  }
  // The u16 indexes wrap too.
  f.q.state().next_avail = f.q.state().next_used = 0xfffe;
  f.drv.set_avail_idx(0xfffe);
  for (int i = 0; i < 4; ++i) {
    f.drv.add_chain({{buf, 16, true}});
    auto c = f.pop_ok();
    ASSERT_TRUE(c);
    ASSERT_TRUE(f.q.add_used(f.drv.mem(), c->head, 1).ok());
  }
  EXPECT_EQ(f.drv.used_idx(), 2);
}

TEST(Queue, IndirectTables) {
  Fixture f;
  const uint64_t a = f.drv.alloc(8), b = f.drv.alloc(512), s = f.drv.alloc(1);
  const uint16_t h = f.drv.add_indirect({{a, 8, false}, {b, 512, true}, {s, 1, true}});
  auto c = f.pop_ok();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->head, h);
  ASSERT_EQ(c->descriptors.size(), 3u);
  EXPECT_EQ(c->descriptors[2], (Descriptor{s, 1, true}));
}

TEST(Queue, ValidateChecksTheDriversSetup) {
  TestDriver drv(16);
  Queue q(16);
  drv.setup(q);
  EXPECT_TRUE(q.validate(drv.mem()).ok());
  q.state().size = 12;
  EXPECT_FALSE(q.validate(drv.mem()).ok()) << "not a power of two";
  q.state().size = 32;
  EXPECT_FALSE(q.validate(drv.mem()).ok()) << "more than max_size";
  drv.setup(q);
  q.state().desc += 8;
  EXPECT_FALSE(q.validate(drv.mem()).ok()) << "descriptor table misaligned";
  drv.setup(q);
  q.state().used = drv.mem().total_size() - 8;
  EXPECT_FALSE(q.validate(drv.mem()).ok()) << "used ring past the end of RAM";
  drv.setup(q);
  q.state().avail = ~uint64_t{0} - 1;
  EXPECT_FALSE(q.validate(drv.mem()).ok()) << "wraps around";
}

// --- A hostile driver: each of these is an error from pop(), quickly, never a crash, a
// hang or an access outside guest RAM. -----------------------------------------------

TEST(QueueHostile, DescriptorLoop) {
  Fixture f;
  const uint64_t a = f.drv.alloc(8);
  f.drv.write_desc(0, a, 8, split::kDescNext, 1);
  f.drv.write_desc(1, a, 8, split::kDescNext, 0);
  f.drv.make_available(0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(f.pop_error().find("loop"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
}

TEST(QueueHostile, SelfLoopInAnIndirectTable) {
  Fixture f;
  const uint64_t table = f.drv.alloc(32, 16), a = f.drv.alloc(8);
  f.drv.write_desc(0, a, 8, split::kDescNext, 1, table);
  f.drv.write_desc(1, a, 8, split::kDescNext, 1, table);  // points at itself
  f.drv.write_desc(0, table, 32, split::kDescIndirect, 0);
  f.drv.make_available(0);
  EXPECT_NE(f.pop_error().find("loop"), std::string::npos);
}

TEST(QueueHostile, BuffersPastTheEndOfMemory) {
  Fixture f;
  const uint64_t end = f.drv.mem().total_size();
  for (auto [addr, len] : {std::pair<uint64_t, uint32_t>{end - 4, 8}, {end, 1},
                           {~uint64_t{0} - 3, 8}, {0x2000, 0xffffffff}}) {
    Fixture g;
    g.drv.write_desc(0, addr, len, 0, 0);
    g.drv.make_available(0);
    EXPECT_NE(g.pop_error().find("not in guest RAM"), std::string::npos) << addr << "+" << len;
  }
}

TEST(QueueHostile, ZeroLengthBuffersAreHarmless) {
  Fixture f;
  f.drv.write_desc(0, ~uint64_t{0}, 0, split::kDescWrite, 0);  // any address: no bytes
  f.drv.make_available(0);
  auto c = f.pop_ok();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->writable_bytes(), 0u);
  ChainWriter w(f.drv.mem(), *c);
  uint8_t byte = 1;
  EXPECT_FALSE(w.write(std::span<const uint8_t>(&byte, 1)).ok()) << "no room";
}

TEST(QueueHostile, IndexesOutOfRange) {
  {
    Fixture f;
    f.drv.make_available(16);  // head past the table
    EXPECT_NE(f.pop_error().find("names descriptor 16"), std::string::npos);
  }
  {
    Fixture f;
    f.drv.write_desc(0, f.drv.alloc(8), 8, split::kDescNext, 200);  // next past the table
    f.drv.make_available(0);
    EXPECT_NE(f.pop_error().find("past the table"), std::string::npos);
  }
  {
    Fixture f;
    f.drv.set_avail_idx(17);  // more than the queue holds
    EXPECT_NE(f.pop_error().find("more than"), std::string::npos);
  }
  {
    Fixture f;
    EXPECT_FALSE(f.q.add_used(f.drv.mem(), 16, 0).ok()) << "used id past the queue";
  }
}

TEST(QueueHostile, BadIndirectTables) {
  struct Case {
    const char* what;
    uint32_t len;
    uint16_t flags;
    bool negotiated;
    int table_offset;
  };
  for (const Case& c : {Case{"not negotiated", 32, split::kDescIndirect, false, 0},
                        Case{"with NEXT", 32, split::kDescIndirect | split::kDescNext, true, 0},
                        Case{"zero length", 0, split::kDescIndirect, true, 0},
                        Case{"partial descriptor", 24, split::kDescIndirect, true, 0}}) {
    TestDriver drv(16);
    Queue q(16);
    drv.setup(q, false, c.negotiated);
    const uint64_t table = drv.alloc(64, 16) + static_cast<uint64_t>(c.table_offset);
    drv.write_desc(0, drv.alloc(8), 8, 0, 0, table);
    drv.write_desc(1, drv.alloc(8), 8, 0, 0, table);
    drv.write_desc(0, table, c.len, c.flags, 1);
    drv.write_desc(1, drv.alloc(8), 8, 0, 0);
    drv.make_available(0);
    EXPECT_FALSE(q.pop(drv.mem()).ok()) << c.what;
  }
  // The spec asks no alignment of an indirect table (Linux kmallocs them: 8-byte
  // aligned), only that it lies in guest RAM.
  {
    Fixture f;
    const uint64_t table = f.drv.alloc(48, 16) + 8, buf = f.drv.alloc(8);
    f.drv.write_desc(0, buf, 8, split::kDescNext, 1, table);
    f.drv.write_desc(1, buf, 8, split::kDescWrite, 0, table);
    f.drv.write_desc(0, table, 32, split::kDescIndirect, 0);
    f.drv.make_available(0);
    auto c = f.pop_ok();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->descriptors.size(), 2u);
  }
  // An indirect table inside an indirect table, and one after a direct descriptor.
  {
    Fixture f;
    const uint64_t inner = f.drv.alloc(16, 16), outer = f.drv.alloc(16, 16);
    f.drv.write_desc(0, f.drv.alloc(8), 8, 0, 0, inner);
    f.drv.write_desc(0, inner, 16, split::kDescIndirect, 0, outer);
    f.drv.write_desc(0, outer, 16, split::kDescIndirect, 0);
    f.drv.make_available(0);
    EXPECT_NE(f.pop_error().find("indirect descriptor inside"), std::string::npos);
  }
  {
    Fixture f;
    const uint64_t table = f.drv.alloc(16, 16);
    f.drv.write_desc(0, f.drv.alloc(8), 8, 0, 0, table);
    f.drv.write_desc(0, f.drv.alloc(8), 8, split::kDescNext, 1);
    f.drv.write_desc(1, table, 16, split::kDescIndirect, 0);
    f.drv.make_available(0);
    EXPECT_NE(f.pop_error().find("indirect descriptor inside"), std::string::npos);
  }
}

TEST(QueueHostile, ReadableAfterWritable) {
  Fixture f;
  f.drv.add_chain({{f.drv.alloc(8), 8, true}, {f.drv.alloc(8), 8, false}});
  EXPECT_NE(f.pop_error().find("readable buffer after a writable"), std::string::npos);
}

TEST(QueueHostile, HugeChainTotals) {
  // 16 descriptors of 0xffff0000 bytes each would be 64 GiB: refused before any access,
  // even though each one is checked against (small) RAM first and fails there.
  Fixture f;
  f.drv.write_desc(0, 0x2000, 0xfffff000, 0, 0);
  f.drv.make_available(0);
  EXPECT_FALSE(f.q.pop(f.drv.mem()).ok());
}

// --- Notification suppression ---------------------------------------------------------

TEST(QueueNotify, FlagsWithoutEventIdx) {
  Fixture f;
  ASSERT_TRUE(f.q.set_notifications(f.drv.mem(), false).ok());
  EXPECT_EQ(f.drv.used_flags(), split::kUsedNoNotify);
  ASSERT_TRUE(f.q.set_notifications(f.drv.mem(), true).ok());
  EXPECT_EQ(f.drv.used_flags(), 0);
  f.drv.add_chain({{f.drv.alloc(8), 8, true}});
  auto c = f.pop_ok();
  ASSERT_TRUE(f.q.add_used(f.drv.mem(), c->head, 0).ok());
  EXPECT_TRUE(*f.q.should_notify(f.drv.mem()));
  f.drv.set_avail_flags(split::kAvailNoInterrupt);
  EXPECT_FALSE(*f.q.should_notify(f.drv.mem()));
}

TEST(QueueNotify, EventIdx) {
  Fixture f(/*event_idx=*/true);
  const uint64_t buf = f.drv.alloc(8);
  for (int i = 0; i < 3; ++i) f.drv.add_chain({{buf, 8, true}});
  ASSERT_TRUE(f.q.set_notifications(f.drv.mem(), true).ok());
  // The driver wants an interrupt when used idx passes 2 (used_event = 2).
  f.drv.set_used_event(2);
  auto use_one = [&] {
    auto c = f.pop_ok();
    ASSERT_TRUE(c);
    ASSERT_TRUE(f.q.add_used(f.drv.mem(), c->head, 8).ok());
  };
  use_one();  // used idx 1
  EXPECT_TRUE(*f.q.should_notify(f.drv.mem())) << "the first decision always notifies";
  use_one();  // used idx 2: passes nothing yet (event 2 means "after entry 2 is used")
  EXPECT_FALSE(*f.q.should_notify(f.drv.mem()));
  use_one();  // used idx 3: passed 2
  EXPECT_TRUE(*f.q.should_notify(f.drv.mem()));
  // avail_event says where the device wants the next kick.
  ASSERT_TRUE(f.q.set_notifications(f.drv.mem(), true).ok());
  EXPECT_EQ(f.drv.avail_event(), 3);
  EXPECT_FALSE(*f.q.has_available(f.drv.mem()));
  f.drv.add_chain({{buf, 8, true}});
  EXPECT_TRUE(*f.q.has_available(f.drv.mem()));
}

TEST(QueueNotify, EventIdxDrainingKeepsKicksComing) {
  // A device that pops until the ring is empty has asked for the next kick: each new
  // buffer passes avail_event.
  Fixture f(/*event_idx=*/true);
  const uint64_t buf = f.drv.alloc(8);
  for (int round = 0; round < 5; ++round) {
    const uint16_t before = f.drv.avail_idx();
    f.drv.add_chain({{buf, 8, true}});
    f.drv.add_chain({{buf, 8, true}});
    EXPECT_TRUE(f.drv.would_kick(before, true)) << "round " << round;
    while (auto c = f.pop_ok()) ASSERT_TRUE(f.q.add_used(f.drv.mem(), c->head, 8).ok());
    EXPECT_EQ(f.drv.avail_event(), f.drv.avail_idx());
  }
}

TEST(Queue, ResetKeepsMaxSize) {
  Fixture f;
  f.drv.add_chain({{f.drv.alloc(8), 8, true}});
  (void)f.pop_ok();
  f.q.reset();
  EXPECT_EQ(f.q.state(), (QueueState{.max_size = 256}));
}

// --- Chain cursors ----------------------------------------------------------------------

TEST(ChainCursors, ReadAndWriteAcrossDescriptors) {
  Fixture f;
  const uint64_t r1 = f.drv.alloc(3), r2 = f.drv.alloc(5), w1 = f.drv.alloc(2), w2 = f.drv.alloc(6);
  ASSERT_TRUE(f.drv.mem().write(r1, std::vector<uint8_t>{1, 2, 3}).ok());
  ASSERT_TRUE(f.drv.mem().write(r2, std::vector<uint8_t>{4, 5, 6, 7, 8}).ok());
  f.drv.add_chain({{r1, 3, false}, {r2, 5, false}, {w1, 2, true}, {w2, 6, true}});
  auto c = f.pop_ok();
  ASSERT_TRUE(c);
  ChainReader rd(f.drv.mem(), *c);
  EXPECT_EQ(rd.remaining(), 8u);
  std::vector<uint8_t> got(6);
  ASSERT_TRUE(rd.read(got).ok());
  EXPECT_EQ(got, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(rd.skip(1).ok());
  EXPECT_EQ(*rd.read_obj<uint8_t>(), 8);
  EXPECT_FALSE(rd.read_obj<uint8_t>().ok()) << "past the readable part";

  ChainWriter wr(f.drv.mem(), *c);
  ASSERT_TRUE(wr.write(std::vector<uint8_t>{9, 9, 9}).ok());
  EXPECT_EQ(wr.written(), 3u);
  EXPECT_EQ(*f.drv.mem().read_obj<uint16_t>(w1), 0x0909);
  EXPECT_EQ(*f.drv.mem().read_obj<uint8_t>(w2), 9);
  EXPECT_FALSE(wr.write(std::vector<uint8_t>(6, 0)).ok()) << "5 bytes of room left";
}

}  // namespace
}  // namespace vireo::virtio
