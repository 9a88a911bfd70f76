// The upstream connector over real loopback sockets: the address guard on every
// candidate, pins and literals without the resolver, candidates in turn, DNS errors,
// the relay handshake, and relay attempts of every kind letting go of their sockets
// when they are abandoned.
#include "net/upstream_connector.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

policy_ptr policy_with(bool allow_private, std::map<std::string, ip_address> pins = {}) {
  auto p = std::make_shared<policy_snapshot>();
  p->allow_private = allow_private;
  p->resolve = std::move(pins);
  return p;
}

struct UpstreamConnector : ::testing::Test {
  asio::io_context ctx;
  listener server{ctx};
  std::shared_ptr<table_resolver> dns = std::make_shared<table_resolver>();
  std::optional<upstream_outcome> result;
  int calls = 0;

  std::shared_ptr<upstream_connector> connect(upstream_target t) {
    auto c = std::make_shared<upstream_connector>(ctx.get_executor(), dns);
    t.client_key = "192.0.2.7";
    c->start(std::move(t), [this](upstream_outcome out) {
      ++calls;
      result = std::move(out);
    });
    return c;
  }
  void wait() {
    ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  }
  int accepted() {
    settle(ctx);
    int n = 0;
    for (tcp::socket s(ctx); server.try_accept(s); s = tcp::socket(ctx)) ++n;
    return n;
  }
};

TEST_F(UpstreamConnector, ACandidateTheGuardRefusesIsNeverConnectedTo) {
  dns->table["internal.example"] = {asio::ip::make_address("127.0.0.1"),
                                    asio::ip::make_address("::1")};
  connect({"internal.example", server.port(), policy_with(false), nullptr, {}});
  wait();
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->why, connect_failure::forbidden_address);
  EXPECT_NE(result->detail.find("loopback"), std::string::npos) << result->detail;
  EXPECT_EQ(accepted(), 0);  // the listener behind 127.0.0.1 saw nothing
  EXPECT_EQ(dns->last_client_key, "192.0.2.7");
}

TEST_F(UpstreamConnector, AnIpLiteralDestinationIsGuardedWithoutTheResolver) {
  connect({"127.0.0.1", server.port(), policy_with(false), nullptr, {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::forbidden_address);
  EXPECT_EQ(accepted(), 0);
  EXPECT_EQ(dns->calls, 0);
}

TEST_F(UpstreamConnector, APinIsConnectedToWithoutTheResolver) {
  connect({"pinned.example",
           server.port(),
           policy_with(false, {{"pinned.example", asio::ip::make_address("127.0.0.1")}}),
           nullptr,
           {}});
  wait();
  ASSERT_TRUE(result->ok()) << result->detail;
  EXPECT_EQ(result->endpoint.port(), server.port());
  EXPECT_NE(result->stream->plain_socket(), nullptr);
  EXPECT_EQ(accepted(), 1);
  EXPECT_EQ(dns->calls, 0);
}

TEST_F(UpstreamConnector, TriesTheCandidatesInTurn) {
  // Nothing listens on 127.0.0.2 (the listener is bound to 127.0.0.1 only).
  dns->table["two.example"] = {asio::ip::make_address("127.0.0.2"),
                               asio::ip::make_address("127.0.0.1")};
  connect({"two.example", server.port(), policy_with(true), nullptr, {}});
  wait();
  ASSERT_TRUE(result->ok()) << result->detail;
  EXPECT_EQ(result->endpoint.address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(accepted(), 1);
  EXPECT_EQ(calls, 1);
}

TEST_F(UpstreamConnector, ReportsRefusedWhenNoCandidateAnswers) {
  dns->table["gone.example"] = {asio::ip::make_address("127.0.0.2")};
  connect({"gone.example", server.port(), policy_with(true), nullptr, {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::refused);
  EXPECT_NE(result->detail.find("127.0.0.2"), std::string::npos) << result->detail;
}

TEST_F(UpstreamConnector, APinToAnAddressThatIsNeverADestinationIsRefused) {
  // Broadcast, multicast and the unspecified address (0.0.0.0 and :: reach the gateway
  // host itself) are refused even pinned: the pin cannot route a name to the host.
  for (const char* pin : {"255.255.255.255", "0.0.0.0", "::", "224.0.0.1"}) {
    connect({"pinned.example",
             server.port(),
             policy_with(true, {{"pinned.example", asio::ip::make_address(pin)}}),
             nullptr,
             {}});
    wait();
    EXPECT_FALSE(result->ok());
    EXPECT_EQ(result->why, connect_failure::forbidden_address) << pin;
    EXPECT_NE(result->detail.find(pin), std::string::npos) << result->detail;
    result.reset();
  }
  EXPECT_EQ(accepted(), 0);
}

TEST_F(UpstreamConnector, MapsDnsErrorsToFailures) {
  dns->errors["slow.example"] = dns_error::timeout;
  connect({"slow.example", 443, policy_with(true), nullptr, {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::timeout);  // answered 504
  result.reset();
  connect({"nx.example", 443, policy_with(true), nullptr, {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::resolve_failed);  // answered 502
  EXPECT_NE(result->detail.find("name not found"), std::string::npos) << result->detail;
}

TEST_F(UpstreamConnector, CancelDropsTheHandlerAndConnectsNothing) {
  dns->hold = true;
  dns->table["late.example"] = {asio::ip::make_address("127.0.0.1")};
  auto c = connect({"late.example", server.port(), policy_with(true), nullptr, {}});
  settle(ctx);
  c->cancel();
  dns->release();
  EXPECT_EQ(accepted(), 0);
  EXPECT_EQ(calls, 0);
}

/// A relay on loopback that reads the CONNECT header and sends `answer`.
struct fake_relay {
  explicit fake_relay(asio::io_context& ctx, std::string answer)
      : l(ctx), socket(ctx), answer(std::move(answer)) {
    l.acceptor.non_blocking(false);
    l.acceptor.async_accept(socket, [this](const boost::system::error_code& ec) {
      if (ec) return;
      asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n",
                             [this](const boost::system::error_code& ec2, std::size_t) {
                               if (!ec2) asio::write(socket, asio::buffer(this->answer));
                             });
    });
  }
  std::string seen() const { return request; }
  relay_ptr target() const {
    auto r = std::make_shared<relay_target>();
    r->host = "127.0.0.1";
    r->port = l.port();
    return r;
  }
  listener l;
  tcp::socket socket;
  std::string request;
  std::string answer;
};

TEST_F(UpstreamConnector, OpensTheTunnelThroughARelayAndKeepsItsEarlyBytes) {
  fake_relay relay(ctx, "HTTP/1.1 200 Connection established\r\n\r\nEARLY");
  connect({"dest.example", 443, policy_with(false), relay.target(), {}});
  wait();
  ASSERT_TRUE(result->ok()) << result->detail;
  EXPECT_EQ(result->endpoint.port(), relay.l.port());
  EXPECT_EQ(result->early, "EARLY");
  EXPECT_EQ(relay.seen().rfind("CONNECT dest.example:443 HTTP/1.1\r\n", 0), 0u) << relay.seen();
  EXPECT_EQ(dns->calls, 0);  // the relay resolves the destination, not the gateway
}

TEST_F(UpstreamConnector, ReportsARelayRefusal) {
  fake_relay relay(ctx, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
  connect({"dest.example", 443, policy_with(false), relay.target(), {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::relay_refused);
  EXPECT_NE(result->detail.find("407"), std::string::npos) << result->detail;
}

TEST_F(UpstreamConnector, FallsBackWhenARelayRefusesButNotWhenItRefusesOurCredentials) {
  fake_relay refusing(ctx, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  fake_relay next(ctx, "HTTP/1.1 200 Connection established\r\n\r\n");
  auto head = std::make_shared<relay_target>(*refusing.target());
  head->fallback = next.target();
  connect({"dest.example", 443, policy_with(false), head, {}});
  wait();
  ASSERT_TRUE(result->ok()) << result->detail;
  EXPECT_EQ(result->endpoint.port(), next.l.port());

  fake_relay auth(ctx, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
  fake_relay spare(ctx, "HTTP/1.1 200 Connection established\r\n\r\n");
  head = std::make_shared<relay_target>(*auth.target());
  head->fallback = spare.target();
  result.reset();
  connect({"dest.example", 443, policy_with(false), head, {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::relay_refused);
  settle(ctx);
  EXPECT_TRUE(spare.seen().empty());
}

TEST_F(UpstreamConnector, GuardsAnIpLiteralDestinationEvenThroughARelay) {
  fake_relay relay(ctx, "HTTP/1.1 200 OK\r\n\r\n");
  connect({"10.1.2.3", 443, policy_with(false), relay.target(), {}});
  wait();
  EXPECT_EQ(result->why, connect_failure::forbidden_address);
  settle(ctx);
  EXPECT_TRUE(relay.seen().empty());  // never connected to the relay
}

/// A relay on loopback that accepts one connection and never says a word (a hung
/// relay: TCP works, the proxy behind it does not). closed: the gateway's end of the
/// connection went away (EOF or reset), which only the gateway can cause.
struct silent_relay {
  explicit silent_relay(asio::io_context& ctx) : l(ctx), socket(ctx) {
    l.acceptor.non_blocking(false);
    l.acceptor.async_accept(socket, [this](const boost::system::error_code& ec) {
      if (!ec) read();
    });
  }
  void read() {
    socket.async_read_some(asio::buffer(buf),
                           [this](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) {
                               closed = true;
                               return;
                             }
                             seen.append(buf.data(), n);
                             read();
                           });
  }
  /// A relay of the kind asked for, at this listener.
  relay_ptr target(relay_kind kind) const {
    auto r = std::make_shared<relay_target>();
    r->host = "127.0.0.1";
    r->port = l.port();
    if (kind == relay_kind::curl) {  // libcurl answers the 407s
      r->auth = config::relay_auth::digest;
      r->username = "svc";
      r->password = "pw";
    }
    if (kind == relay_kind::tls) {
      r->tls = true;
      r->tls_context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    }
    return r;
  }
  listener l;
  tcp::socket socket;
  std::array<char, 4096> buf{};
  std::string seen;  ///< the CONNECT, or the TLS ClientHello
  bool closed = false;
};

/// Every kind of relay attempt: our own CONNECT, libcurl's, TLS (its bridge, then curl).
struct AbandonedRelayAttempt : UpstreamConnector, ::testing::WithParamInterface<relay_kind> {
  /// The attempt let go of the relay's socket (the relay sees it closed) and of
  /// everything else: nothing holds relay (the connector, opener, bridge or curl job,
  /// whose last references go on ctx) but the caller.
  bool released(const silent_relay& relay, const relay_ptr& target) {
    return run_until(
        ctx, [&] { return relay.closed && target.use_count() == 1; }, std::chrono::seconds(5));
  }
};

TEST_P(AbandonedRelayAttempt, ATimedOutAttemptClosesItsSocketEvenWithoutFallback) {
  silent_relay relay(ctx);
  relay_ptr target = relay.target(GetParam());
  upstream_target t{"dest.example", 443, policy_with(false), target, {}};
  t.timeout = std::chrono::seconds(1);
  auto c = connect(std::move(t));
  wait();
  EXPECT_EQ(result->why, connect_failure::timeout) << result->detail;
  result.reset();  // it names the relay too
  c.reset();
  EXPECT_TRUE(released(relay, target));
}

TEST_P(AbandonedRelayAttempt, ACancelledAttemptClosesItsSocketAtOnce) {
  silent_relay relay(ctx);
  relay_ptr target = relay.target(GetParam());
  upstream_target t{"dest.example", 443, policy_with(false), target, {}};
  t.timeout = std::chrono::seconds(30);  // cancel() (agent gone, gateway stopping) comes first
  auto c = connect(std::move(t));
  ASSERT_TRUE(run_until(ctx, [&] { return !relay.seen.empty(); }));  // mid-exchange
  c->cancel();
  c.reset();
  EXPECT_TRUE(released(relay, target));
  EXPECT_EQ(calls, 0);
}

TEST_P(AbandonedRelayAttempt, TheFallbackClosesTheSocketOfTheRelayItLeaves) {
  silent_relay hung(ctx);
  fake_relay next(ctx, "HTTP/1.1 200 Connection established\r\n\r\n");
  auto chain = std::make_shared<relay_target>(*hung.target(GetParam()));
  chain->fallback = next.target();
  const relay_ptr head = std::move(chain);
  upstream_target t{"dest.example", 443, policy_with(false), head, {}};
  t.timeout = std::chrono::seconds(1);
  connect(std::move(t));
  wait();
  ASSERT_TRUE(result->ok()) << result->detail;
  EXPECT_EQ(result->endpoint.port(), next.l.port());
  EXPECT_TRUE(released(hung, head));
}

INSTANTIATE_TEST_SUITE_P(EveryKind, AbandonedRelayAttempt,
                         ::testing::Values(relay_kind::plain, relay_kind::curl, relay_kind::tls),
                         [](const ::testing::TestParamInfo<relay_kind>& info) {
                           switch (info.param) {
                             case relay_kind::plain:
                               return std::string("plain");
                             case relay_kind::curl:
                               return std::string("curl");
                             case relay_kind::tls:
                               return std::string("tls");
                           }
                           return std::string("unknown");
                         });

}  // namespace
}  // namespace omsgw::net
