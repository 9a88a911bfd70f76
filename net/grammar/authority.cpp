#include "net/grammar/authority.hpp"

#include "net/grammar/host.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::grammar {
namespace {

constexpr std::uint32_t max_port = 65535;

/// Decimal port 1..65535; leading zeros allowed (RFC 3986 3.2.3: port = *DIGIT).
bool parse_port(std::string_view text, std::uint16_t& port) {
  if (!all_digits(text)) return false;
  std::uint32_t value = 0;
  for (char ch : text) {
    value = value * 10 + static_cast<std::uint32_t>(ch - '0');
    if (value > max_port) return false;
  }
  if (value == 0) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

parsed<authority> parse_authority(std::string_view text) {
  using result = parsed<authority>;
  std::size_t colon = 0;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return result::failure(message(N_("has an unclosed '[' in the host")));
    colon = close + 1;
    if (colon >= text.size() || text[colon] != ':') {
      return result::failure(message(N_("needs a port, as in [2001:db8::1]:3128")));
    }
  } else {
    colon = text.find(':');
    if (colon == std::string_view::npos) {
      return result::failure(message(N_("needs a port, as in proxy.example.com:3128")));
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return result::failure(
          message(N_("has an IPv6 host not written in brackets, as in [2001:db8::1]:3128")));
    }
  }
  authority a;
  if (!parse_port(text.substr(colon + 1), a.port)) {
    return result::failure(message(N_("has an invalid port: expected 1..65535")));
  }
  auto host = normalize_host(text.substr(0, colon));
  if (!host) return result::failure(message(N_("has an invalid host: it %1%"), host.reason()));
  a.host = std::move(*host);
  return a;
}

parsed<relay_url> parse_relay_url(std::string_view text) {
  using result = parsed<relay_url>;
  relay_url url;
  const std::string head = lower(text.substr(0, 8));
  std::string_view rest;
  if (head.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (head.rfind("https://", 0) == 0) {
    rest = text.substr(8);
    url.tls = true;
  } else {
    return result::failure(message(N_("is not of the form http://HOST:PORT or https://HOST:PORT")));
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    return result::failure(
        message(N_("must not contain credentials; use relay_proxy.username and password_file")));
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return result::failure(message(N_("must not contain a path")));
  }
  auto a = parse_authority(rest);
  if (!a) return result::failure(a.reason());
  url.host = std::move(a->host);
  url.port = a->port;
  return url;
}

std::string without_userinfo(std::string_view text) {
  const auto scheme = text.find("://");
  if (scheme == std::string_view::npos) {
    // No scheme (`svc:Pw@proxy:3128`, `http:/svc:Pw@...`, as curl -x takes them): what
    // precedes the last '@' is a userinfo when it holds the ':' before a password. A
    // bare `user@REALM` (a Kerberos principal) or an address has none and is kept.
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || text.substr(0, at).find(':') == std::string_view::npos) {
      return std::string(text);
    }
    return "***" + std::string(text.substr(at));
  }
  const auto start = scheme + 3;
  const auto end = text.find_first_of("/?#", start);
  const auto at = text.substr(start, end == std::string_view::npos ? end : end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  return std::string(text.substr(0, start)) + "***" + std::string(text.substr(start + at));
}

}  // namespace omsgw::grammar
