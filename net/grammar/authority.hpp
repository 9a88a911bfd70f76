#pragma once
/// \file
/// Authorities ("host:port", "[v6]:port") and relay proxy URLs ("http://host:port",
/// "https://host:port"), parsed with the host grammar of host.hpp.

#include <cstdint>
#include <string>
#include <string_view>

#include "net/grammar/parsed.hpp"

namespace omsgw::grammar {

struct authority {
  std::string host;  ///< normalised (normalize_host): lower-case name or bare IP literal
  std::uint16_t port = 0;
  bool operator==(const authority& o) const { return host == o.host && port == o.port; }
};

/// authority-form = uri-host ":" port (RFC 9110 9.3.6, RFC 9112 3.2.3): the port is
/// mandatory, decimal, 1..65535 (leading zeros allowed, RFC 3986 3.2.3); an IPv6 host
/// is bracketed (RFC 3986 3.2.2).
parsed<authority> parse_authority(std::string_view text);

/// A relay (upstream) proxy address.
struct relay_url {
  bool tls = false;  ///< https:// (TLS to the proxy) rather than http://
  std::string host;  ///< normalised, IPv6 without brackets
  std::uint16_t port = 0;
  bool operator==(const relay_url& o) const {
    return tls == o.tls && host == o.host && port == o.port;
  }
};

/// "http://HOST:PORT" or "https://HOST:PORT", scheme case-insensitive, one optional
/// trailing "/". Refused: userinfo ("user:pw@", credentials belong in their own keys,
/// never in a URL that gets logged), a path, query or fragment, a missing port.
parsed<relay_url> parse_relay_url(std::string_view text);

/// `text` with the userinfo of a URL ("scheme://user:pw@host...") replaced by "***", so
/// that an error about a refused relay address never repeats its password. Text that is
/// not such a URL comes back unchanged.
std::string without_userinfo(std::string_view text);

}  // namespace omsgw::grammar
