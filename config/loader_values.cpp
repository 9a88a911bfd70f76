/// \file
/// Pure value checks of the configuration loader (see loader_values.hpp).

#include "config/loader_values.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "config/loader_text.hpp"

namespace omsgw::config::detail {
namespace {

bool is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

}  // namespace

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_ip_literal(const std::string& s) { return is_ipv4(s) || is_ipv6(s); }

std::string canonical_ipv6(const std::string& s) {
  in6_addr a{};
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1 || !inet_ntop(AF_INET6, &a, buf, sizeof buf)) {
    return s;
  }
  return buf;
}

std::string dns_name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 253) return "is longer than 253 characters";
  std::string_view last;
  for (std::size_t start = 0; start <= name.size();) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "has an empty label";
    if (label.size() > 63) return "has a label longer than 63 characters";
    for (char ch : label) {
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
        if (ch == '*') return "may use '*' only as the whole first label, as in *.example.com";
        return std::string("contains '") + ch + "', which is not allowed in a host name";
      }
    }
    if (label.front() == '-' || label.back() == '-')
      return "has a label that starts or ends with '-'";
    last = label;
    start = dot + 1;
  }
  // RFC 3696 section 2: a top-level label is never all-numeric, so "10.0.0.256" is a
  // mistyped address, not a name.
  if (all_digits(last)) return "is neither a valid IP address nor a host name";
  // The resolver (inet_aton) reads "1.0x7f" or "1.2.3.0x4" as IPv4 addresses; net/
  // host_match refuses them as names, so accepting them here would make an entry that
  // never matches.
  in_addr numeric{};
  if (inet_aton(std::string(name).c_str(), &numeric) != 0) {
    return "is neither a valid IP address nor a host name";
  }
  return "";
}

bool normalise_host(std::string_view in, bool allow_wildcard, std::string& out, std::string& why) {
  std::string s = lower(in);
  if (s.empty()) {
    why = "must not be empty";
    return false;
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
    if (!is_ipv6(s)) {
      why = "is not a valid IPv6 address";
      return false;
    }
  }
  if (s.find(':') != std::string::npos) {
    if (is_ipv6(s)) {
      out = canonical_ipv6(s);
      return true;
    }
    why = std::count(s.begin(), s.end(), ':') == 1
              ? "must not include a port (ports are set by allowed_ports)"
              : "is not a valid IPv6 address";
    return false;
  }
  if (s.back() == '.') s.pop_back();
  if (is_ipv4(s)) {
    out = s;
    return true;
  }
  if (s.size() >= 2 && s[0] == '*' && s[1] == '.') {
    if (!allow_wildcard) {
      why = "must be an exact host name, not a wildcard";
      return false;
    }
    const std::string suffix = s.substr(2);
    if (const std::string p = dns_name_problem(suffix); !p.empty()) {
      why = "is not a valid wildcard: the suffix " + p;
      return false;
    }
    if (suffix.find('.') == std::string::npos) {
      why = "is not a valid wildcard: it needs two labels after '*.', as in *.example.com";
      return false;
    }
    out = s;
    return true;
  }
  if (s == "*") {
    why = "'*' alone would allow every host; list the domains instead";
    return false;
  }
  if (const std::string p = dns_name_problem(s); !p.empty()) {
    why = p;
    return false;
  }
  out = s;
  return true;
}

std::string cidr_problem(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  const bool v4 = is_ipv4(addr);
  if (!v4 && !is_ipv6(addr)) return "is not an IP address or CIDR such as 10.0.0.0/8 or ::/0";
  if (slash == std::string_view::npos) return "";
  const std::uint32_t max_prefix = v4 ? 32 : 128;
  if (!parse_decimal(text.substr(slash + 1), max_prefix)) {
    return "has an invalid prefix length: expected 0.." + std::to_string(max_prefix) + " for " +
           (v4 ? "IPv4" : "IPv6");
  }
  return "";
}

std::string relay_address_problem(std::string_view text) {
  if (text.empty()) return "";
  const std::string l = lower(text);
  const std::size_t scheme_size = l.rfind("http://", 0) == 0    ? 7
                                  : l.rfind("https://", 0) == 0 ? 8
                                                                : 0;
  if (scheme_size == 0) return "is not of the form http://HOST:PORT or https://HOST:PORT";
  std::string_view rest = text.substr(scheme_size);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    return "must not contain credentials; use relay_proxy.username and password_file";
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) return "must not contain a path";
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return "has an unclosed '[' in the host";
    host = rest.substr(1, close - 1);
    if (!is_ipv6(std::string(host))) return "has an invalid IPv6 host";
    if (close + 1 >= rest.size() || rest[close + 1] != ':') {
      return "needs a port, as in http://[2001:db8::1]:3128";
    }
    port = rest.substr(close + 2);
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return "needs a port, as in http://proxy.example.com:3128";
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "has an IPv6 host not written in brackets, as in http://[2001:db8::1]:3128";
    }
    std::string normalised;
    std::string why;
    if (!normalise_host(host, false, normalised, why)) return "has an invalid host: it " + why;
  }
  const auto p = parse_decimal(port, k_max_port);
  if (!p || *p == 0) return "has an invalid port: expected 1..65535";
  return "";
}

std::optional<std::string> normalise_guid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos ? s[i] != '-' : !is_hex(s[i])) return std::nullopt;
  }
  return lower(s);
}

std::string automation_region_key_form(std::string_view s) {
  std::string key;
  for (char ch : lower(s)) {
    if (ch != ' ' && ch != '-') key += ch;
  }
  return key;
}

std::optional<std::string> automation_region_key(std::string_view s) {
  const std::string key = automation_region_key_form(s);
  for (std::string_view r : k_automation_regions) {
    if (r == key) return key;
  }
  return std::nullopt;
}

}  // namespace omsgw::config::detail
