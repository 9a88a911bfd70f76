// net/socket_state: what the gateway tells Asio about a descriptor must be what Asio's
// state bits mean (Boost 1.74), and what the kernel then does must match: a socket
// opened non-blocking works as one, and an unshared socket's close leaves epoll
// without Asio removing it.
#include "net/socket_state.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

/// The descriptors some epoll instance of this process watches ("tfd:" lines of each
/// eventpoll descriptor's /proc/self/fdinfo).
bool watched_by_epoll(int fd) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target.string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    std::string word;
    while (info >> word) {
      if (word != "tfd:") continue;
      int tfd = -1;
      if (info >> tfd && tfd == fd) return true;
    }
  }
  return false;
}

TEST(SocketState, OpenNonBlockingGivesANonBlockingCloseOnExecSocketThatConnects) {
  asio::io_context ctx;
  listener l(ctx);
  tcp::socket s(ctx);
  ASSERT_FALSE(open_non_blocking(s, tcp::v4()));
  const int fd = s.native_handle();
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_TRUE(s.non_blocking());  // as after non_blocking(true)
  EXPECT_TRUE(asio_state(s).non_blocking);
  EXPECT_FALSE(asio_state(s).possible_duplicate);
  EXPECT_TRUE(watched_by_epoll(fd));  // registered with the context's reactor
  // A connect that does not block, then Asio's wait for it: the socket works.
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), l.port());
  ASSERT_TRUE(::connect(fd, to.data(), static_cast<socklen_t>(to.size())) == 0 ||
              errno == EINPROGRESS);
  bool writable = false;
  s.async_wait(tcp::socket::wait_write, [&](auto ec) { writable = !ec; });
  ASSERT_TRUE(run_until(ctx, [&] { return writable; }));
  EXPECT_EQ(s.remote_endpoint().port(), l.port());
}

TEST(SocketState, AnAcceptedSocketIsAPossibleDuplicateUntilToldOtherwise) {
  asio::io_context ctx;
  auto [a, b] = connected_pair(ctx, ctx.get_executor());
  EXPECT_TRUE(asio_state(b).possible_duplicate);  // what Asio presumes of accepted ones
  known_unshared(b);
  EXPECT_FALSE(asio_state(b).possible_duplicate);
}

TEST(SocketState, AnUnsharedSocketsCloseLeavesEpollWithoutAsiosHelp) {
  asio::io_context ctx;
  auto [a, b] = connected_pair(ctx, ctx.get_executor());
  bool readable = false;
  b.async_wait(tcp::socket::wait_read, [&](auto) { readable = true; });
  ctx.poll();
  const int fd = b.native_handle();
  ASSERT_TRUE(watched_by_epoll(fd));
  known_unshared(b);
  b.close();  // no EPOLL_CTL_DEL: the kernel drops the registration with the socket
  EXPECT_FALSE(watched_by_epoll(fd));
  ctx.restart();
  ctx.poll();
  EXPECT_TRUE(readable);  // the aborted wait still completes
}

TEST(SocketState, ADuplicatedSocketStaysWatchedAfterItsClose) {
  // Why Asio presumes accepted descriptors may be duplicates, and why known_unshared is
  // only for descriptors that are not: a duplicate keeps the registration alive.
  asio::io_context ctx;
  auto [a, b] = connected_pair(ctx, ctx.get_executor());
  b.async_wait(tcp::socket::wait_read, [](auto) {});
  ctx.poll();
  const int fd = b.native_handle();
  const int dup = ::dup(fd);
  known_unshared(b);  // wrongly
  b.close();
  EXPECT_TRUE(watched_by_epoll(fd));  // listed under the closed number: a stale entry
  ::close(dup);                       // before any event could reach the stale entry
  EXPECT_FALSE(watched_by_epoll(fd));
}

}  // namespace
}  // namespace omsgw::net
