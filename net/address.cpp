#include "net/address.hpp"

#include <array>
#include <charconv>
#include <cstdint>

namespace omsgw::net {

namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;
using ac = address_class;

struct v4_range {
  std::uint32_t net;
  unsigned prefix;
  address_class cls;
};

// IANA IPv4 Special-Purpose Address Registry (RFC 6890, updated by RFC 7335, 7600,
// 7723, 8155, 8880 ...), plus multicast and the cloud platform endpoints. First match
// wins: the single addresses come before the blocks that contain them.
constexpr v4_range k_v4[] = {
    {0xa83f8110, 32, ac::cloud_metadata},  // 168.63.129.16 Azure WireServer/platform DNS
    {0xa9fea9fe, 32, ac::cloud_metadata},  // 169.254.169.254 instance metadata (all clouds)
    {0x00000000, 8, ac::unspecified},      // 0.0.0.0/8 "this network", RFC 791 3.2
    {0x0a000000, 8, ac::private_net},      // 10.0.0.0/8 private-use, RFC 1918
    {0x64400000, 10, ac::private_net},     // 100.64.0.0/10 shared address space, RFC 6598
    {0x7f000000, 8, ac::loopback},         // 127.0.0.0/8 loopback, RFC 1122 3.2.1.3
    {0xa9fe0000, 16, ac::link_local},      // 169.254.0.0/16 link local, RFC 3927
    {0xac100000, 12, ac::private_net},     // 172.16.0.0/12 private-use, RFC 1918
    {0xc0000000, 24, ac::special},         // 192.0.0.0/24 IETF protocol assignments,
                                           //   RFC 6890 (DS-Lite RFC 7335, dummy RFC 7600,
                                           //   PCP/TURN anycast RFC 7723/8155, RFC 8880)
    {0xc0000200, 24, ac::documentation},   // 192.0.2.0/24 TEST-NET-1, RFC 5737
    {0xc01fc400, 24, ac::special},         // 192.31.196.0/24 AS112-v4, RFC 7535
    {0xc034c100, 24, ac::special},         // 192.52.193.0/24 AMT, RFC 7450
    {0xc0586300, 24, ac::special},         // 192.88.99.0/24 6to4 relay anycast, RFC 7526
    {0xc0a80000, 16, ac::private_net},     // 192.168.0.0/16 private-use, RFC 1918
    {0xc0af3000, 24, ac::special},         // 192.175.48.0/24 AS112 direct delegation, RFC 7534
    {0xc6120000, 15, ac::benchmarking},    // 198.18.0.0/15 benchmarking, RFC 2544
    {0xc6336400, 24, ac::documentation},   // 198.51.100.0/24 TEST-NET-2, RFC 5737
    {0xcb007100, 24, ac::documentation},   // 203.0.113.0/24 TEST-NET-3, RFC 5737
    {0xe0000000, 4, ac::multicast},        // 224.0.0.0/4 multicast, RFC 5771
    {0xffffffff, 32, ac::unspecified},     // 255.255.255.255 limited broadcast, RFC 919
    {0xf0000000, 4, ac::unspecified},      // 240.0.0.0/4 reserved, RFC 1112 4
};

struct v6_range {
  std::array<unsigned char, 16> net;
  unsigned prefix;
  address_class cls;
};

// IANA IPv6 Special-Purpose Address Registry (RFC 6890 and updates), multicast,
// deprecated site-local, and AWS's IPv6 metadata endpoint. The blocks that carry an
// IPv4 address (::/96, ::ffff:0:0/96, ::ffff:0:0:0/96, 64:ff9b::/96, 2002::/16) are
// handled before this table; 64:ff9b:1::/48 after its embedded IPv4 is checked.
// clang-format off
constexpr v6_range k_v6[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128,
     ac::cloud_metadata},                                   // fd00:ec2::254 AWS metadata
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, ac::private_net},  // local-use NAT64, RFC 8215
    {{0x00}, 8, ac::special},  // ::/8 reserved by the IETF (RFC 4291 2.4), what is left of it
    {{0x01, 0x00}, 64, ac::unspecified},                    // 100::/64 discard-only, RFC 6666
    {{0x01, 0x00, 0, 0, 0, 0, 0, 0x01}, 64, ac::special},   // 100:0:0:1::/64 dummy, RFC 9780
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, ac::benchmarking},  // 2001:2::/48, RFC 5180
    {{0x20, 0x01}, 23, ac::special},  // 2001::/23 IETF protocol assignments, RFC 2928
                                      //   (Teredo 2001::/32 RFC 4380, AMT 2001:3::/32
                                      //   RFC 7450, AS112 2001:4:112::/48 RFC 7535,
                                      //   ORCHIDv2 2001:20::/28 RFC 7343, anycast ...)
    {{0x20, 0x01, 0x0d, 0xb8}, 32, ac::documentation},      // 2001:db8::/32, RFC 3849
    {{0x26, 0x20, 0x00, 0x4f, 0x80, 0x00}, 48, ac::special},  // 2620:4f:8000::/48 AS112
                                                              //   direct delegation, RFC 7534
    {{0x3f, 0xff}, 20, ac::documentation},                  // 3fff::/20, RFC 9637
    {{0x5f, 0x00}, 16, ac::special},                        // 5f00::/16 SRv6 SIDs, RFC 9602
    {{0xfc}, 7, ac::private_net},                           // fc00::/7 unique local, RFC 4193
    {{0xfe, 0x80}, 10, ac::link_local},                     // fe80::/10 link-local, RFC 4291
    {{0xfe, 0xc0}, 10, ac::private_net},                    // fec0::/10 site-local, RFC 3879
    {{0xff}, 8, ac::multicast},                             // ff00::/8 multicast, RFC 4291
};
// clang-format on

bool in_v4(std::uint32_t addr, std::uint32_t net, unsigned prefix) {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (addr & mask) == (net & mask);
}

bool in_v6(const address_v6::bytes_type& b, const std::array<unsigned char, 16>& net,
           unsigned prefix) {
  for (unsigned bit = 0; bit < prefix; bit += 8) {
    const unsigned bits = prefix - bit < 8 ? prefix - bit : 8;
    const auto mask = static_cast<unsigned char>(0xff00u >> bits);
    if ((b[bit / 8] & mask) != (net[bit / 8] & mask)) return false;
  }
  return true;
}

address_class classify_v4(const address_v4& v4) {
  const std::uint32_t a = v4.to_uint();
  for (const auto& r : k_v4) {
    if (in_v4(a, r.net, r.prefix)) return r.cls;
  }
  return ac::public_unicast;
}

address_v4 v4_at(const address_v6::bytes_type& b, std::size_t i, std::size_t j) {
  return address_v4(address_v4::bytes_type{b[i], b[i + 1], b[j], b[j + 1]});
}

/// The class of the IPv4 address a translation block carries, if addr is in one.
bool classify_embedded(const address_v6::bytes_type& b, address_class& out) {
  static constexpr std::array<unsigned char, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr std::array<unsigned char, 16> compat{};
  static constexpr std::array<unsigned char, 16> translated{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr std::array<unsigned char, 16> nat64{0x00, 0x64, 0xff, 0x9b};
  static constexpr std::array<unsigned char, 16> six_to_four{0x20, 0x02};
  // ::ffff:0:0/96 IPv4-mapped (RFC 4291 2.5.5.2), ::/96 IPv4-compatible (deprecated,
  // RFC 4291 2.5.5.1), ::ffff:0:0:0/96 IPv4-translated (SIIT, RFC 2765 2.1),
  // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052 2.1): the address is in the last
  // 32 bits.
  if (in_v6(b, mapped, 96) || in_v6(b, compat, 96) || in_v6(b, translated, 96) ||
      in_v6(b, nat64, 96)) {
    out = classify_v4(v4_at(b, 12, 14));
    return true;
  }
  // 2002::/16 6to4 (RFC 3056 2): 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
  if (in_v6(b, six_to_four, 16)) {
    out = classify_v4(v4_at(b, 2, 4));
    return true;
  }
  return false;
}

address_class classify_v6(const address_v6& v6) {
  const auto b = v6.to_bytes();
  if (v6.is_unspecified()) return ac::unspecified;  // ::/128, RFC 4291 2.5.2
  if (v6.is_loopback()) return ac::loopback;        // ::1/128, RFC 4291 2.5.3
  address_class carried = ac::public_unicast;
  if (classify_embedded(b, carried)) return carried;
  // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) embeds operator-chosen IPv4 space, at
  // /96 (last 32 bits) or /48 (RFC 6052 2.2: bits 48-63 and 72-87): a metadata
  // endpoint in either place is never reachable; the block itself is private.
  if (in_v6(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48) &&
      (classify_v4(v4_at(b, 12, 14)) == ac::cloud_metadata ||
       classify_v4(v4_at(b, 6, 9)) == ac::cloud_metadata)) {
    return ac::cloud_metadata;
  }
  for (const auto& r : k_v6) {
    if (in_v6(b, r.net, r.prefix)) return r.cls;
  }
  return ac::public_unicast;
}

}  // namespace

address_class classify_address(const ip_address& addr) {
  return addr.is_v4() ? classify_v4(addr.to_v4()) : classify_v6(addr.to_v6());
}

// clang-format off
const char* to_string(address_class c) {
  switch (c) {
    case ac::public_unicast: return "public";
    case ac::loopback: return "loopback";
    case ac::private_net: return "private";
    case ac::link_local: return "link_local";
    case ac::multicast: return "multicast";
    case ac::unspecified: return "unspecified";
    case ac::documentation: return "documentation";
    case ac::benchmarking: return "benchmarking";
    case ac::special: return "special-purpose";
    case ac::cloud_metadata: return "a cloud metadata endpoint";
  }
  return "unknown";
}
// clang-format on

std::string display_address(const ip_address& addr) {
  const ip_address a = grammar::unmapped(addr);
  if (!a.is_v4()) return a.to_string();
  // Dotted decimal with to_chars: Asio's to_string goes through inet_ntop, whose
  // sprintf costs ~1,800 instructions (callgrind), and this runs for every connection.
  const auto octets = a.to_v4().to_bytes();
  char text[16];
  char* end = text;
  for (std::size_t i = 0; i < octets.size(); ++i) {
    if (i) *end++ = '.';
    end = std::to_chars(end, text + sizeof text, octets[i]).ptr;
  }
  return std::string(text, end);
}

std::string authority_text(std::string_view host, std::uint16_t port) {
  std::string out;
  out.reserve(host.size() + 8);
  const bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string display_endpoint(const ip_address& addr, std::uint16_t port) {
  return authority_text(display_address(addr), port);
}

}  // namespace omsgw::net
