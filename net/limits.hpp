#pragma once
/// \file
/// The data plane's fixed bounds, each named once.

#include <cstddef>

namespace omsgw::net {

/// The most octets of request line + headers accepted from a client (SPEC.md: a
/// larger header is answered 431), of a relay's answer, and of an admin request.
inline constexpr std::size_t max_header_bytes = 16 * 1024;

}  // namespace omsgw::net
