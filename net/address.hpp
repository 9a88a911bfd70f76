#pragma once
/// \file
/// Pure address helpers: classification of addresses the gateway must not connect to
/// (SSRF guard, the IANA special-purpose registries) and how addresses are shown in
/// logs. Parsing and CIDR matching live in the grammar (net/grammar/ip.hpp). No sockets.

#include <cstdint>
#include <string>
#include <string_view>

#include "net/grammar/ip.hpp"

namespace omsgw::net {

using grammar::cidr;
using grammar::ip_address;
using grammar::parse_cidr;
using grammar::parse_ip_literal;

/// True when addr lies in c (see grammar::cidr::contains: IPv4-mapped addresses match
/// IPv4 rules).
inline bool cidr_contains(const cidr& c, const ip_address& addr) { return c.contains(addr); }

/// Why an address is not a public unicast destination. From the IANA IPv4 and IPv6
/// Special-Purpose Address Registries (RFC 6890 and its updates) plus the cloud
/// platform endpoints; see the table in address.cpp, each line with its RFC.
enum class address_class {
  public_unicast,
  loopback,        ///< 127/8, ::1
  private_net,     ///< RFC 1918, 100.64/10 (CGNAT), fc00::/7, fec0::/10, 64:ff9b:1::/48
  link_local,      ///< 169.254/16, fe80::/10
  multicast,       ///< 224/4, ff00::/8
  unspecified,     ///< 0/8, ::, 240/4, 255.255.255.255, 100::/64: never a TCP destination
  documentation,   ///< 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  benchmarking,    ///< 198.18/15, 2001:2::/48
  special,         ///< other special-purpose blocks (protocol assignments, AS112, AMT, ...)
  cloud_metadata,  ///< 168.63.129.16 (Azure), 169.254.169.254, fd00:ec2::254: never
};

/// Classifies addr; addresses that carry an IPv4 address a translator or the stack
/// would reach (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4) are
/// classified by it.
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
