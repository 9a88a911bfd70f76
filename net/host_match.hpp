#pragma once
/// \file
/// Pure host-name validation and allow-list matching.

#include <optional>
#include <string>
#include <string_view>

namespace omsgw::net {

/// Normalises a destination host from a CONNECT request or a config entry:
/// lower-cases it, removes one trailing dot, and validates it as a DNS name
/// (total <= 253 chars, labels 1..63 of [a-z0-9-_], no leading/trailing '-') or as an
/// IP literal (IPv6 may come bracketed; it is returned without brackets, canonical).
/// Returns nullopt when invalid.
std::optional<std::string> normalize_host(std::string_view host);

/// Normalises an allow-list pattern: an exact name/IP as normalize_host, or
/// "*.suffix" where suffix is a valid DNS name with at least two labels.
std::optional<std::string> normalize_host_pattern(std::string_view pattern);

/// True when the normalised host matches the normalised pattern: exact equality, or
/// for "*.suffix" any name that ends in ".suffix" with at least one more label
/// ("*.a.com" matches "x.a.com" and "y.x.a.com", not "a.com"). IP literals only
/// match exact entries.
bool host_matches(std::string_view pattern, std::string_view host);

/// True when host is an IPv4 or IPv6 literal.
bool is_ip_literal(std::string_view host);

}  // namespace omsgw::net
