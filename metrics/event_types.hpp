#pragma once
/// \file
/// The vocabulary of events (SPEC.md "Events"): ids, levels, where an event happened
/// and its extra key=value fields. Shared by the formatter, the flood limiter and the
/// logger (metrics/events.hpp).

#include <cstdint>
#include <string_view>
#include <utility>

namespace omsgw::events {

/// SPEC.md event ids.
enum class id : int {
  info = 100,
  started = 101,
  stopped = 102,
  connect_received = 103,
  not_connect = 104,
  not_allowed = 105,
  tls_rejected = 106,
  tls_verified = 107,
  application_error = 400,
  wrong_configuration = 401,
  tls_parse_error = 402,
  network_error = 403,
};

enum class level { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

/// Where an event happened; empty/zero fields are left out of the line.
struct context {
  std::uint64_t conn_id = 0;
  std::string_view client;  ///< "addr:port"
  std::string_view dest;    ///< "host:port"
};

using field = std::pair<std::string_view, std::string_view>;

}  // namespace omsgw::events
