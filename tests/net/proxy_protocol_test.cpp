#include "tests/net/split_feed.hpp"
#include "net/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace omsgw::net {
namespace {

using boost::asio::ip::make_address;
using endpoint = boost::asio::ip::tcp::endpoint;

const std::string signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
const std::string http_request = "CONNECT ws1.ods.opinsights.azure.com:443 HTTP/1.1\r\n\r\n";

using result = testing::fed_result<proxy_header_reader>;

result feed_chunks(const std::string& bytes, const std::vector<std::size_t>& cuts,
                   std::size_t limit) {
  return testing::feed_chunks<proxy_header_reader>(bytes, cuts, limit);
}

void expect_same(const result& expected, const result& actual, const std::string& how) {
  EXPECT_EQ(actual.outcome.status, expected.outcome.status) << how;
  EXPECT_EQ(actual.outcome.version, expected.outcome.version) << how;
  EXPECT_EQ(actual.outcome.command, expected.outcome.command) << how;
  EXPECT_EQ(actual.outcome.source, expected.outcome.source) << how;
  EXPECT_EQ(actual.outcome.destination, expected.outcome.destination) << how;
  EXPECT_EQ(actual.outcome.consumed, expected.outcome.consumed) << how;
  EXPECT_EQ(actual.outcome.detail, expected.outcome.detail) << how;
  EXPECT_EQ(actual.leftover, expected.leftover) << how;
}

std::vector<std::size_t> every_byte(const std::string& bytes) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < bytes.size(); ++i) cuts.push_back(i);
  return cuts;
}

/// Parses bytes in one piece, split in two at every byte boundary and byte by byte,
/// and checks every way gives the same outcome. Returns the one-piece result.
result parse(const std::string& bytes, std::size_t limit = proxy_default_header_limit) {
  const result whole = feed_chunks(bytes, {}, limit);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    expect_same(whole, feed_chunks(bytes, {cut}, limit), "split at " + std::to_string(cut));
  }
  expect_same(whole, feed_chunks(bytes, every_byte(bytes), limit), "byte by byte");
  return whole;
}

proxy_status status_of(const std::string& bytes, std::size_t limit = proxy_default_header_limit) {
  return parse(bytes, limit).outcome.status;
}

endpoint ep(const char* address, std::uint16_t port) { return {make_address(address), port}; }

std::string be16(std::size_t value) {
  return {static_cast<char>((value >> 8) & 0xff), static_cast<char>(value & 0xff)};
}

/// A v2 header: signature, ver/cmd, fam/proto, length of body, body.
std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body) {
  return signature + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(body.size()) + body;
}

/// 192.0.2.1:56324 -> 198.51.100.2:443
std::string v4_block() {
  return std::string("\xC0\x00\x02\x01\xC6\x33\x64\x02", 8) + be16(56324) + be16(443);
}

/// [2001:db8::1]:56324 -> [2001:db8::2]:443
std::string v6_block() {
  std::string src(16, '\0');
  src[0] = '\x20';
  src[1] = '\x01';
  src[2] = '\x0d';
  src[3] = '\xb8';
  std::string dst = src;
  src[15] = '\x01';
  dst[15] = '\x02';
  return src + dst + be16(56324) + be16(443);
}

std::string tlv(std::uint8_t type, const std::string& value) {
  return static_cast<char>(type) + be16(value.size()) + value;
}

/// TLVs as AWS NLB / HAProxy send them: authority, unique id, a custom VPC id, NOOP.
std::string some_tlvs() {
  return tlv(0x02, "ws1.ods.opinsights.azure.com") + tlv(0x05, std::string(32, 'u')) +
         tlv(0xEA, std::string("\x01vpce-0123456789abcdef", 22)) + tlv(0x04, "");
}

void expect_tcp4_endpoints(const proxy_outcome& o) {
  EXPECT_EQ(o.command, proxy_command::proxy);
  EXPECT_EQ(o.source, ep("192.0.2.1", 56324));
  EXPECT_EQ(o.destination, ep("198.51.100.2", 443));
}

void expect_tcp6_endpoints(const proxy_outcome& o) {
  EXPECT_EQ(o.command, proxy_command::proxy);
  EXPECT_EQ(o.source, ep("2001:db8::1", 56324));
  EXPECT_EQ(o.destination, ep("2001:db8::2", 443));
}

void expect_local(const proxy_outcome& o) {
  EXPECT_EQ(o.command, proxy_command::local);
  EXPECT_FALSE(o.source);
  EXPECT_FALSE(o.destination);
}

// ---- v1 -------------------------------------------------------------------------

TEST(ProxyProtocol, AcceptsV1Tcp4Header) {
  const std::string header = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 1);
  expect_tcp4_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, header.size());
  EXPECT_TRUE(r.outcome.detail.empty());
  EXPECT_TRUE(r.leftover.empty());
}

TEST(ProxyProtocol, AcceptsV1Tcp6Header) {
  const std::string header = "PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 56324 443\r\n";
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 1);
  expect_tcp6_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, header.size());
}

TEST(ProxyProtocol, AcceptsV1Tcp6WithIpv4MappedAddressesAsInetNtopWritesThem) {
  const auto r = parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n");
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.source, ep("::ffff:192.0.2.1", 1));
  EXPECT_EQ(r.outcome.destination, ep("::1", 2));
}

TEST(ProxyProtocol, AcceptsV1PortsZeroAndMaximum) {
  const auto r = parse("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.source, ep("0.0.0.0", 0));
  EXPECT_EQ(r.outcome.destination, ep("255.255.255.255", 65535));
}

TEST(ProxyProtocol, AcceptsV1UnknownAsLocalWithoutAddresses) {
  const auto r = parse("PROXY UNKNOWN\r\n");
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 1);
  expect_local(r.outcome);
  EXPECT_EQ(r.outcome.consumed, 15u);
}

TEST(ProxyProtocol, AcceptsV1UnknownAndIgnoresWhatFollowsIt) {
  const auto r = parse("PROXY UNKNOWN ffff::1 not-an-address 99999 x\r\n");
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  expect_local(r.outcome);
}

TEST(ProxyProtocol, AcceptsTheLongestV1LineOf107Bytes) {
  const std::string v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string line = "PROXY UNKNOWN " + v6 + " " + v6 + " 65535 65535\r\n";
  ASSERT_EQ(line.size(), proxy_v1_max_line);
  EXPECT_EQ(status_of(line), proxy_status::ok);
  const std::string tcp6 = "PROXY TCP6 " + v6 + " " + v6 + " 65535 65535\r\n";
  EXPECT_EQ(status_of(tcp6), proxy_status::ok);
}

TEST(ProxyProtocol, RejectsV1LineOver107Bytes) {
  const std::string line = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  ASSERT_EQ(line.size(), proxy_v1_max_line + 1);
  EXPECT_EQ(status_of(line), proxy_status::invalid);
  // Refused once 107 bytes without CRLF are in, without waiting for more.
  proxy_header_reader reader;
  EXPECT_EQ(reader.feed(line.data(), proxy_v1_max_line).status, proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV1LineWithoutCrlf) {
  const std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443";
  EXPECT_EQ(status_of(line), proxy_status::need_more);
  EXPECT_EQ(status_of(line + "\n"), proxy_status::invalid);
  EXPECT_EQ(status_of(line + "\r"), proxy_status::need_more);
  EXPECT_EQ(status_of(line + "\rX"), proxy_status::invalid);
  EXPECT_EQ(status_of(line + "\r\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of(line + "\n\r"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY UNKNOWN\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY UNKNOWN a\rb\r\n"), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV1DoubleLeadingAndTrailingSpaces) {
  EXPECT_EQ(status_of("PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324  443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of(" PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY\tTCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV1WrongNumberOfFields) {
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP6\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY\r\n"), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV1UnknownProtocolOrWrongCase) {
  EXPECT_EQ(status_of("PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP44 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY UNKNOWNX\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXYTCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  // Refused at the first byte that cannot start TCP4/TCP6/UNKNOWN.
  proxy_header_reader reader;
  EXPECT_EQ(reader.feed("PROXY X", 7).status, proxy_status::invalid);
}

TEST(ProxyProtocol, QuotesPeerBytesInTheDetailAsPrintableAscii) {
  const auto r = parse(std::string("PROXY U\x1b[2J\0\r\n", 14));
  ASSERT_EQ(r.outcome.status, proxy_status::invalid);
  EXPECT_EQ(r.outcome.detail, "PROXY v1 line: unknown protocol \"U\\x1b\"");
}

TEST(ProxyProtocol, RejectsV1AddressesOfTheOtherFamily) {
  EXPECT_EQ(status_of("PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 ::1 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP6 2001:db8::1 198.51.100.2 56324 443\r\n"), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV1MalformedIpv4Addresses) {
  for (const char* bad :
       {"256.0.0.1", "192.0.2", "192.0.2.1.5", "192.0.2.01", "01.0.2.1", "192..2.1", "192.0.2.1.",
        ".192.0.2", "1234.0.2.1", "0x7f.0.0.1", "192.0.2.-1", "192.0.2.1a"}) {
    const std::string line = std::string("PROXY TCP4 ") + bad + " 198.51.100.2 56324 443\r\n";
    EXPECT_EQ(status_of(line), proxy_status::invalid) << bad;
  }
}

TEST(ProxyProtocol, RejectsV1MalformedIpv6Addresses) {
  for (const char* bad :
       {"2001:db8:::1", "2001:db8::g", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", ":::", "2001:db8::1::2",
        "[2001:db8::1]", "12345::1", ":1", "::ffff:192.0.2.01"}) {
    const std::string line = std::string("PROXY TCP6 ") + bad + " 2001:db8::2 56324 443\r\n";
    EXPECT_EQ(status_of(line), proxy_status::invalid) << bad;
  }
}

TEST(ProxyProtocol, RejectsV1PortsOutOfRangeOrNotPlainDecimal) {
  for (const char* bad : {"65536", "99999", "123456", "+443", "-1", "0443", "00", "44a", "0x1bb"}) {
    const std::string line = std::string("PROXY TCP4 192.0.2.1 198.51.100.2 56324 ") + bad + "\r\n";
    EXPECT_EQ(status_of(line), proxy_status::invalid) << bad;
    const std::string src = std::string("PROXY TCP4 192.0.2.1 198.51.100.2 ") + bad + " 443\r\n";
    EXPECT_EQ(status_of(src), proxy_status::invalid) << bad;
  }
}

TEST(ProxyProtocol, RejectsV1LineWithControlBytes) {
  EXPECT_EQ(status_of(std::string("PROXY TCP4 192.0.2.1\0 198.51.100.2 56324 443\r\n", 46)),
            proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2\t56324 443\r\n"), proxy_status::invalid);
}

// ---- v2 -------------------------------------------------------------------------

TEST(ProxyProtocol, AcceptsV2Tcp4Header) {
  const auto header = v2(0x21, 0x11, v4_block());
  ASSERT_EQ(header.size(), 28u);
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 2);
  expect_tcp4_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, 28u);
  EXPECT_TRUE(r.leftover.empty());
}

TEST(ProxyProtocol, AcceptsV2Tcp4HeaderWithTlvs) {
  const auto header = v2(0x21, 0x11, v4_block() + some_tlvs());
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  expect_tcp4_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, header.size());
}

TEST(ProxyProtocol, AcceptsV2Tcp6Header) {
  const auto header = v2(0x21, 0x21, v6_block());
  ASSERT_EQ(header.size(), 52u);
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 2);
  expect_tcp6_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, 52u);
}

TEST(ProxyProtocol, AcceptsV2Tcp6HeaderWithTlvs) {
  const auto header = v2(0x21, 0x21, v6_block() + some_tlvs());
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  expect_tcp6_endpoints(r.outcome);
  EXPECT_EQ(r.outcome.consumed, header.size());
}

TEST(ProxyProtocol, AcceptsV2LocalWithoutAddresses) {
  const auto header = v2(0x20, 0x00, "");
  ASSERT_EQ(header.size(), 16u);
  const auto r = parse(header);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.version, 2);
  expect_local(r.outcome);
  EXPECT_EQ(r.outcome.consumed, 16u);
}

TEST(ProxyProtocol, AcceptsV2LocalAndIgnoresItsFamilyAndAddressBlock) {
  for (const auto& header :
       {v2(0x20, 0x11, v4_block()), v2(0x20, 0x21, v6_block() + some_tlvs()),
        v2(0x20, 0x31, std::string(216, 'u')), v2(0x20, 0x12, "xy"), v2(0x20, 0xFF, "")}) {
    const auto r = parse(header);
    ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
    expect_local(r.outcome);
    EXPECT_EQ(r.outcome.consumed, header.size());
  }
}

TEST(ProxyProtocol, WaitsForTheWholeV2Header) {
  const auto header = v2(0x21, 0x11, v4_block() + some_tlvs());
  for (std::size_t size : {std::size_t{1}, std::size_t{12}, std::size_t{15}, std::size_t{16},
                           std::size_t{27}, header.size() - 1}) {
    EXPECT_EQ(status_of(header.substr(0, size)), proxy_status::need_more) << size;
  }
}

TEST(ProxyProtocol, RejectsV2WrongSignature) {
  const auto header = v2(0x21, 0x11, v4_block());
  for (std::size_t i = 1; i < signature.size(); ++i) {
    auto bad = header;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_EQ(status_of(bad), proxy_status::invalid) << i;
    // Refused at the first wrong byte.
    proxy_header_reader reader;
    EXPECT_EQ(reader.feed(bad.data(), i + 1).status, proxy_status::invalid) << i;
  }
}

TEST(ProxyProtocol, RejectsV2BadVersion) {
  for (std::uint8_t ver_cmd : {0x01, 0x11, 0x31, 0xF1}) {
    const auto r = parse(v2(ver_cmd, 0x11, v4_block()));
    EXPECT_EQ(r.outcome.status, proxy_status::invalid) << int{ver_cmd};
    EXPECT_NE(r.outcome.detail.find("version"), std::string::npos) << r.outcome.detail;
  }
}

TEST(ProxyProtocol, RejectsV2BadCommand) {
  for (std::uint8_t ver_cmd : {0x22, 0x23, 0x2F}) {
    const auto r = parse(v2(ver_cmd, 0x11, v4_block()));
    EXPECT_EQ(r.outcome.status, proxy_status::invalid) << int{ver_cmd};
    EXPECT_NE(r.outcome.detail.find("command"), std::string::npos) << r.outcome.detail;
  }
}

TEST(ProxyProtocol, RejectsV2Udp) {
  EXPECT_EQ(status_of(v2(0x21, 0x12, v4_block())), proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x22, v6_block())), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV2UnixFamily) {
  EXPECT_EQ(status_of(v2(0x21, 0x31, std::string(216, 'u'))), proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x32, std::string(216, 'u'))), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV2UnspecOrUnknownFamilyUnderProxyCommand) {
  for (std::uint8_t fam : {0x00, 0x01, 0x10, 0x20, 0x13, 0x41, 0xFF}) {
    EXPECT_EQ(status_of(v2(0x21, fam, v6_block())), proxy_status::invalid) << int{fam};
  }
}

TEST(ProxyProtocol, RejectsV2LengthShorterThanTheAddressBlock) {
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_block().substr(0, 11))), proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x11, "")), proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x21, v4_block())), proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x21, v6_block().substr(0, 35))), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV2TlvRunningPastTheHeader) {
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_block() + tlv(0x02, "abc").substr(0, 5))),
            proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x21, v6_block() + some_tlvs() + std::string("\x04\x00", 2))),
            proxy_status::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_block() + "\x04")), proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsV2HeaderAboveTheLimitAsSoonAsItsLengthIsRead) {
  const auto fits = v2(0x21, 0x11, v4_block() + tlv(0x04, std::string(4096 - 28 - 3, 'n')));
  ASSERT_EQ(fits.size(), proxy_default_header_limit);
  EXPECT_EQ(status_of(fits), proxy_status::ok);

  const auto too_big = v2(0x21, 0x11, v4_block() + tlv(0x04, std::string(4096 - 28 - 2, 'n')));
  proxy_header_reader reader;
  EXPECT_EQ(reader.feed(too_big.data(), 16).status, proxy_status::invalid);
  EXPECT_EQ(status_of(too_big), proxy_status::invalid);
}

TEST(ProxyProtocol, HonoursASmallerConfiguredLimit) {
  const auto header = v2(0x21, 0x21, v6_block() + tlv(0x04, "x"));  // 56 bytes
  EXPECT_EQ(status_of(header, 56), proxy_status::ok);
  EXPECT_EQ(status_of(header, 55), proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 44),
            proxy_status::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 45), proxy_status::ok);
}

TEST(ProxyProtocol, AcceptsTheLargestV2HeaderWhenTheLimitAllowsIt) {
  const auto header = v2(0x21, 0x11, v4_block() + tlv(0xE0, std::string(65535 - 12 - 3, 'v')));
  ASSERT_EQ(header.size(), proxy_v2_max_header);
  const auto limit = std::numeric_limits<std::size_t>::max();  // clamped to the v2 maximum
  const auto whole = feed_chunks(header + http_request, {}, limit);
  ASSERT_EQ(whole.outcome.status, proxy_status::ok) << whole.outcome.detail;
  EXPECT_EQ(whole.outcome.consumed, proxy_v2_max_header);
  EXPECT_EQ(whole.leftover, http_request);
  expect_same(whole, feed_chunks(header + http_request, {1, 16, 17, 4000, 65550, 65551}, limit),
              "chunks");
}

// ---- common ---------------------------------------------------------------------

TEST(ProxyProtocol, KeepsTheHttpRequestAfterAV1HeaderAsLeftover) {
  const std::string header = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  const auto r = parse(header + http_request);
  ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
  EXPECT_EQ(r.outcome.consumed, header.size());
  EXPECT_EQ(r.leftover, http_request);
}

TEST(ProxyProtocol, KeepsTheHttpRequestAfterAV2HeaderAsLeftover) {
  for (const auto& header :
       {v2(0x21, 0x11, v4_block() + some_tlvs()), v2(0x21, 0x21, v6_block()), v2(0x20, 0x00, "")}) {
    const auto r = parse(header + http_request);
    ASSERT_EQ(r.outcome.status, proxy_status::ok) << r.outcome.detail;
    EXPECT_EQ(r.outcome.consumed, header.size());
    EXPECT_EQ(r.leftover, http_request);
  }
}

TEST(ProxyProtocol, KeepsAppendingToLeftoverAfterTheHeader) {
  proxy_header_reader reader;
  const std::string first = "PROXY UNKNOWN\r\nCONNECT ";
  EXPECT_EQ(reader.feed(first.data(), first.size()).status, proxy_status::ok);
  EXPECT_EQ(reader.leftover(), "CONNECT ");
  EXPECT_EQ(reader.feed("a.example.com:443", 17).status, proxy_status::ok);
  EXPECT_EQ(reader.leftover(), "CONNECT a.example.com:443");
  EXPECT_EQ(reader.outcome().consumed, 15u);
}

TEST(ProxyProtocol, RejectsAPlainConnectRequestBecauseTheHeaderIsRequired) {
  const auto r = parse("CONNECT ws1.ods.opinsights.azure.com:443 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.outcome.status, proxy_status::invalid);
  EXPECT_EQ(r.outcome.version, 0);
  EXPECT_FALSE(r.outcome.detail.empty());
  EXPECT_TRUE(r.leftover.empty());
  proxy_header_reader reader;
  EXPECT_EQ(reader.feed("C", 1).status, proxy_status::invalid);
}

TEST(ProxyProtocol, RejectsOtherProtocolsAtTheFirstImpossibleByte) {
  EXPECT_EQ(status_of(std::string("\x16\x03\x01\x00\x31\x01", 6)), proxy_status::invalid);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\n\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("PUT / HTTP/1.1\r\n\r\n"), proxy_status::invalid);
  EXPECT_EQ(status_of("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), proxy_status::invalid);
  proxy_header_reader reader;
  EXPECT_EQ(reader.feed("PO", 2).status, proxy_status::invalid);
}

TEST(ProxyProtocol, NeedsMoreOnEmptyInput) {
  proxy_header_reader reader;
  const auto& o = reader.feed(static_cast<const std::uint8_t*>(nullptr), 0);
  EXPECT_EQ(o.status, proxy_status::need_more);
  EXPECT_EQ(o.version, 0);
  EXPECT_EQ(status_of(""), proxy_status::need_more);
}

TEST(ProxyProtocol, DecidesTheVersionFromTheFirstByte) {
  proxy_header_reader v1_reader;
  EXPECT_EQ(v1_reader.feed("P", 1).status, proxy_status::need_more);
  EXPECT_EQ(v1_reader.outcome().version, 1);
  proxy_header_reader v2_reader;
  EXPECT_EQ(v2_reader.feed("\r", 1).status, proxy_status::need_more);
  EXPECT_EQ(v2_reader.outcome().version, 2);
}

TEST(ProxyProtocol, StaysInvalidOnceInvalid) {
  proxy_header_reader reader;
  const auto detail = reader.feed("GET", 3).detail;
  const std::string valid = "PROXY UNKNOWN\r\n";
  const auto& o = reader.feed(valid.data(), valid.size());
  EXPECT_EQ(o.status, proxy_status::invalid);
  EXPECT_EQ(o.detail, detail);
  EXPECT_TRUE(reader.leftover().empty());
}

}  // namespace
}  // namespace omsgw::net
