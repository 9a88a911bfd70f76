#pragma once
/// \file
/// IP literals and CIDR prefixes: parsing (the value or why not) and matching.
/// One grammar for the configuration (clients.allow, upstream.resolve, listen
/// addresses, proxy_protocol_trusted) and the data plane (CONNECT targets).

#include <boost/asio/ip/address.hpp>
#include <string>
#include <string_view>

#include "net/grammar/parsed.hpp"

namespace omsgw::grammar {

using ip_address = boost::asio::ip::address;

/// A network prefix, e.g. 10.0.0.0/8 or 2001:db8::/32; host bits cleared.
struct cidr {
  ip_address network;
  unsigned prefix = 0;

  /// True when addr lies in this prefix. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
  /// is compared as the IPv4 address it carries (and a ::ffff:0:0/96+n rule as the
  /// IPv4 rule /n), so v4 rules hold on dual-stack sockets.
  bool contains(const ip_address& addr) const;
  /// "10.0.0.0/8": canonical text.
  std::string to_string() const;
  bool operator==(const cidr& o) const { return network == o.network && prefix == o.prefix; }
  bool operator!=(const cidr& o) const { return !(*this == o); }
};

/// A bare IPv4 ("192.0.2.1", dotted quad only) or IPv6 ("2001:db8::1") literal. Only
/// hex digits, ':' and '.' are accepted: no zone ids ("fe80::1%eth0" would pick an
/// interface), no embedded NUL (inet_pton would silently stop at it).
parsed<ip_address> parse_ip(std::string_view text);

/// parse_ip, or an IPv6 literal in brackets ("[2001:db8::1]", RFC 3986 3.2.2: brackets
/// enclose IPv6 literals only).
parsed<ip_address> parse_ip_literal(std::string_view text);

/// "A.B.C.D/N", "V6/N" or a bare address (= /32 or /128); the prefix is decimal without
/// leading zeros. Host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8).
parsed<cidr> parse_cidr(std::string_view text);

/// The IPv4 address an IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 2.5.5.2)
/// carries; any other address unchanged.
ip_address unmapped(const ip_address& addr);

}  // namespace omsgw::grammar
