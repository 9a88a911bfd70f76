#pragma once
/// \file
/// The data plane's fixed bounds, each named once.

#include <cstddef>

namespace omsgw::net {

/// The most octets of request line + headers accepted from a client (SPEC.md: a
/// larger header is answered 431), of a relay's answer, and of an admin request.
inline constexpr std::size_t max_header_bytes = 16 * 1024;

/// Refusals (403, 503, ...) that may linger at once after their answer, reading what
/// the client still sends so that it gets the answer rather than a reset. Each holds
/// a descriptor the tunnel limit no longer counts: past this many, a refusal closes as
/// soon as its answer is written, so a burst of refusals cannot use up the
/// descriptors admitted tunnels need (net/http_reply).
inline constexpr std::size_t max_lingering_refusals = 32;

/// Admin endpoint connections open at once; more are closed at once (metrics/admin_server).
inline constexpr std::size_t max_admin_connections = 32;

}  // namespace omsgw::net
