#include "net/host_match.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "net/address.hpp"

namespace omsgw::net {

namespace {

constexpr std::size_t max_name_length = 253;  // RFC 1035 2.3.4, without the root dot
constexpr std::size_t max_label_length = 63;
constexpr std::string_view wildcard_prefix = "*.";

bool is_label_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// Validates a lower-cased DNS name without a trailing dot (RFC 1035 2.3.1, relaxed by
/// RFC 2181 11 to allow '_'). Returns the number of labels, 0 when invalid.
std::size_t count_valid_labels(std::string_view name) {
  if (name.empty() || name.size() > max_name_length) return 0;
  std::size_t labels = 0;
  std::string_view last;
  for (std::size_t start = 0; start <= name.size();) {
    const auto dot = std::min(name.find('.', start), name.size());
    const auto label = name.substr(start, dot - start);
    if (label.empty() || label.size() > max_label_length) return 0;
    if (!std::all_of(label.begin(), label.end(), is_label_char)) return 0;
    if (label.front() == '-' || label.back() == '-') return 0;
    ++labels;
    last = label;
    start = dot + 1;
  }
  // A numeric top label cannot be a DNS name (RFC 3696 2); the system resolver would
  // read "127.1", "2130706433", "010.0.0.1" or "0x7f.1" as an IPv4 address instead
  // (inet_aton forms), which would sidestep exact IP entries and the allow-list.
  if (all_digits(last)) return 0;
  in_addr ignored{};
  if (inet_aton(std::string(name).c_str(), &ignored) != 0) return 0;
  return labels;
}

std::optional<std::string> normalize_dns_name(std::string_view host) {
  std::string name(host);
  for (char& ch : name) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  if (!name.empty() && name.back() == '.') name.pop_back();  // one root dot, RFC 1034 3.1
  if (count_valid_labels(name) == 0) return std::nullopt;
  return name;
}

}  // namespace

std::optional<std::string> normalize_host(std::string_view host) {
  if (host.empty() || host.size() > max_name_length + 1) return std::nullopt;
  const bool looks_ip = host.front() == '[' || host.find(':') != std::string_view::npos ||
                        std::all_of(host.begin(), host.end(),
                                    [](char ch) { return (ch >= '0' && ch <= '9') || ch == '.'; });
  if (looks_ip) {
    if (const auto addr = parse_ip_literal(host)) return addr->to_string();
    // Falls through for all-numeric names such as "127.1": rejected as DNS names below.
    if (host.front() == '[' || host.find(':') != std::string_view::npos) return std::nullopt;
  }
  return normalize_dns_name(host);
}

std::optional<std::string> normalize_host_pattern(std::string_view pattern) {
  if (pattern.substr(0, wildcard_prefix.size()) != wildcard_prefix) return normalize_host(pattern);
  const auto suffix = normalize_dns_name(pattern.substr(wildcard_prefix.size()));
  // "*.com" would allow a whole top-level domain: require at least two labels.
  if (!suffix || count_valid_labels(*suffix) < 2) return std::nullopt;
  return std::string(wildcard_prefix) + *suffix;
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.substr(0, wildcard_prefix.size()) != wildcard_prefix) return pattern == host;
  const auto suffix = pattern.substr(1);  // ".a.com"
  return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix &&
         !is_ip_literal(host);
}

bool is_ip_literal(std::string_view host) { return parse_ip_literal(host).has_value(); }

}  // namespace omsgw::net
