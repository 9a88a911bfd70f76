/// \file
/// Admin endpoint access (see admin_auth.hpp).

#include "metrics/admin_auth.hpp"

#include <openssl/crypto.h>

#include <boost/asio/ip/address.hpp>

#include "net/grammar/text.hpp"

namespace omsgw::metrics {
namespace {

using grammar::all_digits;
using grammar::iequals;

bool is_ip_literal(std::string_view s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(s), ec);
  return !ec && !s.empty();
}

}  // namespace

bool admin_host_allowed(std::string_view host) {
  if (host.empty()) return true;
  if (is_ip_literal(host)) return true;  // also a bare IPv6 literal
  std::string_view name = host;
  if (name.front() == '[') {  // RFC 3986 IP-literal: "[" IPv6 "]" [":" port]
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && !(rest[0] == ':' && all_digits(rest.substr(1)))) return false;
    return is_ip_literal(name.substr(1, close - 1));
  }
  const auto colon = name.rfind(':');
  if (colon != std::string_view::npos) {
    if (!all_digits(name.substr(colon + 1))) return false;
    name = name.substr(0, colon);
  }
  return iequals(name, "localhost") || (name.find(':') == std::string_view::npos &&
                                        is_ip_literal(name));
}

bool admin_path_is_open(std::string_view path) { return path == "/healthz" || path == "/readyz"; }

void admin_token::set(std::string token) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!token_.empty()) OPENSSL_cleanse(token_.data(), token_.size());
  token_ = std::move(token);
}

bool admin_token::required() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !token_.empty();
}

bool admin_token::admits(std::string_view authorization) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (token_.empty()) return true;
  // RFC 6750 2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive.
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ') {
    return false;
  }
  std::string_view given = authorization.substr(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  return given.size() == token_.size() &&
         CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
}

}  // namespace omsgw::metrics
