// The connection (net/tunnel) over real loopback sockets, driven the way the session
// actor drives it: every phase's deadline ends it exactly once, the close reason names
// who closed first, bytes flow both ways.
#include "net/tunnel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;
using std::chrono::seconds;

/// Writes down every callback, in order.
struct recorder final : connection_observer {
  std::vector<std::string> events;
  next_step answer;               ///< what on_request answers (default: wait for the test)
  bool record_finished = false;   ///< also write down on_finished
  request_outcome request;
  std::string failure_detail;
  tunnel_stats closed;
  next_step on_request(const request_outcome& o, bool timed_out) override {
    request = o;
    events.push_back(timed_out ? "request-timeout" : "request");
    return answer;  // wait (default): the test answers through the public calls
  }
  void on_finished() override {
    if (record_finished) events.push_back("finished");
  }
  void on_established(const established_info&) override { events.push_back("established"); }
  next_step on_connect_failed(connect_failure why, const std::string& detail) override {
    failure_detail = detail;
    events.push_back(std::string("failed:") + to_string(why));
    return {};
  }
  void on_inspected(const tls::inspection_result&) override { events.push_back("inspected"); }
  void on_bytes(std::uint64_t, std::uint64_t) override {}
  void on_closed(const tunnel_stats& s) override {
    closed = s;
    events.push_back(std::string("closed:") + to_string(s.reason));
  }
};

policy_ptr permissive() {
  auto p = std::make_shared<policy_snapshot>();
  p->allow_private = true;
  return p;
}

struct Tunnel : ::testing::Test {
  asio::io_context ctx;
  std::shared_ptr<table_resolver> dns = std::make_shared<table_resolver>();
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  tcp::socket client{ctx};
  std::shared_ptr<connection> conn;
  listener upstream_listener{ctx};
  tcp::socket upstream{ctx};

  void SetUp() override {
    auto [a, b] = connected_pair(ctx, asio::make_strand(ctx));
    client = std::move(a);
    conn = std::make_shared<connection>(std::move(b), 1, dns);
    conn->set_observer(rec);
  }
  void TearDown() override {
    conn.reset();
    client.close();
    upstream.close();
    settle(ctx);
    EXPECT_EQ(connection::live_count(), 0u);
  }
  bool wait_events(std::size_t n) {
    return run_until(ctx, [&] { return rec->events.size() >= n; });
  }
  /// Everything the client receives until the gateway closes.
  std::string read_to_end(tcp::socket& s) {
    std::string got;
    boost::system::error_code ec;
    bool done = false;
    asio::async_read(s, asio::dynamic_buffer(got), [&](auto e, std::size_t) {
      ec = e;
      done = true;
    });
    run_until(ctx, [&] { return done; });
    EXPECT_EQ(ec, asio::error::eof);
    return got;
  }
  /// Sends a CONNECT to the upstream listener and waits for the 200.
  void open_tunnel(tunnel_options opts, const std::string& extra = {}) {
    conn->read_request(max_header_bytes, seconds(5));
    asio::write(client, asio::buffer("CONNECT 127.0.0.1:" +
                                     std::to_string(upstream_listener.port()) +
                                     " HTTP/1.1\r\n\r\n" + extra));
    ASSERT_TRUE(wait_events(1));
    ASSERT_EQ(rec->events.back(), "request");
    upstream_listener.acceptor.non_blocking(false);
    upstream_listener.acceptor.async_accept(upstream, [](auto) {});
    conn->connect_and_relay(rec->request.host, rec->request.port, permissive(), seconds(5),
                            nullptr, std::move(opts));
    ASSERT_TRUE(wait_events(2));
    ASSERT_EQ(rec->events.back(), "established");
    std::string head(39, '\0');
    asio::read(client, asio::buffer(head));
    ASSERT_EQ(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    ASSERT_TRUE(run_until(ctx, [&] { return upstream.is_open(); }));
  }
  tunnel_options quick(std::chrono::seconds idle = seconds(30)) {
    tunnel_options o;
    o.idle_timeout = idle;
    return o;
  }
};

TEST_F(Tunnel, TheRequestDeadlineReportsOnceAndTheReplyCloses) {
  conn->read_request(max_header_bytes, seconds(1));
  ASSERT_TRUE(wait_events(1));
  EXPECT_EQ(rec->events.back(), "request-timeout");
  conn->reply_and_close(408);
  EXPECT_EQ(read_to_end(client),
            "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  conn->close();  // after a final answer: nothing more
  settle(ctx);
  EXPECT_EQ(rec->events, std::vector<std::string>{"request-timeout"});
}

TEST_F(Tunnel, TheProxyHeaderDeadlineReportsOnce) {
  int calls = 0;
  bool timed_out = false;
  conn->read_proxy_header(seconds(1), [&](const proxy_outcome& out, bool t) {
    ++calls;
    timed_out = t;
    EXPECT_EQ(out.status, proxy_status::need_more);
  });
  asio::write(client, asio::buffer(std::string("PROXY TCP4 ")));  // incomplete
  ASSERT_TRUE(run_until(ctx, [&] { return calls > 0; }));
  conn->close();
  settle(ctx);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(rec->events.empty());
}

TEST_F(Tunnel, AProxyHeaderSetsTheClientAndItsTailStartsTheRequest) {
  bool ok = false;
  conn->read_proxy_header(seconds(5), [&](const proxy_outcome& out, bool) {
    ok = out.status == proxy_status::ok;
    conn->read_request(max_header_bytes, seconds(5));
  });
  asio::write(client, asio::buffer(std::string("PROXY TCP4 198.51.100.7 192.0.2.1 40000 3128\r\n"
                                               "CONNECT a.example:443 HTTP/1.1\r\n\r\n")));
  ASSERT_TRUE(wait_events(1));
  EXPECT_TRUE(ok);
  EXPECT_EQ(rec->events.back(), "request");
  EXPECT_EQ(rec->request.host, "a.example");
  EXPECT_EQ(conn->client().address().to_string(), "198.51.100.7");
}

TEST_F(Tunnel, TheConnectDeadlineReportsOnceEvenIfTheLookupAnswersLate) {
  dns->hold = true;
  conn->read_request(max_header_bytes, seconds(5));
  asio::write(client, asio::buffer(std::string("CONNECT late.example:443 HTTP/1.1\r\n\r\n")));
  ASSERT_TRUE(wait_events(1));
  conn->connect_and_relay("late.example", 443, permissive(), seconds(1), nullptr, quick());
  ASSERT_TRUE(wait_events(2));
  EXPECT_EQ(rec->events.back(), "failed:timeout");
  EXPECT_NE(rec->failure_detail.find("limits.connect_timeout_s"), std::string::npos);
  dns->release();
  settle(ctx);
  conn->reply_and_close(504);
  EXPECT_EQ(read_to_end(client).rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u);
  EXPECT_EQ(rec->events, (std::vector<std::string>{"request", "failed:timeout"}));
}

TEST_F(Tunnel, TheHandshakeDeadlineClosesOnceWithOneCloseReport) {
  auto opts = quick();
  opts.inspect = tls::inspection_policy{};
  opts.handshake_timeout = seconds(1);
  open_tunnel(opts);
  ASSERT_TRUE(wait_events(3));
  EXPECT_EQ(rec->events.back(), "closed:handshake_timeout");
  EXPECT_EQ(read_to_end(client), "");
  conn->close();
  settle(ctx);
  EXPECT_EQ(rec->events, (std::vector<std::string>{"request", "established",
                                                   "closed:handshake_timeout"}));
}

TEST_F(Tunnel, TheIdleDeadlineClosesOnceWithOneCloseReport) {
  open_tunnel(quick(seconds(1)));
  ASSERT_TRUE(wait_events(3));
  EXPECT_EQ(rec->events.back(), "closed:idle_timeout");
  EXPECT_EQ(read_to_end(client), "");
  conn->close();
  settle(ctx);
  EXPECT_EQ(rec->events.size(), 3u);
}

TEST_F(Tunnel, AClientThatHalfClosesFirstIsNamedAsTheCloser) {
  open_tunnel(quick(), "early");
  asio::write(client, asio::buffer(std::string("ping")));
  client.shutdown(tcp::socket::shutdown_send);
  // The upstream reads to the end, then answers the forwarded FIN by closing.
  EXPECT_EQ(read_to_end(upstream), "earlyping");
  upstream.close();
  EXPECT_EQ(read_to_end(client), "");
  ASSERT_TRUE(wait_events(3));
  EXPECT_EQ(rec->events.back(), "closed:client_closed");
  EXPECT_EQ(rec->closed.bytes_to_upstream, 9u);
}

TEST_F(Tunnel, AnUpstreamThatClosesFirstIsNamedAsTheCloser) {
  open_tunnel(quick());
  asio::write(upstream, asio::buffer(std::string("hello")));
  upstream.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(read_to_end(client), "hello");
  client.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(wait_events(3));
  EXPECT_EQ(rec->events.back(), "closed:upstream_closed");
  EXPECT_EQ(rec->closed.bytes_to_client, 5u);
}

TEST_F(Tunnel, CloseEndsATunnelOnceWithReasonShutdown) {
  open_tunnel(quick());
  conn->close();
  conn->close();
  ASSERT_TRUE(wait_events(3));
  settle(ctx);
  EXPECT_EQ(rec->events.back(), "closed:shutdown");
  EXPECT_EQ(rec->events.size(), 3u);
  EXPECT_EQ(read_to_end(client), "");
}

TEST_F(Tunnel, AFinalAnswerUsesBeastsReasonPhrase) {
  conn->reply_and_close(405, "Allow: CONNECT\r\n");
  EXPECT_EQ(read_to_end(client),
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

}  // namespace
}  // namespace omsgw::net

namespace omsgw::net {
namespace {

// The session link answers on the strand (issue 14: no thread hand-off on the set-up
// path): the connection acts on the answer at once, with no call from its owner.
TEST_F(Tunnel, AReplyAnswerIsWrittenWithoutACallFromTheOwner) {
  rec->answer = next_step::reply_with(403);
  rec->record_finished = true;
  conn->read_request(max_header_bytes, seconds(5));
  asio::write(client, asio::buffer(std::string("CONNECT denied.example:443 HTTP/1.1\r\n\r\n")));
  EXPECT_EQ(read_to_end(client),
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  settle(ctx);
  EXPECT_EQ(rec->events, (std::vector<std::string>{"request", "finished"}));
}

TEST_F(Tunnel, AConnectAnswerOpensTheTunnelWithoutACallFromTheOwner) {
  next_step go;
  go.what = next_step::kind::connect;
  go.host = "127.0.0.1";
  go.port = upstream_listener.port();
  go.policy = permissive();
  go.timeout = seconds(5);
  go.tunnel = quick();
  rec->answer = go;
  upstream_listener.acceptor.non_blocking(false);
  upstream_listener.acceptor.async_accept(upstream, [](auto) {});
  conn->read_request(max_header_bytes, seconds(5));
  asio::write(client, asio::buffer("CONNECT 127.0.0.1:" + std::to_string(go.port) +
                                   " HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(wait_events(2));
  EXPECT_EQ(rec->events, (std::vector<std::string>{"request", "established"}));
  std::string head(39, '\0');
  asio::read(client, asio::buffer(head));
  EXPECT_EQ(head, "HTTP/1.1 200 Connection established\r\n\r\n");
  ASSERT_TRUE(run_until(ctx, [&] { return upstream.is_open(); }));
  asio::write(client, asio::buffer(std::string("ping")));
  std::string got(4, '\0');
  bool read = false;
  asio::async_read(upstream, asio::buffer(got), [&](auto, std::size_t) { read = true; });
  ASSERT_TRUE(run_until(ctx, [&] { return read; }));
  EXPECT_EQ(got, "ping");
}

TEST_F(Tunnel, CloseAfterTheEndPostsNothing) {
  rec->answer = next_step::closing();
  rec->record_finished = true;
  conn->read_request(max_header_bytes, seconds(5));
  client.shutdown(tcp::socket::shutdown_send);  // the client leaves before a request
  ASSERT_TRUE(wait_events(2));
  EXPECT_EQ(rec->events, (std::vector<std::string>{"request", "finished"}));
  settle(ctx);
  conn->close();  // the session's exit after the end: a no-op
  EXPECT_EQ(ctx.poll(), 0u) << "close() after the end must not post to the strand";
}

}  // namespace
}  // namespace omsgw::net
