#include "net/grammar/ip.hpp"

#include <algorithm>
#include <array>

#include "net/grammar/text.hpp"

namespace omsgw::grammar {
namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

constexpr std::size_t max_literal = 45;  // INET6_ADDRSTRLEN - 1

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

template <std::size_t N>
bool same_prefix(std::array<unsigned char, N> a, std::array<unsigned char, N> b, unsigned prefix) {
  clear_host_bits(a, prefix);
  clear_host_bits(b, prefix);
  return a == b;
}

address_v4 low_v4(const address_v6::bytes_type& b) {
  return address_v4(address_v4::bytes_type{b[12], b[13], b[14], b[15]});
}

/// A v4-mapped rule (::ffff:a.b.c.d/96+n) as the IPv4 rule a.b.c.d/n.
cidr unmapped_rule(const cidr& c) {
  if (c.network.is_v6() && c.prefix >= 96 && c.network.to_v6().is_v4_mapped()) {
    return cidr{low_v4(c.network.to_v6().to_bytes()), c.prefix - 96};
  }
  return c;
}

}  // namespace

ip_address unmapped(const ip_address& addr) {
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) return low_v4(addr.to_v6().to_bytes());
  return addr;
}

bool cidr::contains(const ip_address& addr) const {
  const cidr rule = unmapped_rule(*this);
  const ip_address a = unmapped(addr);
  if (rule.network.is_v4() != a.is_v4()) return false;
  if (a.is_v4()) {
    return same_prefix(rule.network.to_v4().to_bytes(), a.to_v4().to_bytes(), rule.prefix);
  }
  return same_prefix(rule.network.to_v6().to_bytes(), a.to_v6().to_bytes(), rule.prefix);
}

std::string cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

parsed<ip_address> parse_ip(std::string_view text) {
  const auto literal_char = [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
           ch == ':' || ch == '.';
  };
  if (text.empty() || text.size() > max_literal ||
      !std::all_of(text.begin(), text.end(), literal_char)) {
    return parsed<ip_address>::failure(message(N_("is not an IP address")));
  }
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return parsed<ip_address>::failure(message(N_("is not an IP address")));
  return addr;
}

parsed<ip_address> parse_ip_literal(std::string_view text) {
  if (text.empty() || text.front() != '[') return parse_ip(text);
  if (text.size() < 2 || text.back() != ']') {
    return parsed<ip_address>::failure(message(N_("has an unclosed '['")));
  }
  auto addr = parse_ip(text.substr(1, text.size() - 2));
  if (!addr || !addr->is_v6())
    return parsed<ip_address>::failure(message(N_("is not a valid IPv6 address")));
  return addr;
}

parsed<cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = parse_ip(text.substr(0, slash));
  if (!addr) {
    return parsed<cidr>::failure(
        message(N_("is not an IP address or CIDR such as 10.0.0.0/8 or ::/0")));
  }
  const unsigned max = addr->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const auto p = parse_decimal(text.substr(slash + 1), max);
    if (!p) {
      return parsed<cidr>::failure(
          message(N_("has an invalid prefix length: expected 0..%1% for %2%"), max,
                  addr->is_v4() ? "IPv4" : "IPv6"));
    }
    prefix = *p;
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

}  // namespace omsgw::grammar
