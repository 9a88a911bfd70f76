#pragma once
/// \file
/// The one logging facility: numbered events (SPEC.md "Events") written by an
/// asynchronous spdlog logger to stderr, as text or JSON, with log-flood control for
/// refusals (flood_limiter). A disabled level costs one branch: use the OMSGW_EVENT
/// macro, which formats only when the level is enabled and the line is not suppressed.

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
/// A JSON string literal of text (quotes included); invalid UTF-8 becomes U+FFFD.
std::string json_quote(std::string_view text);
/// Writes the summaries of flood windows that have ended and forgets those keys. init()
/// starts a background worker that calls it every second, so a flood that stops still
/// gets its summary; callable from anywhere, any time.
void flush_summaries();
/// Writes pending summaries (ended or not) and flushes pending lines (call before exit).
void flush();
/// Lines dropped because the asynchronous queue overflowed (never blocks the caller).
std::uint64_t dropped();

/// Formats a line without writing it (pure; used by emit and by tests). Values are
/// escaped so that one event is always one line and a JSON line is valid JSON whatever
/// the bytes (control characters, quotes, invalid UTF-8); a message longer than
/// max_message_bytes or a field value longer than max_field_bytes is cut, marked "...".
std::string format_line(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, std::initializer_list<field> fields,
                        std::int64_t unix_ms);
inline constexpr std::size_t max_message_bytes = 4096;
inline constexpr std::size_t max_field_bytes = 1024;

// ---- Log-flood control ---------------------------------------------------------------
//
// A flood of identical refusals must neither fill the disk nor hold up the I/O threads.
// Per (event id, client address) key, the first `burst` lines of a window are written,
// the rest only counted; when the window has ended, one summary line (same event id and
// level) says how many there were:
//   event 105 repeated 4812 times from 192.0.2.7 in 10 s (4792 lines suppressed; ...)
// It is written by the key's next event, or by flush_summaries() (every second) when the
// flood has stopped. Only the line is suppressed: the caller has already counted the
// event in its metrics, so counters stay exact.

/// Limits of the flood limiter.
struct flood_options {
  std::uint32_t burst = 20;                       ///< lines written per key and window
  std::chrono::milliseconds window{10'000};       ///< window length
  std::size_t max_keys = 4096;                    ///< keys tracked at most (memory bound)
  std::size_t shards = 16;                        ///< independent locks (power of two)
};

/// True for the events the limiter applies to: refusals at warn/error level, i.e. 104,
/// 105, 106, 400, 402, 403. Life-cycle and configuration events (101, 102, 401) and
/// everything at info or below are never limited.
bool flood_limited(level lvl, id event);

/// The address part of a context's client text: "192.0.2.7:5000" -> "192.0.2.7",
/// "[2001:db8::1]:5000" -> "2001:db8::1"; text without a port is returned as it is.
std::string_view client_address(std::string_view client);

/// One ended window in which lines were suppressed.
struct flood_summary {
  id event = id::info;
  level lvl = level::warn;
  std::string client;              ///< address, or "*" for the overflow key
  std::uint64_t repeated = 0;      ///< events in the window (written + suppressed)
  std::uint64_t suppressed = 0;    ///< lines not written
  std::chrono::milliseconds span{0};  ///< window length, or less when flushed early
  /// The summary line's message, e.g. "event 105 repeated 4812 times from 192.0.2.7 in 10 s
  /// (4792 lines suppressed; counters are exact)".
  std::string message() const;
};

/// The per-key window counter. Thread-safe: keys are spread over `shards` mutex-guarded
/// hash maps, so threads contend only when their keys share a shard. Cost of admit():
/// one hash of the key (event id + address, at most 47 bytes, copied into a fixed-size
/// key, no allocation), one uncontended lock and one hash-map lookup: ~120 ns measured
/// with the clock read (-O2, loaded 2-core VM), against 1-2 us for formatting the line
/// it saves; a node allocation only for a new key. Memory: at most max_keys keys (~150 bytes each,
/// ~600 KiB for the default 4096) plus one overflow key per event id and shard: when a
/// shard is full, its ended windows are evicted first, and if none has ended the event
/// is counted under the overflow key "*" (so many distinct addresses are still limited).
class flood_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit flood_limiter(flood_options options = {});
  ~flood_limiter();
  flood_limiter(const flood_limiter&) = delete;
  flood_limiter& operator=(const flood_limiter&) = delete;

  /// Decides one event of a limited kind at `now`: true = write its line. If the key's
  /// previous window has ended with suppressed lines (or a full shard evicts such
  /// windows), their summaries are appended to `ended`.
  bool admit(id event, level lvl, std::string_view client_addr, time_point now,
             std::vector<flood_summary>& ended);
  /// Ends the windows that have run their length at `now` (every window when `all`),
  /// appends the summaries of those with suppressed lines, and forgets those keys.
  void sweep(time_point now, bool all, std::vector<flood_summary>& ended);
  /// Keys currently tracked.
  std::size_t size() const;
  const flood_options& options() const { return options_; }

 private:
  struct shard;
  flood_options options_;
  std::size_t per_shard_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace omsgw::events

/// OMSGW_EVENT(level, id, ctx, "fmt {}", args...) -- formats only when the level is
/// enabled and log-flood control lets the line through; ctx is evaluated once.
#define OMSGW_EVENT(lvl, ev, ctx, ...)                                                    \
  do {                                                                                    \
    if (::omsgw::events::enabled(::omsgw::events::level::lvl)) {                          \
      const ::omsgw::events::context& omsgw_event_ctx_ = (ctx);                           \
      if (::omsgw::events::admit(::omsgw::events::level::lvl, ::omsgw::events::id::ev,    \
                                 omsgw_event_ctx_))                                       \
        ::omsgw::events::write(::omsgw::events::level::lvl, ::omsgw::events::id::ev,      \
                               omsgw_event_ctx_, fmt::format(__VA_ARGS__));               \
    }                                                                                     \
  } while (0)

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
