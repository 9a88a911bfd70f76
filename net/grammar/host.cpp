#include "net/grammar/host.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "net/grammar/ip.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::grammar {
namespace {

constexpr std::size_t max_name_length = 253;  // RFC 1035 2.3.4, without the root dot
constexpr std::size_t max_label_length = 63;
constexpr std::string_view wildcard_prefix = "*.";

bool is_label_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/// Why a lower-cased name without root dot is not a DNS name ("" when it is one), and
/// its label count.
message dns_name_problem(std::string_view name, std::size_t& labels) {
  labels = 0;
  if (name.empty()) return message(N_("is empty"));
  if (name.size() > max_name_length) return message(N_("is longer than 253 characters"));
  std::string_view last;
  for (std::size_t start = 0; start <= name.size();) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return message(N_("has an empty label"));
    if (label.size() > max_label_length) {
      return message(N_("has a label longer than 63 characters"));
    }
    for (char ch : label) {
      if (is_label_char(ch)) continue;
      if (ch == '*') {
        return message(N_("may use '*' only as the whole first label, as in *.example.com"));
      }
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) {
        return message(
            N_("contains a control or non-ASCII octet, which is not allowed in a host name"));
      }
      return message(N_("contains '%1%', which is not allowed in a host name"), std::string(1, ch));
    }
    if (label.front() == '-' || label.back() == '-') {
      return message(N_("has a label that starts or ends with '-'"));
    }
    ++labels;
    last = label;
    start = dot + 1;
  }
  // RFC 3696 2: a top-level label is never all-numeric, so "10.0.0.256" is a mistyped
  // address, not a name. The resolver (inet_aton) would also read "127.1", "2130706433"
  // or "0x7f.1" as IPv4 addresses, sidestepping exact IP entries and the allow-list.
  in_addr numeric{};
  if (all_digits(last) || inet_aton(std::string(name).c_str(), &numeric) != 0) {
    return message(N_("is neither a valid IP address nor a host name"));
  }
  return {};
}

}  // namespace

parsed<std::string> normalize_host(std::string_view host) {
  std::string s = lower(host);
  if (s.empty()) return parsed<std::string>::failure(message(N_("must not be empty")));
  if (s.size() > max_name_length + 1) {
    return parsed<std::string>::failure(message(N_("is longer than 253 characters")));
  }
  if (s.front() == '[') {
    const auto addr = parse_ip_literal(s);
    if (!addr) return parsed<std::string>::failure(addr.reason());
    return addr->to_string();
  }
  if (s.find(':') != std::string::npos) {
    if (const auto addr = parse_ip(s); addr && addr->is_v6()) return addr->to_string();
    return parsed<std::string>::failure(
        std::count(s.begin(), s.end(), ':') == 1
            ? message(N_("must not include a port (ports are set by allowed_ports)"))
            : message(N_("is not a valid IPv6 address")));
  }
  if (const auto addr = parse_ip(s); addr && addr->is_v4()) return addr->to_string();
  // One root dot on a name (RFC 1034 3.1); "192.0.2.1." is no IPv4 literal and, being
  // all-numeric at the top, no name either.
  if (s.back() == '.') s.pop_back();
  if (s == "*") {
    return parsed<std::string>::failure(
        message(N_("'*' alone would allow every host; list the domains instead")));
  }
  std::size_t labels = 0;
  if (auto why = dns_name_problem(s, labels); !why.empty()) {
    return parsed<std::string>::failure(std::move(why));
  }
  return s;
}

parsed<std::string> normalize_host_pattern(std::string_view pattern) {
  if (!is_wildcard(pattern)) return normalize_host(pattern);
  std::string suffix = lower(pattern.substr(wildcard_prefix.size()));
  if (!suffix.empty() && suffix.back() == '.') suffix.pop_back();
  std::size_t labels = 0;
  if (auto why = dns_name_problem(suffix, labels); !why.empty()) {
    return parsed<std::string>::failure(
        message(N_("is not a valid wildcard: the suffix %1%"), why));
  }
  if (labels < 2) {
    return parsed<std::string>::failure(message(
        N_("is not a valid wildcard: it needs two labels after '*.', as in *.example.com")));
  }
  return std::string(wildcard_prefix) + suffix;
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (!is_wildcard(pattern)) return pattern == host;
  const auto suffix = pattern.substr(1);  // ".a.com"
  return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix &&
         !is_ip_literal(host);
}

bool is_ip_literal(std::string_view host) { return parse_ip_literal(host).has_value(); }

bool is_wildcard(std::string_view pattern) {
  return pattern.substr(0, wildcard_prefix.size()) == wildcard_prefix;
}

}  // namespace omsgw::grammar
