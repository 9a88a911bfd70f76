// net::io_pool: one io_context per thread, connections spread round-robin.
#include "net/io_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <future>
#include <set>
#include <thread>

namespace omsgw::net {
namespace {

TEST(IoPool, HandsOutEveryContextInTurn) {
  io_pool pool(3);
  ASSERT_EQ(pool.size(), 3u);
  boost::asio::io_context* first = &pool.next();
  boost::asio::io_context* second = &pool.next();
  boost::asio::io_context* third = &pool.next();
  EXPECT_EQ(first, &pool.primary());
  EXPECT_NE(first, second);
  EXPECT_NE(second, third);
  EXPECT_NE(first, third);
  EXPECT_EQ(&pool.next(), first);
}

TEST(IoPool, EachContextRunsOnItsOwnThreadUntilItsWorkIsReleased) {
  io_pool pool(2);
  pool.run();
  std::promise<std::thread::id> a, b;
  boost::asio::post(pool.next(), [&a] { a.set_value(std::this_thread::get_id()); });
  boost::asio::post(pool.next(), [&b] { b.set_value(std::this_thread::get_id()); });
  const auto ta = a.get_future().get();
  const auto tb = b.get_future().get();
  EXPECT_NE(ta, tb);
  EXPECT_NE(ta, std::this_thread::get_id());
  EXPECT_FALSE(pool.stopped());  // idle, but kept running by the work guards
  pool.release_work();
  pool.join();  // returns: each context ran out of work
  EXPECT_TRUE(pool.stopped());
}

TEST(IoPool, ZeroThreadsStillGivesOneContext) {
  io_pool pool(0);
  EXPECT_EQ(pool.size(), 1u);
}

}  // namespace
}  // namespace omsgw::net
