#include "net/address.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace omsgw::net {

namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

/// Parses a decimal prefix length: digits only, no sign, no leading junk.
std::optional<unsigned> parse_prefix(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  unsigned value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(ch - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

/// Clears every bit after the first `prefix` bits of bytes.
template <std::size_t N>
void clear_host_bits(std::array<unsigned char, N>& bytes, unsigned prefix) {
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (first_bit >= prefix) {
      bytes[i] = 0;
    } else if (prefix - first_bit < 8) {
      bytes[i] &= static_cast<unsigned char>(0xff00u >> (prefix - first_bit));
    }
  }
}

/// True when the first `prefix` bits of a and b are equal.
template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b,
                 unsigned prefix) {
  auto masked_a = a;
  auto masked_b = b;
  clear_host_bits(masked_a, prefix);
  clear_host_bits(masked_b, prefix);
  return masked_a == masked_b;
}

/// The IPv4 address in the last 32 bits of a v6 address.
address_v4 low_v4(const address_v6::bytes_type& b) {
  return address_v4(address_v4::bytes_type{b[12], b[13], b[14], b[15]});
}

/// An IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 2.5.5.2) as plain IPv4.
ip_address unmap(const ip_address& addr) {
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) return low_v4(addr.to_v6().to_bytes());
  return addr;
}

/// A v4-mapped rule (::ffff:a.b.c.d/96+n) as the IPv4 rule a.b.c.d/n.
cidr unmap(const cidr& c) {
  if (c.network.is_v6() && c.prefix >= 96 && c.network.to_v6().is_v4_mapped()) {
    return cidr{low_v4(c.network.to_v6().to_bytes()), c.prefix - 96};
  }
  return c;
}

bool in_v4(std::uint32_t addr, std::uint32_t net, unsigned prefix) {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (addr & mask) == (net & mask);
}

address_class classify_v4(const address_v4& v4) {
  const std::uint32_t a = v4.to_uint();
  // RFC 6890 special-purpose registry: the ranges a forward proxy must not reach.
  if (in_v4(a, 0x00000000, 8)) return address_class::unspecified;  // "this network"
  if (in_v4(a, 0x7f000000, 8)) return address_class::loopback;
  if (in_v4(a, 0x0a000000, 8) || in_v4(a, 0xac100000, 12) || in_v4(a, 0xc0a80000, 16) ||
      in_v4(a, 0x64400000, 10)) {  // RFC 1918 + RFC 6598 shared address space (CGNAT)
    return address_class::private_net;
  }
  if (in_v4(a, 0xa9fe0000, 16)) return address_class::link_local;  // RFC 3927
  if (in_v4(a, 0xe0000000, 4)) return address_class::multicast;
  if (in_v4(a, 0xf0000000, 4)) return address_class::unspecified;  // 240/4 + broadcast
  return address_class::public_unicast;
}

bool in_v6(const address_v6::bytes_type& b, std::initializer_list<unsigned char> net,
           unsigned prefix) {
  address_v6::bytes_type n{};
  std::size_t i = 0;
  for (unsigned char byte : net) n[i++] = byte;
  return same_prefix(b, n, prefix);
}

address_class classify_v6(const address_v6& v6) {
  const auto b = v6.to_bytes();
  if (v6.is_unspecified()) return address_class::unspecified;
  if (v6.is_loopback()) return address_class::loopback;
  // Addresses that carry an IPv4 address a translator or the stack would reach: mapped
  // (RFC 4291 2.5.5.2), compatible (::/96, deprecated, RFC 4291 2.5.5.1) and the NAT64
  // well-known prefix (RFC 6052 2.1). Classified as the IPv4 address they carry.
  if (v6.is_v4_mapped() || in_v6(b, {}, 96) || in_v6(b, {0x00, 0x64, 0xff, 0x9b}, 96)) {
    return classify_v4(low_v4(b));
  }
  // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is routed to the IPv4 address AA.BB.CC.DD.
  if (in_v6(b, {0x20, 0x02}, 16)) {
    const auto carried = classify_v4(address_v4(address_v4::bytes_type{b[2], b[3], b[4], b[5]}));
    if (carried != address_class::public_unicast) return carried;
  }
  // Local-use NAT64 (RFC 8215) embeds operator-chosen IPv4 space: treat as private.
  if (in_v6(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return address_class::private_net;
  if (in_v6(b, {0xfc}, 7)) return address_class::private_net;         // unique local, RFC 4193
  if (in_v6(b, {0xfe, 0xc0}, 10)) return address_class::private_net;  // site-local, RFC 3879
  if (in_v6(b, {0xfe, 0x80}, 10)) return address_class::link_local;
  if (in_v6(b, {0xff}, 8)) return address_class::multicast;
  if (in_v6(b, {0x01, 0x00}, 64)) return address_class::unspecified;  // discard, RFC 6666
  return address_class::public_unicast;
}

}  // namespace

std::optional<cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = parse_ip_literal(text.substr(0, slash));
  if (!addr || text.substr(0, 1) == "[") return std::nullopt;
  const unsigned max = addr->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const auto parsed = parse_prefix(text.substr(slash + 1), max);
    if (!parsed) return std::nullopt;
    prefix = *parsed;
  }
  if (addr->is_v4()) {
    auto bytes = addr->to_v4().to_bytes();
    clear_host_bits(bytes, prefix);
    return cidr{address_v4(bytes), prefix};
  }
  auto bytes = addr->to_v6().to_bytes();
  clear_host_bits(bytes, prefix);
  return cidr{address_v6(bytes), prefix};
}

bool cidr_contains(const cidr& c, const ip_address& addr) {
  const cidr rule = unmap(c);
  const ip_address a = unmap(addr);
  if (rule.network.is_v4() != a.is_v4()) return false;
  if (a.is_v4())
    return same_prefix(rule.network.to_v4().to_bytes(), a.to_v4().to_bytes(), rule.prefix);
  return same_prefix(rule.network.to_v6().to_bytes(), a.to_v6().to_bytes(), rule.prefix);
}

std::optional<ip_address> parse_ip_literal(std::string_view text) {
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    if (text.size() < 2 || text.back() != ']') return std::nullopt;
    text = text.substr(1, text.size() - 2);
    bracketed = true;
  }
  // Only hex digits, ':' and '.': this refuses zone ids ("fe80::1%eth0" would pick an
  // interface) and embedded NULs, which inet_pton would silently stop at.
  const auto literal_char = [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
           ch == ':' || ch == '.';
  };
  if (text.empty() || text.size() > 45 || !std::all_of(text.begin(), text.end(), literal_char)) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  // RFC 3986 3.2.2: brackets enclose IPv6 (or IPvFuture) literals only.
  if (bracketed && !addr.is_v6()) return std::nullopt;
  return addr;
}

address_class classify_address(const ip_address& addr) {
  return addr.is_v4() ? classify_v4(addr.to_v4()) : classify_v6(addr.to_v6());
}

const char* to_string(address_class c) {
  switch (c) {
    case address_class::public_unicast:
      return "public";
    case address_class::loopback:
      return "loopback";
    case address_class::private_net:
      return "private";
    case address_class::link_local:
      return "link_local";
    case address_class::multicast:
      return "multicast";
    case address_class::unspecified:
      return "unspecified";
  }
  return "unknown";
}

std::string display_address(const ip_address& addr) { return unmap(addr).to_string(); }

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
