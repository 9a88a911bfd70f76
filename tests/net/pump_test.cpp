// The two pumps over real loopback TCP: bytes arrive in order and complete, a slow
// receiver stops the sender (back-pressure), and the pipe pool stays within its budget.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "net/copy_pump.hpp"
#include "net/splice_pump.hpp"
#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

/// Runs a pump cycle after cycle and counts what it reports.
struct counter final : pump_listener, std::enable_shared_from_this<counter> {
  std::function<void()> next;
  std::function<void()> at_end;  ///< the owner's part: passing the half-close on
  std::size_t moved = 0;
  int ends = 0, failures = 0, cycles = 0, unavailable = 0;
  void on_moved(direction, std::size_t n) override { moved += n; }
  void on_cycle_done(direction) override {
    ++cycles;
    next();
  }
  void on_end(direction) override {
    ++ends;
    if (at_end) at_end();
  }
  void on_failed(direction, const boost::system::error_code&) override { ++failures; }
  /// Lets at most `pass` bytes of each chunk through (the rest is held).
  std::size_t pass = SIZE_MAX;
  std::size_t on_data(direction, const std::uint8_t*, std::size_t n) override {
    return std::min(n, pass);
  }
  void on_splice_unavailable(direction) override { ++unavailable; }
};

/// sender -> [in ... pump ... out] -> receiver, all on loopback TCP.
struct Pump : ::testing::Test {
  asio::io_context ctx;
  tcp::socket sender{ctx}, in{ctx}, out{ctx}, receiver{ctx};
  std::shared_ptr<counter> c = std::make_shared<counter>();
  bool stalled = false;  ///< the sender's writes stopped being taken

  void SetUp() override {
    auto [s, i] = connected_pair(ctx, ctx.get_executor());
    auto [o, r] = connected_pair(ctx, ctx.get_executor());
    sender = std::move(s);
    in = std::move(i);
    out = std::move(o);
    receiver = std::move(r);
    sender.non_blocking(true);
  }

  /// Writes to the sender until the kernel takes no more and the pump makes no more
  /// progress. Returns the bytes the sender got rid of.
  std::string fill_until_stalled() {
    std::string sent;
    std::size_t moved_before = 0;
    for (int round = 0; round < 10000; ++round) {
      std::string chunk(64 * 1024, static_cast<char>('a' + round % 26));
      boost::system::error_code ec;
      const std::size_t n = sender.write_some(asio::buffer(chunk), ec);
      sent.append(chunk, 0, n);
      settle(ctx);
      if (n == 0 && c->moved == moved_before) {
        stalled = true;
        break;
      }
      moved_before = c->moved;
    }
    return sent;
  }

  /// Everything the receiver gets until the pump passes the sender's end on.
  std::string receive_all() {
    std::string got;
    bool done = false;
    asio::async_read(receiver, asio::dynamic_buffer(got), [&](auto, std::size_t) { done = true; });
    EXPECT_TRUE(run_until(ctx, [&] { return done; }));
    return got;
  }

  void expect_back_pressure_then_everything_arrives() {
    const std::string sent = fill_until_stalled();
    // The receiver reads nothing: the pump stopped taking bytes from the sender, so
    // most of what the sender wrote still sits in front of the pump, not behind it.
    EXPECT_TRUE(stalled);
    EXPECT_GT(sent.size(), 0u);
    EXPECT_LT(c->moved, sent.size());
    EXPECT_EQ(c->failures, 0);
    // Now the receiver drains: every byte arrives, in order.
    sender.shutdown(tcp::socket::shutdown_send);
    std::string got;
    bool done = false;
    asio::async_read(receiver, asio::dynamic_buffer(got), [&](auto, std::size_t) { done = true; });
    ASSERT_TRUE(run_until(ctx, [&] { return done; }));
    EXPECT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent);
    EXPECT_EQ(c->ends, 1);
    EXPECT_EQ(c->moved, sent.size());
  }
};

TEST_F(Pump, ASlowReceiverStopsTheCopySender) {
  socket_stream from(std::move(in)), to(std::move(out));
  copy_pump pump(direction::to_upstream, from, to);
  c->next = [&] { pump.run(c); };
  c->at_end = [&] { to.shutdown_send(); };
  pump.run(c);
  expect_back_pressure_then_everything_arrives();
  pump.stop();
}

TEST_F(Pump, ASlowReceiverStopsTheSpliceSender) {
  in.non_blocking(true);
  out.non_blocking(true);
  splice_pump pump(direction::to_client, in, out);
  c->next = [&] { pump.run(c); };
  c->at_end = [&] { out.shutdown(tcp::socket::shutdown_send); };
  pump.run(c);
  expect_back_pressure_then_everything_arrives();
  EXPECT_EQ(c->unavailable, 0);
  pump.stop();
}

TEST_F(Pump, CopyRunWithWritesTheGivenBytesFirst) {
  socket_stream from(std::move(in)), to(std::move(out));
  copy_pump pump(direction::to_upstream, from, to);
  c->next = [&] { pump.run(c); };
  c->at_end = [&] { to.shutdown_send(); };
  pump.run_with("first,", c);
  asio::write(sender, asio::buffer(std::string("second")));
  sender.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(receive_all(), "first,second");
}

TEST_F(Pump, CopyHoldsWhatTheOwnerDoesNotLetPassAndShowsItFirstOnTheNextRun) {
  socket_stream from(std::move(in)), to(std::move(out));
  copy_pump pump(direction::to_upstream, from, to);
  c->pass = 0;  // hold everything: the owner does not run the pump again yet
  c->next = [] {};
  c->at_end = [&] { to.shutdown_send(); };
  pump.run_with("first,", c);
  EXPECT_EQ(c->cycles, 1);
  EXPECT_TRUE(pump.holding());
  asio::write(sender, asio::buffer(std::string("second")));
  settle(ctx);
  EXPECT_EQ(c->moved, 0u);  // nothing written, nothing read while held
  EXPECT_EQ(c->cycles, 1);
  // Three bytes a cycle: the held bytes go first, then what the sender sent.
  c->pass = 3;
  c->next = [&] { pump.run(c); };
  pump.run(c);
  sender.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(receive_all(), "first,second");
  EXPECT_EQ(c->moved, 12u);
  EXPECT_FALSE(pump.holding());
}

int pipe_size(const pipe_pool::pipe& p) { return ::fcntl(p.w, F_GETPIPE_SZ); }

// Issue 15, defect 10b: pipes beyond the per-user quota silently shrink to 2 pages.
// The pool enlarges pipes only within its budget and says so once.
TEST(PipePool, EnlargesPipesOnlyWithinItsBudgetAndSaysSoOnce) {
  std::vector<std::string> notices;
  pipe_pool::set_notice([&](const std::string& line) { notices.push_back(line); });
  pipe_pool::set_budget_pages(static_cast<long>(pipe_pool::pipe_bytes / 4096));  // one pipe
  std::thread([&] {  // a fresh thread: an empty pool
    auto& pool = pipe_pool::local();
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    EXPECT_EQ(pipe_size(a), static_cast<int>(pipe_pool::pipe_bytes));
    EXPECT_LT(pipe_size(b), static_cast<int>(pipe_pool::pipe_bytes));
    EXPECT_LT(pipe_size(c), static_cast<int>(pipe_pool::pipe_bytes));
    pool.release(a, false);  // closed: its pages go back to the budget
    auto d = pool.acquire();
    EXPECT_EQ(pipe_size(d), static_cast<int>(pipe_pool::pipe_bytes));
    pool.release(b, true);
    pool.release(c, true);
    pool.release(d, false);
  })
      .join();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("pipe-user-pages-soft"), std::string::npos) << notices[0];
  pipe_pool::set_notice(nullptr);
  pipe_pool::set_budget_pages(-1);  // back to "read from the system"
}

// The kernel's side of the same defect: an unprivileged user past the quota is refused
// F_SETPIPE_SZ. The pool keeps working with the smaller pipes and says so once. Runs in
// a child that drops to an unprivileged user (its own quota account).
TEST(PipePool, SaysOnceWhenTheKernelRefusesALargePipe) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int notices = 0;
    pipe_pool::set_notice([&](const std::string& line) {
      if (line.find("refused") != std::string::npos) ++notices;
    });
    pipe_pool::set_budget_pages(0);  // no budget of our own: let the kernel decide
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(77);
    std::vector<pipe_pool::pipe> held;
    bool small = false, all_usable = true;
    for (int i = 0; i < 200; ++i) {
      held.push_back(pipe_pool::local().acquire());
      all_usable = all_usable && static_cast<bool>(held.back());
      small = small || pipe_size(held.back()) < static_cast<int>(pipe_pool::pipe_bytes);
    }
    ::_exit(all_usable && small && notices == 1 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot switch user here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace omsgw::net
