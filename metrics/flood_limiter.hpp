#pragma once
/// \file
/// Log-flood control (see the comment below): which events are limited, the
/// per-(event, client address) window counter and the summary line of a window.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/event_types.hpp"

namespace omsgw::events {

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
