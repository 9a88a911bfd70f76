#include "net/connect_request.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/net/split_feed.hpp"

namespace omsgw::net {
namespace {

constexpr std::size_t spec_limit = 16 * 1024;  // SPEC.md: headers over 16 KiB -> 431
constexpr std::size_t small_limit = 256;

/// The first bytes of a TLS 1.2 ClientHello record, as a client sends them right
/// behind its CONNECT header without waiting for the 200.
const std::string client_hello("\x16\x03\x01\x00\x31\x01\x00\x00\x2d\x03\x03\x00\x01\x02", 14);

using result = testing::fed_result<request_reader>;

result feed_chunks(const std::string& bytes, const std::vector<std::size_t>& cuts,
                   std::size_t limit) {
  return testing::feed_chunks<request_reader>(bytes, cuts, limit);
}

void expect_same(const result& expected, const result& actual, const std::string& how) {
  EXPECT_EQ(actual.outcome.status, expected.outcome.status) << how;
  EXPECT_EQ(actual.outcome.method, expected.outcome.method) << how;
  EXPECT_EQ(actual.outcome.host, expected.outcome.host) << how;
  EXPECT_EQ(actual.outcome.port, expected.outcome.port) << how;
  EXPECT_EQ(actual.leftover, expected.leftover) << how;
}

/// Parses bytes in one piece, split in two at every byte boundary and byte by byte,
/// and checks every way gives the same outcome. Returns the one-piece result.
result parse(const std::string& bytes, std::size_t limit = spec_limit) {
  const result whole = feed_chunks(bytes, {}, limit);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    expect_same(whole, feed_chunks(bytes, {cut}, limit), "split at " + std::to_string(cut));
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < bytes.size(); ++i) every_byte.push_back(i);
  expect_same(whole, feed_chunks(bytes, every_byte, limit), "byte by byte");
  return whole;
}

request_status status_of(const std::string& bytes, std::size_t limit = spec_limit) {
  return parse(bytes, limit).outcome.status;
}

std::string connect_line(const std::string& target, const std::string& version = "HTTP/1.1") {
  return "CONNECT " + target + " " + version + "\r\n";
}

/// A CONNECT request of exactly `total` header bytes, padded with one field.
std::string request_of_size(std::size_t total) {
  const std::string head = connect_line("a.example.com:443") + "X-Pad: ";
  const std::string end = "\r\n\r\n";
  return head + std::string(total - head.size() - end.size(), 'p') + end;
}

TEST(ConnectRequest, AcceptsConnectToHostAndPort) {
  const auto r = parse(connect_line("ws1.ods.opinsights.azure.com:443") +
                       "Host: ws1.ods.opinsights.azure.com:443\r\n"
                       "User-Agent: agent/1.0\r\nProxy-Connection: Keep-Alive\r\n\r\n");
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.outcome.method, "CONNECT");
  EXPECT_EQ(r.outcome.host, "ws1.ods.opinsights.azure.com");
  EXPECT_EQ(r.outcome.port, 443);
  EXPECT_TRUE(r.leftover.empty());
  EXPECT_EQ(http_status_for(r.outcome.status), 0);
}

TEST(ConnectRequest, AcceptsHttp10WithoutHeaders) {
  const auto r = parse(connect_line("a.example.com:443", "HTTP/1.0") + "\r\n");
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.outcome.host, "a.example.com");
}

TEST(ConnectRequest, NormalisesTheTargetHost) {
  const auto r = parse(connect_line("WS.Example.COM.:8443") + "\r\n");
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.outcome.host, "ws.example.com");
  EXPECT_EQ(r.outcome.port, 8443);
}

TEST(ConnectRequest, AcceptsBracketedIpv6AndIpv4Targets) {
  auto r = parse(connect_line("[2001:DB8:0::1]:443") + "\r\n");
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.outcome.host, "2001:db8::1");
  r = parse(connect_line("192.0.2.1:443") + "\r\n");
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.outcome.host, "192.0.2.1");
}

TEST(ConnectRequest, RejectsMalformedIpv6Targets) {
  for (const char* target :
       {"2001:db8::1:443", "[2001:db8::1]", "[2001:db8::1]443", "[2001:db8::1:443",
        "[192.0.2.1]:443", "[]:443", "[fe80::1%25eth0]:443"}) {
    EXPECT_EQ(status_of(connect_line(target) + "\r\n"), request_status::bad_request) << target;
  }
}

TEST(ConnectRequest, RejectsAMissingOrInvalidPort) {
  for (const char* target :
       {"a.example.com", "a.example.com:", "a.example.com:0", "a.example.com:65536",
        "a.example.com:443x", "a.example.com:-1", "a.example.com:+443", "a.example.com:0x1bb",
        "a.example.com:443:443", "a.example.com:99999999999999999999", ":443"}) {
    EXPECT_EQ(status_of(connect_line(target) + "\r\n"), request_status::bad_request) << target;
  }
}

TEST(ConnectRequest, AcceptsThePortRangeEnds) {
  EXPECT_EQ(parse(connect_line("a.example.com:1") + "\r\n").outcome.port, 1);
  EXPECT_EQ(parse(connect_line("a.example.com:65535") + "\r\n").outcome.port, 65535);
}

TEST(ConnectRequest, RejectsTargetsNotInAuthorityForm) {
  for (const char* target :
       {"http://a.example.com:443/", "https://a.example.com:443", "/", "*", "a.example.com:443/",
        "user@a.example.com:443", "a.example.com:443?x", "-bad.example.com:443", "127.1:443"}) {
    EXPECT_EQ(status_of(connect_line(target) + "\r\n"), request_status::bad_request) << target;
  }
}

TEST(ConnectRequest, RejectsMalformedRequestLines) {
  for (const std::string& bytes : {
           std::string("CONNECT a.example.com:443\r\n\r\n"),
           std::string("CONNECT  a.example.com:443 HTTP/1.1\r\n\r\n"),
           std::string("CONNECT a.example.com:443  HTTP/1.1\r\n\r\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.2\r\n\r\n"),
           std::string("CONNECT a.example.com:443 HTTP/2.0\r\n\r\n"),
           std::string("CONNECT a.example.com:443 HTTP/0.9\r\n\r\n"),
           std::string("CONNECT a.example.com:443 http/1.1\r\n\r\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.1 \r\n\r\n"),
           std::string("\r\nCONNECT a.example.com:443 HTTP/1.1\r\n\r\n"),
           std::string(" a.example.com:443 HTTP/1.1\r\n\r\n"),
           std::string("CON(NECT a.example.com:443 HTTP/1.1\r\n\r\n"),
           std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
           client_hello + "\r\n\r\n",
       }) {
    EXPECT_EQ(status_of(bytes), request_status::bad_request) << bytes;
    EXPECT_EQ(http_status_for(request_status::bad_request), 400);
  }
}

TEST(ConnectRequest, RejectsMalformedHeaderFields) {
  for (const std::string field : {"NoColon\r\n", "Bad Name: x\r\n", ": empty-name\r\n",
                                  "X: a\rb\r\n", "Content-Length: 1, 2\r\n"}) {
    EXPECT_EQ(status_of(connect_line("a.example.com:443") + field + "\r\n"),
              request_status::bad_request)
        << field;
  }
}

TEST(ConnectRequest, RefusesTlsSentStraightToTheProxyAtTheFirstByte) {
  request_reader reader(spec_limit);
  EXPECT_EQ(reader.feed(client_hello.data(), 1).status, request_status::bad_request);
  EXPECT_EQ(status_of(client_hello), request_status::bad_request);
}

TEST(ConnectRequest, RefusesBareCarriageReturnsAsSoonAsTheyArrive) {
  EXPECT_EQ(status_of("CONNECT a.example.com:443 HTTP/1.1\rX"), request_status::bad_request);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "A: b\rc"), request_status::bad_request);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "\r\r\n"), request_status::bad_request);
}

// RFC 9112 2.2: a recipient MAY take a lone LF as a line terminator (Squid and
// Tinyproxy tunnel such requests; scripted clients and some scanners send them).
TEST(ConnectRequest, TakesALoneLfAsALineEnd) {
  for (const std::string& bytes : {
           std::string("CONNECT a.example.com:443 HTTP/1.0\n\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.1\nHost: a.example.com:443\n\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.1\r\nHost: a.example.com:443\n\r\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.1\nHost: a.example.com:443\r\n\n"),
           std::string("CONNECT a.example.com:443 HTTP/1.1\r\n\n"),
       }) {
    const auto r = parse(bytes + client_hello);
    EXPECT_EQ(r.outcome.status, request_status::connect) << bytes;
    EXPECT_EQ(r.outcome.host, "a.example.com") << bytes;
    EXPECT_EQ(r.outcome.port, 443) << bytes;
    EXPECT_EQ(r.leftover, client_hello) << bytes;  // nothing of the header leaks into the tunnel
  }
  EXPECT_EQ(status_of("CONNECT a.example.com:443 HTTP/1.1\n"), request_status::need_more);
}

TEST(ConnectRequest, LoneLfLinesKeepEveryOtherRule) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: x\n\n"), request_status::not_connect);
  EXPECT_EQ(status_of("CONNECT a.example.com:443\n\n"), request_status::bad_request);
  EXPECT_EQ(status_of("CONNECT a.example.com:443 HTTP/1.1\nContent-Length: 3\n\n"),
            request_status::bad_request);
}

// RFC 9112 5.2 lets a server reject obs-fold with 400 (Beast would unfold it), and 5.1
// forbids whitespace between a field name and its colon; with either line ending.
TEST(ConnectRequest, RefusesObsFoldAndWhitespaceBeforeTheColon) {
  for (const std::string& eol : {std::string("\r\n"), std::string("\n")}) {
    const std::string line = "CONNECT a.example.com:443 HTTP/1.1" + eol;
    EXPECT_EQ(status_of(line + "X: a" + eol + " b" + eol + eol), request_status::bad_request)
        << "obs-fold SP";
    EXPECT_EQ(status_of(line + "X: a" + eol + "\tb" + eol + eol), request_status::bad_request)
        << "obs-fold HTAB";
    EXPECT_EQ(status_of(line + " X: a" + eol + eol), request_status::bad_request)
        << "whitespace before the first field";
    EXPECT_EQ(status_of(line + "X : a" + eol + eol), request_status::bad_request)
        << "whitespace before the colon";
  }
}

TEST(ConnectRequest, CountsTheLimitInOctetsAsSent) {
  // 256 octets with LF line ends is within a 256-octet limit, though CRLF would not be.
  const std::string head = "CONNECT a.example.com:443 HTTP/1.1\nX-Pad: ";
  const std::string padded = head + std::string(small_limit - head.size() - 2, 'p') + "\n\n";
  ASSERT_EQ(padded.size(), small_limit);
  EXPECT_EQ(status_of(padded, small_limit), request_status::connect);
  EXPECT_EQ(status_of(padded.substr(0, small_limit - 1) + "p\n\n", small_limit),
            request_status::header_too_large);
}

// A structurally broken header is judged only once it is complete, whatever the split:
// the outcome never depends on how TCP segmented the bytes.
TEST(ConnectRequest, JudgesAMalformedHeaderOnlyOnceItIsComplete) {
  const std::string broken = "GET  / HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(status_of(broken), request_status::need_more);
  EXPECT_EQ(status_of(broken + "\r\n"), request_status::bad_request);
}

TEST(ConnectRequest, RejectsNulBytesAnywhereInTheHeader) {
  const std::string nul(1, '\0');
  for (const std::string& bytes : {
           "CONN" + nul + "ECT a.example.com:443 HTTP/1.1\r\n\r\n",
           connect_line("a.example.com" + nul + ".evil:443") + "\r\n",
           connect_line("a.example.com:443" + nul) + "\r\n",
           connect_line("a.example.com:443") + "X-A" + nul + ": b\r\n\r\n",
           connect_line("a.example.com:443") + "X-A: b" + nul + "c\r\n\r\n",
       }) {
    EXPECT_EQ(status_of(bytes), request_status::bad_request);
  }
}

// The reader skips runs of ordinary octets by table; the octets at a run's edges keep
// every rule (DEL is a CTL; obs-text, 0x80-0xFF, may appear in a field value).
TEST(ConnectRequest, JudgesDelAndObsTextInsideRunsOfOrdinaryOctets) {
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "X-A: b\x7f" + "c\r\n\r\n"),
            request_status::bad_request);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "X-A: \xc3\xa9\xff\x80\r\n\r\n"),
            request_status::connect);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "X-A: " + std::string(300, 'v') +
                      "\rv\r\n\r\n"),
            request_status::bad_request);
}

TEST(ConnectRequest, AnswersOtherMethodsWith405) {
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "PATCH"}) {
    const auto r = parse(std::string(method) +
                         " http://a.example.com/ HTTP/1.1\r\n"
                         "Host: a.example.com\r\n\r\n");
    EXPECT_EQ(r.outcome.status, request_status::not_connect) << method;
    EXPECT_EQ(r.outcome.method, method);
    EXPECT_EQ(http_status_for(r.outcome.status), 405);
  }
}

TEST(ConnectRequest, Answers405OnceTheHeaderIsCompleteEvenIfABodyFollows) {
  auto r = parse("POST /upload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.outcome.status, request_status::not_connect);
  // A body far above any body limit must not change the answer.
  r = parse("POST /upload HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\nxx");
  EXPECT_EQ(r.outcome.status, request_status::not_connect);
  r = parse("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  EXPECT_EQ(r.outcome.status, request_status::not_connect);
}

// RFC 9110 9.1: the method token is case-sensitive. "connect" is therefore an unknown
// method to Beast and to us, answered 405 like any other non-CONNECT method.
TEST(ConnectRequest, TreatsLowerCaseConnectAsAnotherMethod) {
  const auto r = parse("connect a.example.com:443 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.outcome.status, request_status::not_connect);
  EXPECT_EQ(r.outcome.method, "connect");
  EXPECT_EQ(parse("Connect a.example.com:443 HTTP/1.1\r\n\r\n").outcome.status,
            request_status::not_connect);
}

TEST(ConnectRequest, AnswersExtensionMethodsWith405) {
  const auto r = parse("FOO-BAR a.example.com:443 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.outcome.status, request_status::not_connect);
  EXPECT_EQ(r.outcome.method, "FOO-BAR");
}

TEST(ConnectRequest, RejectsConnectThatAnnouncesContent) {
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "Content-Length: 0\r\n\r\n"),
            request_status::connect);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "Content-Length: 5\r\n\r\nhello"),
            request_status::bad_request);
  EXPECT_EQ(status_of(connect_line("a.example.com:443") + "Transfer-Encoding: chunked\r\n\r\n"),
            request_status::bad_request);
}

TEST(ConnectRequest, KeepsAClientHelloSentRightBehindTheHeader) {
  const auto r =
      parse(connect_line("a.example.com:443") + "Host: a.example.com:443\r\n\r\n" + client_hello);
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.leftover, client_hello);
}

TEST(ConnectRequest, KeepsPipelinedBytesAsLeftover) {
  const std::string more = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto r = parse(connect_line("a.example.com:443") + "\r\n" + more);
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.leftover, more);
}

TEST(ConnectRequest, AppendsBytesFedAfterTheDecisionToLeftover) {
  request_reader reader(spec_limit);
  const std::string head = connect_line("a.example.com:443") + "\r\nab";
  EXPECT_EQ(reader.feed(head.data(), head.size()).status, request_status::connect);
  EXPECT_EQ(reader.feed("cd", 2).status, request_status::connect);
  EXPECT_EQ(reader.leftover(), "abcd");
}

TEST(ConnectRequest, RepeatsATerminalOutcome) {
  request_reader reader(spec_limit);
  const std::string get = "GET / HTTP/1.1\r\n\r\n";
  EXPECT_EQ(reader.feed(get.data(), get.size()).status, request_status::not_connect);
  const std::string connect = connect_line("a.example.com:443") + "\r\n";
  EXPECT_EQ(reader.feed(connect.data(), connect.size()).status, request_status::not_connect);
  EXPECT_TRUE(reader.leftover().empty());
}

TEST(ConnectRequest, NeedsMoreUntilTheHeaderEnds) {
  request_reader reader(spec_limit);
  EXPECT_EQ(reader.feed("", 0).status, request_status::need_more);
  const std::string part = connect_line("a.example.com:443") + "Host: a\r\n";
  EXPECT_EQ(reader.feed(part.data(), part.size()).status, request_status::need_more);
  EXPECT_EQ(reader.feed("\r", 1).status, request_status::need_more);
  EXPECT_EQ(reader.feed("\n", 1).status, request_status::connect);
}

TEST(ConnectRequest, AcceptsAHeaderOfExactlyTheLimit) {
  const auto exact = request_of_size(small_limit);
  ASSERT_EQ(exact.size(), small_limit);
  EXPECT_EQ(status_of(exact, small_limit), request_status::connect);
  EXPECT_EQ(status_of(exact + client_hello, small_limit), request_status::connect);
  EXPECT_EQ(parse(exact + client_hello, small_limit).leftover, client_hello);
}

TEST(ConnectRequest, RejectsAHeaderOneByteOverTheLimit) {
  EXPECT_EQ(status_of(request_of_size(small_limit + 1), small_limit),
            request_status::header_too_large);
  EXPECT_EQ(http_status_for(request_status::header_too_large), 431);
}

TEST(ConnectRequest, AppliesTheSpecLimitOfSixteenKibToTheWholeHeader) {
  const auto exact = request_of_size(spec_limit);
  EXPECT_EQ(feed_chunks(exact, {}, spec_limit).outcome.status, request_status::connect);
  const auto over = request_of_size(spec_limit + 1);
  EXPECT_EQ(feed_chunks(over, {}, spec_limit).outcome.status, request_status::header_too_large);
  // Many small fields: Beast consumes each complete field, the limit still counts them.
  std::string many = connect_line("a.example.com:443");
  while (many.size() < spec_limit) many += "X-F: v\r\n";
  many += "\r\n";
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < many.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(feed_chunks(many, every_byte, spec_limit).outcome.status,
            request_status::header_too_large);
  EXPECT_EQ(feed_chunks(many, {}, spec_limit).outcome.status, request_status::header_too_large);
}

TEST(ConnectRequest, AcceptsAClientHelloLargerThanTheLimitInTheSameFeed) {
  const std::string tunnel_data(3 * small_limit, '\x17');
  const auto r = feed_chunks(request_of_size(small_limit) + tunnel_data, {}, small_limit);
  EXPECT_EQ(r.outcome.status, request_status::connect);
  EXPECT_EQ(r.leftover, tunnel_data);
}

/// A client that never ends its header gets 431 as soon as the limit is reached, not
/// after buffering whatever it keeps sending.
void expect_431_at_the_limit(const std::string& prefix, char filler) {
  request_reader reader(small_limit);
  std::size_t sent = 0;
  const std::string chunk(7, filler);
  ASSERT_EQ(reader.feed(prefix.data(), prefix.size()).status, request_status::need_more);
  sent += prefix.size();
  while (sent + chunk.size() < small_limit) {
    ASSERT_EQ(reader.feed(chunk.data(), chunk.size()).status, request_status::need_more) << sent;
    sent += chunk.size();
  }
  EXPECT_EQ(reader.feed(chunk.data(), chunk.size()).status, request_status::header_too_large);
  const std::string flood(1 << 20, filler);
  EXPECT_EQ(reader.feed(flood.data(), flood.size()).status, request_status::header_too_large);
  EXPECT_TRUE(reader.leftover().empty());
}

TEST(ConnectRequest, Answers431ToAHeaderLineThatNeverEnds) {
  expect_431_at_the_limit(connect_line("a.example.com:443") + "X-Pad: ", 'a');
}

TEST(ConnectRequest, Answers431ToARequestLineThatNeverEnds) {
  expect_431_at_the_limit("CONNECT a.example.com:", '4');
}

TEST(ConnectRequest, Answers431ToEndlessHeaderFields) {
  request_reader reader(small_limit);
  const std::string line = connect_line("a.example.com:443");
  reader.feed(line.data(), line.size());
  request_status status = request_status::need_more;
  for (int i = 0; i < 1000 && status == request_status::need_more; ++i) {
    status = reader.feed("X: y\r\n", 6).status;
  }
  EXPECT_EQ(status, request_status::header_too_large);
}

TEST(ConnectRequest, Answers431WhenOneFeedCarriesAnOversizedHeader) {
  const std::string big = connect_line("a.example.com:443") +
                          "X-Pad: " + std::string(10 * small_limit, 'p') + "\r\n\r\n";
  EXPECT_EQ(feed_chunks(big, {}, small_limit).outcome.status, request_status::header_too_large);
}

TEST(ConnectRequest, MapsStatusesToHttpCodes) {
  EXPECT_EQ(http_status_for(request_status::need_more), 0);
  EXPECT_EQ(http_status_for(request_status::connect), 0);
  EXPECT_EQ(http_status_for(request_status::bad_request), 400);
  EXPECT_EQ(http_status_for(request_status::header_too_large), 431);
  EXPECT_EQ(http_status_for(request_status::not_connect), 405);
}

TEST(ParseAuthority, SplitsHostAndPort) {
  std::string host;
  std::uint16_t port = 0;
  ASSERT_TRUE(parse_authority("Example.COM:443", host, port));
  EXPECT_EQ(host, "example.com");
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(parse_authority("[::1]:8443", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8443);
  ASSERT_TRUE(parse_authority("a.example.com:00443", host, port));
  EXPECT_EQ(port, 443);
}

TEST(ParseAuthority, LeavesOutputsUntouchedOnFailure) {
  std::string host = "keep";
  std::uint16_t port = 7;
  EXPECT_FALSE(parse_authority("a.example.com:0", host, port));
  EXPECT_FALSE(parse_authority("", host, port));
  EXPECT_FALSE(parse_authority("[::1]:", host, port));
  EXPECT_FALSE(parse_authority("bad_-.com_:443x", host, port));
  EXPECT_EQ(host, "keep");
  EXPECT_EQ(port, 7);
}

}  // namespace
}  // namespace omsgw::net
