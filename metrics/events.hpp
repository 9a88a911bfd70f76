#pragma once
/// \file
/// The one logging facility: numbered events (SPEC.md "Events") written by an
/// asynchronous spdlog logger to stderr, as text or JSON (metrics/event_format: the
/// line is formatted on the logger's thread), with log-flood control for refusals
/// (metrics/flood_limiter). This file owns the logger's lifetime. A disabled level costs
/// one branch: use the OMSGW_EVENT macro, which formats only when the level is enabled
/// and the line is not suppressed.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "config/config.hpp"
#include "metrics/event_format.hpp"
#include "metrics/event_types.hpp"
#include "metrics/flood_limiter.hpp"

namespace omsgw::events {

/// Sets up (or reconfigures) the logger. Safe to call again on reload.
void init(config::log_format format, std::string_view level_name);
/// Parses "trace|debug|info|warn|error"; unknown -> info.
level parse_level(std::string_view name);
/// True when events of lvl are written.
bool enabled(level lvl);
/// Writes one event line, subject to log-flood control (see admit). Prefer OMSGW_EVENT,
/// which also skips formatting when the level is off or the line would be suppressed.
void emit(level lvl, id event, const context& ctx, std::string_view message,
          std::initializer_list<field> fields = {});
/// Log-flood control for one event about to be written: false when its line is to be
/// suppressed (counted for the key's summary). Writes the summaries of ended windows it
/// comes across. True at once for events the limiter does not apply to (flood_limited).
bool admit(level lvl, id event, const context& ctx);
/// Writes one event line unconditionally (after admit said yes).
void write(level lvl, id event, const context& ctx, std::string_view message,
           std::initializer_list<field> fields = {});
/// Writes the summaries of flood windows that have ended and forgets those keys. init()
/// starts a background thread that calls it every second, so a flood that stops still
/// gets its summary; callable from anywhere, any time.
void flush_summaries();
/// Writes pending summaries (ended or not) and flushes pending lines (call before exit).
void flush();
/// Lines dropped because the asynchronous queue overflowed (never blocks the caller).
std::uint64_t dropped();

}  // namespace omsgw::events

#define OMSGW_UNPAREN(...) __VA_ARGS__
/// As OMSGW_EVENT with extra key=value fields, given in parentheses:
/// OMSGW_EVENT_F(info, x, ctx, ({{"k", "v"}}), "...") or (a_list_variable).
#define OMSGW_EVENT_F(lvl, ev, ctx, fields, ...)                                          \
  do {                                                                                    \
    if (::omsgw::events::enabled(::omsgw::events::level::lvl)) {                          \
      const ::omsgw::events::context& omsgw_event_ctx_ = (ctx);                           \
      if (::omsgw::events::admit(::omsgw::events::level::lvl, ::omsgw::events::id::ev,    \
                                 omsgw_event_ctx_))                                       \
        ::omsgw::events::write(::omsgw::events::level::lvl, ::omsgw::events::id::ev,      \
                               omsgw_event_ctx_, fmt::format(__VA_ARGS__),                \
                               OMSGW_UNPAREN fields);                                     \
    }                                                                                     \
  } while (0)

/// OMSGW_EVENT(level, id, ctx, "fmt {}", args...) -- formats only when the level is
/// enabled and log-flood control lets the line through; ctx is evaluated once.
#define OMSGW_EVENT(lvl, ev, ctx, ...) OMSGW_EVENT_F(lvl, ev, ctx, ({}), __VA_ARGS__)
