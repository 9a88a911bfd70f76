#pragma once
/// \file
/// Pure address helpers: CIDR parsing/matching and classification of addresses the
/// gateway must not connect to (SSRF guard). No sockets.

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace omsgw::net {

using ip_address = boost::asio::ip::address;

/// A network prefix, e.g. 10.0.0.0/8 or 2001:db8::/32.
struct cidr {
  ip_address network;  ///< host bits cleared
  unsigned prefix = 0;
};

/// Parses "A.B.C.D/N", "V6/N" or a bare address (= /32 or /128).
/// Returns nullopt for garbage, a prefix too long for the family, or trailing junk.
std::optional<cidr> parse_cidr(std::string_view text);

/// True when addr lies in c. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
/// compared as the IPv4 address it carries, so v4 rules hold on dual-stack sockets.
bool cidr_contains(const cidr& c, const ip_address& addr);

/// Parses an IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]").
std::optional<ip_address> parse_ip_literal(std::string_view text);

/// Why an address is not a public unicast destination.
enum class address_class {
  public_unicast,
  loopback,     ///< 127/8, ::1
  private_net,  ///< 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7
  link_local,   ///< 169.254/16, fe80::/10
  multicast,    ///< 224/4, ff00::/8
  unspecified,  ///< 0.0.0.0/8, ::, 255.255.255.255 and other reserved v4 ranges (240/4)
};

/// Classifies addr; IPv4-mapped and IPv4-compatible IPv6 addresses are classified as
/// the IPv4 address they carry.
address_class classify_address(const ip_address& addr);

/// Short lower-case name for logs: "loopback", "private", ...
const char* to_string(address_class c);

/// The address as the gateway logs it: IPv4-mapped IPv6 shown as plain IPv4.
std::string display_address(const ip_address& addr);

/// "host:port" in authority form (RFC 3986 3.2.2): an IPv6 literal goes in brackets.
std::string authority_text(std::string_view host, std::uint16_t port);

/// authority_text(display_address(addr), port): how log lines show an endpoint.
std::string display_endpoint(const ip_address& addr, std::uint16_t port);

}  // namespace omsgw::net
