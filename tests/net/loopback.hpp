#pragma once
// Real loopback sockets for the data-plane tests: connected TCP pairs, a listener that
// counts what reaches it, a resolver answering from a table, and polling helpers.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/resolver.hpp"

namespace omsgw::net::testing {

using tcp = boost::asio::ip::tcp;

/// Runs ctx until pred() holds (or a generous bound passes, so a broken test fails
/// instead of hanging). Returns pred().
inline bool run_until(boost::asio::io_context& ctx, const std::function<bool()>& pred,
                      std::chrono::seconds bound = std::chrono::seconds(20)) {
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (!pred() && std::chrono::steady_clock::now() < give_up) {
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(10));
  }
  return pred();
}

/// Runs every handler that is ready, until none is (nothing waits on a timer here).
inline void settle(boost::asio::io_context& ctx) {
  for (int quiet = 0; quiet < 5;) {
    ctx.restart();
    quiet = ctx.poll() == 0 ? quiet + 1 : 0;
  }
}

/// A listening socket on 127.0.0.1, port chosen by the kernel.
struct listener {
  explicit listener(boost::asio::io_context& ctx)
      : acceptor(ctx, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor.non_blocking(true);
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  /// Accepts one pending connection without waiting (empty optional: none pending).
  bool try_accept(tcp::socket& out) {
    boost::system::error_code ec;
    acceptor.accept(out, ec);
    return !ec;
  }
  tcp::acceptor acceptor;
};

/// A connected pair: first is the client's end, second the server's.
inline std::pair<tcp::socket, tcp::socket> connected_pair(boost::asio::io_context& ctx,
                                                          boost::asio::any_io_executor server_ex) {
  listener l(ctx);
  tcp::socket a(ctx);
  a.connect(l.acceptor.local_endpoint());
  l.acceptor.non_blocking(false);
  tcp::socket b(server_ex);
  l.acceptor.accept(b);
  return {std::move(a), std::move(b)};
}

/// A resolver that answers from a table (unknown names: not_found), or holds the
/// lookup unanswered when hold is set (release() answers it later).
class table_resolver final : public resolver {
 public:
  std::map<std::string, std::vector<boost::asio::ip::address>> table;
  std::map<std::string, dns_error> errors;
  bool hold = false;
  int calls = 0;

  void async_resolve(const std::string& host, const std::string& client_key,
                     boost::asio::any_io_executor ex, handler done) override {
    ++calls;
    last_client_key = client_key;
    if (hold) {
      held = [ex, done] { boost::asio::post(ex, [done] { done(make_error_code(dns_error::not_found), {}); }); };
      return;
    }
    boost::system::error_code ec;
    std::vector<boost::asio::ip::address> found;
    if (auto e = errors.find(host); e != errors.end()) {
      ec = make_error_code(e->second);
    } else if (auto it = table.find(host); it != table.end()) {
      found = it->second;
    } else {
      ec = make_error_code(dns_error::not_found);
    }
    boost::asio::post(ex, [done, ec, found] { done(ec, found); });
  }
  void release() {
    if (held) std::exchange(held, nullptr)();
  }
  std::string last_client_key;

 private:
  std::function<void()> held;
};

}  // namespace omsgw::net::testing
