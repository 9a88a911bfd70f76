#pragma once
/// \file
/// Incremental parsing of the HAProxy PROXY protocol header a load balancer puts in
/// front of the client's bytes (listen.proxy_protocol), versions 1 (text) and 2
/// (binary): https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt.
/// Pure: bytes in, decision out, no sockets. The header is mandatory on such a
/// listener (spec 1: the receiver "MUST not try to guess whether the protocol header
/// is present"), so anything else, including a plain HTTP request, is invalid.
/// Bytes after the header belong to the HTTP request and are kept in leftover().

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace omsgw::net {

enum class proxy_status {
  need_more,  ///< header incomplete, feed more bytes
  ok,         ///< a complete, valid header; see proxy_outcome
  invalid,    ///< not a valid PROXY header: drop the connection (spec 2.1, 2.2)
};

enum class proxy_command {
  local,  ///< use the real connection endpoints: v2 LOCAL, or v1 "UNKNOWN"
  proxy,  ///< source/destination carry the original connection's endpoints
};

/// Longest v1 line the spec allows, CRLF included (spec 2.1, "worst case").
inline constexpr std::size_t proxy_v1_max_line = 107;
/// Largest v2 header: 16 fixed bytes plus a 16-bit address/TLV length (spec 2.2).
inline constexpr std::size_t proxy_v2_max_header = 16 + 65535;
/// Default cap on the header size; fits every v1 line and v2 headers with modest TLVs.
inline constexpr std::size_t proxy_default_header_limit = 4096;

struct proxy_outcome {
  proxy_status status = proxy_status::need_more;
  /// 1 or 2, set as soon as the first byte decides it ('P' or CR); 0 before.
  int version = 0;
  proxy_command command = proxy_command::local;  ///< meaningful for status==ok
  /// The original client (source) and the address it connected to (destination), for
  /// command==proxy. Absent for v2 LOCAL and v1 UNKNOWN.
  std::optional<boost::asio::ip::tcp::endpoint> source;
  std::optional<boost::asio::ip::tcp::endpoint> destination;
  std::size_t consumed = 0;  ///< header length in bytes, for status==ok
  std::string detail;        ///< human-readable reason, for status==invalid
};

/// Reads one PROXY header (v1 or v2, chosen by its first byte). Feed it the bytes as
/// they arrive; the outcome depends only on the bytes, never on how they were split.
/// It refuses as soon as a byte makes a valid header impossible, and never buffers
/// more than the header limit.
///
/// Accepted:
///  - v1 "PROXY TCP4|TCP6 src dst sport dport\r\n", strictly (spec 2.1): single
///    spaces, addresses of the declared family (IPv4 dotted quad without leading
///    zeros; IPv6 as inet_pton reads it, no zone id), ports 0..65535 in decimal
///    without sign or leading zeros, at most 107 bytes including the CRLF.
///  - v1 "PROXY UNKNOWN[ anything]\r\n" as command local with no addresses: the spec
///    says the receiver SHOULD accept it and use the real connection's endpoints, and
///    must ignore what follows "UNKNOWN" up to the CRLF.
///  - v2 PROXY with TCP over IPv4 (0x11) or IPv6 (0x21). UNSPEC, UNIX and DGRAM are
///    refused: the gateway only relays TCP and its ACLs need a real source address.
///    TLVs after the address block are skipped, but must be well-framed (each TLV's
///    length within the declared header length), as HAProxy requires.
///  - v2 LOCAL with any family byte and any length (spec 2.2: "discard the protocol
///    block including the family"); its address block and TLVs are not parsed.
class proxy_header_reader {
 public:
  /// header_limit: the most header bytes accepted, v1 or v2; clamped to
  /// proxy_v2_max_header. A v2 header whose declared length exceeds it is invalid as
  /// soon as the length is read. v1 lines are further limited to proxy_v1_max_line.
  explicit proxy_header_reader(std::size_t header_limit = proxy_default_header_limit);

  /// Appends data and parses. Once a terminal status is returned, further calls
  /// return it again (after ok, their bytes are appended to leftover()).
  const proxy_outcome& feed(const std::uint8_t* data, std::size_t size);
  const proxy_outcome& feed(const char* data, std::size_t size) {
    return feed(reinterpret_cast<const std::uint8_t*>(data), size);
  }

  const proxy_outcome& outcome() const { return outcome_; }

  /// Bytes received after the end of the header (valid once status==ok).
  const std::string& leftover() const { return leftover_; }

 private:
  enum class v1_proto { undecided, tcp4, tcp6, unknown };

  /// Takes bytes of the header from data; returns how many were taken. Stops at the
  /// end of the header or at the first byte that decides the outcome.
  std::size_t take(const std::uint8_t* data, std::size_t size);
  bool step_v1(std::uint8_t byte);
  bool step_v1_protocol(std::uint8_t byte, std::size_t pos);
  bool step_v1_field(std::uint8_t byte, std::size_t pos);
  bool step_v2_fixed(std::uint8_t byte);
  void finish_v1();
  void finish_v2();
  void fail(std::string detail);

  std::size_t limit_;
  std::string header_;        ///< header bytes received so far, never above the limit
  std::size_t v2_total_ = 0;  ///< v2 header length once bytes 15-16 are read
  v1_proto v1_proto_ = v1_proto::undecided;
  std::size_t v1_spaces_ = 0;  ///< spaces seen in a TCP4/TCP6 line
  proxy_outcome outcome_;
  std::string leftover_;
};

}  // namespace omsgw::net
