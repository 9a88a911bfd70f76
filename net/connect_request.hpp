#pragma once
/// \file
/// Incremental parsing of the client's proxy request with Boost.Beast's parser.
/// Pure: bytes in, decision out. Bytes after the request header (a client that
/// sends its TLS ClientHello without waiting for the 200) are kept for the tunnel.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace omsgw::net {

enum class request_status {
  need_more,         ///< header incomplete, feed more bytes
  connect,           ///< a valid "CONNECT host:port" request
  bad_request,       ///< 400: malformed request line/headers/target
  header_too_large,  ///< 431: header above the limit
  not_connect,       ///< 405: any method other than CONNECT
};

/// HTTP status the gateway answers for a terminal, non-CONNECT status (0 for the others).
int http_status_for(request_status s);

struct request_outcome {
  request_status status = request_status::need_more;
  std::string method;       ///< as sent, when known
  std::string host;         ///< normalised (see normalize_host), for status==connect
  std::uint16_t port = 0;   ///< for status==connect
  std::string detail;       ///< human-readable reason for an error status
};

/// Reads one request header. Feed it the bytes as they arrive.
class request_reader {
 public:
  /// header_limit: the most bytes of request line + headers accepted (SPEC: 16 KiB).
  explicit request_reader(std::size_t header_limit);
  ~request_reader();
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  /// Appends data and parses. Once a terminal status is returned, further calls
  /// return it again.
  const request_outcome& feed(const char* data, std::size_t size);

  /// Bytes received after the end of the header (valid once status==connect).
  const std::string& leftover() const { return leftover_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string leftover_;
};

/// Splits an authority-form target "host:port" / "[v6]:port" (RFC 9110 9.3.6).
/// Returns false if malformed or port not in 1..65535. Host is normalised.
bool parse_authority(std::string_view target, std::string& host, std::uint16_t& port);

}  // namespace omsgw::net
