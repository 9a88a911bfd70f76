#pragma once
/// \file
/// Who may use the admin endpoint (SPEC.md "Admin endpoint"):
/// - the Host check: a request whose Host is present and is neither an IP literal nor
///   "localhost" (with or without a port) is refused with 421, so a browser on the host
///   that a hostile page DNS-rebinds onto 127.0.0.1 cannot reach POST /reload or /status;
/// - the bearer token (admin.token_file): when one is set, every path but /healthz and
///   /readyz needs "Authorization: Bearer <token>" (RFC 6750 section 2.1), else 401 with
///   "WWW-Authenticate: Bearer". The token is replaced at reload (any thread).

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace omsgw::metrics {

/// True when a Host header value may reach the admin endpoint: empty (absent), an IP
/// literal ("127.0.0.1", "[::1]", "::1", with or without ":port") or "localhost" (any
/// case, with or without ":port").
bool admin_host_allowed(std::string_view host);

/// True for the paths that answer without a token (load balancers probe them).
bool admin_path_is_open(std::string_view path);

/// The token in force; empty = no authentication. Thread-safe.
class admin_token {
 public:
  /// Replaces the token (the old copy is wiped). "" switches authentication off.
  void set(std::string token);
  /// True when no token is set, or `authorization` is "Bearer <the token>" (scheme in
  /// any case); compared in constant time.
  bool admits(std::string_view authorization) const;
  bool required() const;

 private:
  mutable std::mutex mutex_;
  std::string token_;
};

}  // namespace omsgw::metrics
