// The relay (upstream proxy) handshake: target parsing, the CONNECT request, the
// answer reader split at every boundary, and the exchange over a real loopback
// socket against a scripted fake relay.
#include "net/relay_handshake.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace omsgw::net {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

relay_target target(std::string host, std::uint16_t port, std::string auth = {}) {
  relay_target t;
  t.host = std::move(host);
  t.port = port;
  t.authorization = std::move(auth);
  return t;
}

// ---------------------------------------------------------------- pure parts

TEST(RelayHandshake, ParsesRelayAddresses) {
  auto a = parse_relay_address("http://127.0.0.1:3128");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 3128);
  EXPECT_TRUE(a->authorization.empty());

  auto b = parse_relay_address("HTTP://Proxy.Corp.Example:8080/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "proxy.corp.example");
  EXPECT_EQ(b->display(), "proxy.corp.example:8080");

  auto c = parse_relay_address("http://[::1]:3128");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->display(), "[::1]:3128");
}

TEST(RelayHandshake, RejectsAddressesThatAreNotHttpHostPort) {
  for (const char* bad : {"", "p:3128", "http://p", "http://p:0",
                          "http://p:65536", "http://u:pw@p:3128", "http://p:3128/x",
                          "http://::1:3128", "ftp://p:21"}) {
    EXPECT_FALSE(parse_relay_address(bad)) << bad;
  }
}

TEST(RelayHandshake, HttpsAddressesAreTlsRelays) {
  // SPEC relay_proxy.address: https:// means TLS to the relay (issue 16).
  const auto t = parse_relay_address("HTTPS://Proxy.Example:8443/");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->display(), "proxy.example:8443");
  EXPECT_FALSE(parse_relay_address("http://p:3128")->tls);
  EXPECT_FALSE(parse_relay_address("https://u:pw@p:3128"));
}

TEST(RelayHandshake, BasicAuthorizationMatchesRfc7617Examples) {
  // RFC 7617 2 and 2.1.
  EXPECT_EQ(basic_authorization("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(basic_authorization("test", "123\xC2\xA3"), "Basic dGVzdDoxMjPCow==");
  EXPECT_EQ(basic_authorization("a", ""), "Basic YTo=");
}

TEST(RelayHandshake, ConnectRequestNamesTheDestinationAndCarriesCredentials) {
  const auto t = target("10.0.0.1", 3128, "Basic dTpw");
  EXPECT_EQ(relay_connect_request(t, "a.example", 443),
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n"
            "Proxy-Authorization: Basic dTpw\r\n\r\n");
}

TEST(RelayHandshake, ConnectRequestWithoutCredentialsHasNoAuthorizationHeader) {
  EXPECT_EQ(relay_connect_request(target("p", 3128), "2001:db8::1", 443),
            "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
}

// ---------------------------------------------------------------- answer reader

/// Feeds text split at `split` (and once whole when split == npos).
relay_answer feed_split(const std::string& text, std::size_t split) {
  relay_answer_reader r;
  if (split >= text.size()) return r.feed(text.data(), text.size());
  r.feed(text.data(), split);
  return r.feed(text.data() + split, text.size() - split);
}

TEST(RelayAnswerReader, EstablishedKeepsBytesAfterTheHeaderAtEverySplit) {
  const std::string text = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01tunnel";
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const auto a = feed_split(text, i);
    ASSERT_EQ(a.status, relay_status::established) << "split " << i;
    EXPECT_EQ(a.code, 200);
    EXPECT_EQ(a.reason, "Connection established");
    EXPECT_EQ(a.leftover, "\x16\x03\x01tunnel") << "split " << i;
  }
}

TEST(RelayAnswerReader, ByteByByteFeedingGivesTheSameAnswer) {
  const std::string text = "HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\nAB";
  relay_answer_reader r;
  relay_answer last;
  for (char ch : text) last = r.feed(&ch, 1);
  ASSERT_EQ(last.status, relay_status::established);
  EXPECT_EQ(last.leftover, "AB");
}

TEST(RelayAnswerReader, ProxyAuthenticationRequiredIsRefusedAtEverySplit) {
  const std::string text =
      "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
      "Content-Length: 5\r\n\r\nbody!";
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const auto a = feed_split(text, i);
    ASSERT_EQ(a.status, relay_status::refused) << "split " << i;
    EXPECT_EQ(a.code, 407);
    EXPECT_EQ(a.reason, "Proxy Authentication Required");
    EXPECT_TRUE(a.leftover.empty());
  }
}

TEST(RelayAnswerReader, ContentLengthOnA2xxIsTunnelData) {
  // RFC 9110 9.3.6: a client ignores Content-Length in a 2xx answer to CONNECT.
  const auto a = feed_split("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", 1000);
  ASSERT_EQ(a.status, relay_status::established);
  EXPECT_EQ(a.leftover, "abcdef");
}

TEST(RelayAnswerReader, InterimAnswersAreSkipped) {
  const auto a = feed_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nX", 1000);
  ASSERT_EQ(a.status, relay_status::established);
  EXPECT_EQ(a.leftover, "X");
}

TEST(RelayAnswerReader, OtherRefusalsKeepTheirCode) {
  EXPECT_EQ(feed_split("HTTP/1.1 403 Forbidden\r\n\r\n", 1000).code, 403);
  EXPECT_EQ(feed_split("HTTP/1.1 502 Bad Gateway\r\n\r\n", 5).status, relay_status::refused);
  EXPECT_EQ(feed_split("HTTP/1.1 101 Switching Protocols\r\n\r\n", 1000).status,
            relay_status::refused);
}

TEST(RelayAnswerReader, SomethingOtherThanHttpIsABadAnswer) {
  EXPECT_EQ(feed_split("SSH-2.0-OpenSSH_9.2\r\n\r\n", 1000).status, relay_status::bad_answer);
  EXPECT_EQ(feed_split(std::string("\x15\x03\x01\x00\x02\x02\x28\r\n\r\n", 11), 1000).status,
            relay_status::bad_answer);
}

TEST(RelayAnswerReader, AnOversizedHeaderIsABadAnswerWithoutEndlessBuffering) {
  relay_answer_reader r;
  r.feed("HTTP/1.1 200 OK\r\n", 17);
  const std::string filler = "X-Filler: " + std::string(1000, 'a') + "\r\n";
  relay_answer a;
  for (int i = 0; i < 40 && a.status == relay_status::need_more; ++i) {
    a = r.feed(filler.data(), filler.size());
  }
  EXPECT_EQ(a.status, relay_status::bad_answer);
  EXPECT_NE(a.detail.find("too large"), std::string::npos);
}

TEST(RelayAnswerReader, EndOfStreamBeforeOrInsideTheAnswerIsABadAnswer) {
  relay_answer_reader none;
  EXPECT_EQ(none.eof().status, relay_status::bad_answer);
  EXPECT_NE(none.eof().detail.find("without answering"), std::string::npos);
  relay_answer_reader half;
  half.feed("HTTP/1.1 200 Conn", 17);
  EXPECT_EQ(half.eof().status, relay_status::bad_answer);
  // Terminal answers stay as they are.
  relay_answer_reader done;
  done.feed("HTTP/1.1 200 OK\r\n\r\n", 19);
  EXPECT_EQ(done.eof().status, relay_status::established);
}

TEST(RelayAnswerReader, ControlOctetsInTheReasonAreNotCopiedToLogs) {
  const auto a = feed_split("HTTP/1.1 407 Auth\x7f needed\r\n\r\n", 1000);
  if (a.status == relay_status::refused) {
    EXPECT_EQ(a.reason.find('\x7f'), std::string::npos);
  } else {
    EXPECT_EQ(a.status, relay_status::bad_answer);  // Beast may refuse the octet outright
  }
}

TEST(RelayHandshake, DescribeNamesTheRelayAndNeverTheCredentials) {
  const auto t = target("127.0.0.1", 3128, basic_authorization("svc", "hunter2-secret"));
  relay_answer refused;
  refused.status = relay_status::refused;
  refused.code = 407;
  refused.reason = "Proxy Authentication Required";
  const auto text = describe(t, "a.example", 443, refused);
  EXPECT_EQ(text,
            "relay 127.0.0.1:3128 refused CONNECT a.example:443: 407 Proxy Authentication Required");
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find(t.authorization.substr(6)), std::string::npos);
  EXPECT_EQ(t.display().find(t.authorization.substr(6)), std::string::npos);
}

// ---------------------------------------------------------------- over a socket

/// A scripted relay on 127.0.0.1:0: accepts one connection, reads the request
/// header, records it, writes `answer` and (if close_after) closes.
struct fake_relay {
  fake_relay(asio::io_context& ioc, std::string answer, bool close_after)
      : acceptor(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        peer(ioc),
        answer(std::move(answer)),
        close_after(close_after) {
    acceptor.async_accept(peer, [this](const error_code& ec) {
      if (ec) return;
      asio::async_read_until(peer, asio::dynamic_buffer(request), "\r\n\r\n",
                             [this](const error_code& ec2, std::size_t) {
                               if (!ec2) respond();
                             });
    });
  }

  void respond() {
    if (answer.empty()) {
      if (close_after) peer.close();
      return;  // silent relay
    }
    asio::async_write(peer, asio::buffer(answer), [this](const error_code&, std::size_t) {
      if (close_after) {
        error_code ignored;
        peer.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        peer.close(ignored);
      }
    });
  }

  asio::ip::tcp::endpoint endpoint() const { return acceptor.local_endpoint(); }

  asio::ip::tcp::acceptor acceptor;
  asio::ip::tcp::socket peer;
  std::string request;
  std::string answer;
  bool close_after;
};

struct outcome {
  int calls = 0;
  error_code ec;
  relay_answer answer;
};

/// Connects to the fake relay and runs the handshake; `cancel_after` closes the
/// socket from a timer (the caller's deadline) when no answer comes.
outcome run_handshake(asio::io_context& ioc, fake_relay& relay, const relay_target& t,
                      std::optional<std::chrono::milliseconds> cancel_after = std::nullopt) {
  asio::ip::tcp::socket sock(ioc);
  asio::steady_timer deadline(ioc);
  outcome out;
  sock.async_connect(relay.endpoint(), [&](const error_code& ec) {
    ASSERT_FALSE(ec) << ec.message();
    if (cancel_after) {
      deadline.expires_after(*cancel_after);
      deadline.async_wait([&](const error_code& e) {
        if (!e) sock.close();
      });
    }
    async_relay_handshake(sock, t, "a.example", 443, [&](const error_code& ec2, relay_answer a) {
      ++out.calls;
      out.ec = ec2;
      out.answer = std::move(a);
      deadline.cancel();
    });
  });
  ioc.run_for(std::chrono::seconds(20));
  return out;
}

TEST(RelayHandshakeOverSocket, EstablishedTunnelReturnsLeftoverBytes) {
  asio::io_context ioc;
  fake_relay relay(ioc, "HTTP/1.1 200 Connection established\r\n\r\nserver-first", false);
  const auto t = target("127.0.0.1", relay.endpoint().port(), basic_authorization("svc", "pw"));
  const auto out = run_handshake(ioc, relay, t);
  EXPECT_EQ(out.calls, 1);
  EXPECT_FALSE(out.ec);
  EXPECT_EQ(out.answer.status, relay_status::established);
  EXPECT_EQ(out.answer.leftover, "server-first");
  EXPECT_EQ(relay.request,
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n"
            "Proxy-Authorization: Basic c3ZjOnB3\r\n\r\n");
}

TEST(RelayHandshakeOverSocket, ProxyAuthenticationRequiredIsRefused) {
  asio::io_context ioc;
  fake_relay relay(ioc,
                   "HTTP/1.1 407 Proxy Authentication Required\r\n"
                   "Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
                   true);
  const auto t = target("127.0.0.1", relay.endpoint().port(), basic_authorization("svc", "bad"));
  const auto out = run_handshake(ioc, relay, t);
  EXPECT_EQ(out.calls, 1);
  EXPECT_FALSE(out.ec);
  EXPECT_EQ(out.answer.status, relay_status::refused);
  EXPECT_EQ(out.answer.code, 407);
}

TEST(RelayHandshakeOverSocket, RelayClosingWithoutAnswerIsABadAnswer) {
  asio::io_context ioc;
  fake_relay relay(ioc, "", true);
  const auto out = run_handshake(ioc, relay, target("127.0.0.1", relay.endpoint().port()));
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.answer.status, relay_status::bad_answer);
}

TEST(RelayHandshakeOverSocket, SilentRelayIsCutByTheCallersDeadline) {
  asio::io_context ioc;
  fake_relay relay(ioc, "", false);
  const auto out = run_handshake(ioc, relay, target("127.0.0.1", relay.endpoint().port()),
                                 std::chrono::milliseconds(200));
  EXPECT_EQ(out.calls, 1);
  EXPECT_TRUE(out.ec);
  EXPECT_EQ(out.answer.status, relay_status::need_more);
}

}  // namespace
}  // namespace omsgw::net
