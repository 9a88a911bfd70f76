// net/byte_report_tick with a real io_context and its timer: members that joined report
// once at the tick, in any number of joins; members that left or went during the tick
// do not; the context keeps no timer once nobody waits; a context that goes first leaves
// its members out.
#include "net/byte_report_tick.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using testing::run_until;

struct counter final : byte_report_tick::member {
  explicit counter(byte_report_tick& t) : tick(t) {}
  ~counter() {
    if (joined()) tick.leave(*this);
  }
  void report_bytes() override {
    ++reports;
    if (on_report) on_report();
  }
  byte_report_tick& tick;
  int reports = 0;
  std::function<void()> on_report;
};

struct ByteReportTick : ::testing::Test {
  boost::asio::io_context ctx;
  byte_report_tick& tick = byte_report_tick::of(ctx.get_executor());
};

TEST_F(ByteReportTick, OneServicePerContext) {
  EXPECT_EQ(&byte_report_tick::of(ctx.get_executor()), &tick);
  boost::asio::io_context other;
  EXPECT_NE(&byte_report_tick::of(other.get_executor()), &tick);
}

TEST_F(ByteReportTick, MembersReportOnceAtTheTickHoweverOftenTheyJoined) {
  counter a(tick), b(tick);
  tick.join(a);
  tick.join(a);
  tick.join(b);
  EXPECT_TRUE(a.joined());
  EXPECT_EQ(tick.waiting(), 2u);
  ASSERT_TRUE(run_until(ctx, [&] { return a.reports + b.reports == 2; }));
  EXPECT_EQ(a.reports, 1);
  EXPECT_EQ(b.reports, 1);
  EXPECT_FALSE(a.joined());
  EXPECT_EQ(tick.waiting(), 0u);
  // Nobody waits: no timer is left pending, so run() has nothing to do.
  ctx.restart();
  EXPECT_EQ(ctx.run(), 0u);
  EXPECT_EQ(a.reports, 1);
}

TEST_F(ByteReportTick, MembersThatLeftDoNotReport) {
  counter a(tick), b(tick), c(tick);
  tick.join(a);
  tick.join(b);
  tick.join(c);
  tick.leave(a);
  tick.leave(a);  // not joined: nothing
  EXPECT_FALSE(a.joined());
  EXPECT_EQ(tick.waiting(), 2u);
  ASSERT_TRUE(run_until(ctx, [&] { return b.reports == 1 && c.reports == 1; }));
  ctx.restart();
  ctx.run();
  EXPECT_EQ(a.reports, 0);
}

TEST_F(ByteReportTick, AMemberGoneDuringTheTickIsNotCalled) {
  auto a = std::make_unique<counter>(tick);
  auto b = std::make_unique<counter>(tick);
  auto c = std::make_unique<counter>(tick);
  int b_reports = 0;
  b->on_report = [&] { ++b_reports; };
  // Whichever of a and c reports first ends the other (as a report could end a tunnel).
  a->on_report = [&] { c.reset(); };
  c->on_report = [&] { a.reset(); };
  tick.join(*a);
  tick.join(*b);
  tick.join(*c);
  ASSERT_TRUE(run_until(ctx, [&] { return b_reports == 1; }));
  EXPECT_TRUE((a == nullptr) != (c == nullptr)) << "exactly one of them reported";
  EXPECT_EQ(tick.waiting(), 0u);
}

TEST_F(ByteReportTick, AMemberThatJoinsDuringItsReportReportsAtTheNextTick) {
  counter a(tick);
  a.on_report = [&] {
    if (a.reports == 1) tick.join(a);
  };
  tick.join(a);
  ASSERT_TRUE(run_until(ctx, [&] { return a.reports == 2; }));
  ctx.restart();
  EXPECT_EQ(ctx.run(), 0u);
  EXPECT_EQ(a.reports, 2);
}

TEST(ByteReportTickShutdown, AContextThatGoesFirstLeavesItsMembersOut) {
  auto ctx = std::make_unique<boost::asio::io_context>();
  auto& tick = byte_report_tick::of(ctx->get_executor());
  counter a(tick);
  tick.join(a);
  ctx.reset();  // the service is shut down and destroyed; a must not point into it
  EXPECT_FALSE(a.joined());
  EXPECT_EQ(a.reports, 0);
}

}  // namespace
}  // namespace omsgw::net
