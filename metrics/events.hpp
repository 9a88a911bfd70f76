#pragma once
/// \file
/// The one logging facility: numbered events (SPEC.md "Events") written by an
/// asynchronous spdlog logger to stderr, as text or JSON. A disabled level costs one
/// branch: use the OMSGW_EVENT macro, which formats only when the level is enabled.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "config/config.hpp"

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

/// Sets up (or reconfigures) the logger. Safe to call again on reload.
void init(config::log_format format, std::string_view level_name);
/// Parses "trace|debug|info|warn|error"; unknown -> info.
level parse_level(std::string_view name);
/// True when events of lvl are written.
bool enabled(level lvl);
/// Writes one event line. Prefer OMSGW_EVENT, which skips formatting when disabled.
void emit(level lvl, id event, const context& ctx, std::string_view message,
          std::initializer_list<field> fields = {});
/// Flushes pending lines (call before exit).
void flush();
/// Lines dropped because the asynchronous queue overflowed (never blocks the caller).
std::uint64_t dropped();

/// Formats a line without writing it (pure; used by emit and by tests).
std::string format_line(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, std::initializer_list<field> fields,
                        std::int64_t unix_ms);

}  // namespace omsgw::events

/// OMSGW_EVENT(level, id, ctx, "fmt {}", args...) -- formatting only when enabled.
#define OMSGW_EVENT(lvl, ev, ctx, ...)                                        \
  do {                                                                        \
    if (::omsgw::events::enabled(::omsgw::events::level::lvl))                \
      ::omsgw::events::emit(::omsgw::events::level::lvl, ::omsgw::events::id::ev, \
                            (ctx), fmt::format(__VA_ARGS__));                 \
  } while (0)

#define OMSGW_UNPAREN(...) __VA_ARGS__
/// As OMSGW_EVENT with extra key=value fields, given in parentheses:
/// OMSGW_EVENT_F(info, x, ctx, ({{"k", "v"}}), "...") or (a_list_variable).
#define OMSGW_EVENT_F(lvl, ev, ctx, fields, ...)                              \
  do {                                                                        \
    if (::omsgw::events::enabled(::omsgw::events::level::lvl))                \
      ::omsgw::events::emit(::omsgw::events::level::lvl, ::omsgw::events::id::ev, \
                            (ctx), fmt::format(__VA_ARGS__), OMSGW_UNPAREN fields);         \
  } while (0)
