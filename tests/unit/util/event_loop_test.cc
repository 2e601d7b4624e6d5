// The VMM's event loop: handlers per fd, removal from inside a handler, fd numbers
// reused by a new registration.
#include "util/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

namespace vireo {
namespace {

UniqueFd make_eventfd(uint64_t initial) {
  return UniqueFd(::eventfd(static_cast<unsigned>(initial), EFD_NONBLOCK | EFD_CLOEXEC));
}

TEST(EventLoop, EachFdGetsItsOwnHandler) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  UniqueFd a = make_eventfd(1), b = make_eventfd(0);
  int a_calls = 0, b_calls = 0;
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN, [&](uint32_t ev) {
    EXPECT_TRUE(ev & EPOLLIN);
    uint64_t v;
    (void)!::read(a.get(), &v, sizeof(v));
    ++a_calls;
  }).ok());
  ASSERT_TRUE(loop->add(b.get(), EPOLLIN, [&](uint32_t) { ++b_calls; }).ok());
  EXPECT_FALSE(loop->add(a.get(), EPOLLIN, [](uint32_t) {}).ok()) << "registered twice";
  auto n = loop->run_once(0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 0);
  EXPECT_EQ(*loop->run_once(0), 0);
}

TEST(EventLoop, RunUntilStopsWhenDoneHolds) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  UniqueFd a = make_eventfd(3);
  int calls = 0;
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN, [&](uint32_t) { ++calls; }).ok());  // level-triggered
  ASSERT_TRUE(loop->run_until([&] { return calls >= 5; }).ok());
  EXPECT_EQ(calls, 5);
}

TEST(EventLoop, AHandlerMayRemoveItselfAndOthersInTheSameBatch) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  UniqueFd a = make_eventfd(1), b = make_eventfd(1);
  std::vector<char> order;
  // Whichever runs first removes both; the other's event of this batch is dropped.
  auto handler = [&](char name) {
    return [&, name](uint32_t) {
      order.push_back(name);
      loop->remove(a.get());
      loop->remove(b.get());
    };
  };
  ASSERT_TRUE(loop->add(a.get(), EPOLLIN, handler('a')).ok());
  ASSERT_TRUE(loop->add(b.get(), EPOLLIN, handler('b')).ok());
  ASSERT_TRUE(loop->run_once(0).ok());
  EXPECT_EQ(order.size(), 1u);
  EXPECT_FALSE(loop->watches(a.get()));
  EXPECT_EQ(*loop->run_once(0), 0);
}

TEST(EventLoop, AReusedFdNumberDoesNotGetTheOldHandler) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  UniqueFd a = make_eventfd(1);
  const int number = a.get();
  int old_calls = 0, new_calls = 0;
  ASSERT_TRUE(loop->add(number, EPOLLIN, [&](uint32_t) { ++old_calls; }).ok());
  loop->remove(number);
  a = UniqueFd();
  UniqueFd again = make_eventfd(1);
  ASSERT_EQ(again.get(), number);  // the lowest free number
  ASSERT_TRUE(loop->add(again.get(), EPOLLIN, [&](uint32_t) { ++new_calls; }).ok());
  ASSERT_TRUE(loop->run_once(0).ok());
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
}

TEST(EventLoop, ModifyChangesWhatIsWatched) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  UniqueFd a = make_eventfd(1);
  int calls = 0;
  ASSERT_TRUE(loop->add(a.get(), 0, [&](uint32_t) { ++calls; }).ok());
  EXPECT_EQ(*loop->run_once(0), 0);
  ASSERT_TRUE(loop->modify(a.get(), EPOLLIN).ok());
  EXPECT_EQ(*loop->run_once(0), 1);
  EXPECT_FALSE(loop->modify(12345, EPOLLIN).ok());
}

}  // namespace
}  // namespace vireo
