#pragma once
/// \file
/// Host names and allow-list patterns: one grammar for allowed_hosts, upstream.resolve,
/// relay_proxy hosts and CONNECT targets, so what the configuration accepts is exactly
/// what the data plane matches.

#include <string>
#include <string_view>

#include "net/grammar/parsed.hpp"

namespace omsgw::grammar {

/// Normalises a host (a CONNECT target's host, a configured name): lower-cases it and
/// returns either a DNS name without its one optional root dot (RFC 1034 3.1; total
/// <= 253 octets, labels 1..63 of [a-z0-9-_] (RFC 1035 2.3.1, '_' per RFC 2181 11), no
/// label starting or ending in '-', not all-numeric at the top (RFC 3696 2) and not a
/// form inet_aton reads as IPv4, such as "127.1" or "0x7f.1") or an IP literal in
/// canonical text (IPv6 given bare or in brackets, returned bare). A wildcard is not a
/// host: see normalize_host_pattern.
parsed<std::string> normalize_host(std::string_view host);

/// An allow-list entry: an exact host as normalize_host, or "*.suffix" where suffix is
/// a DNS name of at least two labels ("*.com" would allow a whole top-level domain).
parsed<std::string> normalize_host_pattern(std::string_view pattern);

/// True when the normalised host matches the normalised pattern: exact equality, or for
/// "*.suffix" any name ending in ".suffix" with at least one more label ("*.a.com"
/// matches "x.a.com" and "y.x.a.com", not "a.com"). IP literals match exact entries only.
bool host_matches(std::string_view pattern, std::string_view host);

/// True when host is an IPv4 or IPv6 literal (bare, or IPv6 in brackets).
bool is_ip_literal(std::string_view host);

/// True when pattern starts with "*." (a wildcard, not a host).
bool is_wildcard(std::string_view pattern);

}  // namespace omsgw::grammar
