#pragma once
/// \file
/// The PerfMon counter log of SPEC.md "Counters": the four OMS counters appended every
/// `perfmon.interval_s` to a PDH-CSV 4.0 file, the text log format Windows' PDH library
/// writes for `typeperf -f CSV -o F`, `logman -f csv` and `relog -f csv`, and which
/// Performance Monitor and `relog` open:
///
///     "(PDH-CSV 4.0) (CET)(-60)","\\HOST\OMS Gateway\Active Client Connection",...CRLF
///     "07/04/2025 09:05:03.007","3","0","2","1"CRLF
///
/// - Every cell is double-quoted; an embedded quote is doubled (RFC 4180 section 2.7),
///   so a host name with a quote still reads back as one cell.
/// - The first cell of the header names the local time zone and its bias, the minutes
///   to ADD to local time to get UTC (Windows TIME_ZONE_INFORMATION.Bias plus the
///   standard or daylight bias in effect: UTC+1 is -60, US Eastern daylight is 240).
/// - Rows start with the LOCAL time `MM/DD/YYYY HH:MM:SS.mmm`.
/// - Records end with CR LF, PDH's record terminator, also on Linux.
///
/// The formatting functions are pure (tests feed them literal inputs); `perfmon_log`
/// owns the file. Nothing here throws, starts a thread or takes a lock.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace omsgw::metrics {

/// PDH's record terminator.
inline constexpr std::string_view perfmon_line_end = "\r\n";
/// The performance object the counters belong to, as the OMS Gateway registers it.
inline constexpr std::string_view perfmon_object = "OMS Gateway";

/// One reading of the four OMS counters (the gateway_metrics values), in column order.
struct perfmon_sample {
  double active_client_connections = 0;  ///< gauge: omsgw_active_client_connections
  double error_count = 0;                ///< counter: omsgw_errors_total
  double connected_clients = 0;          ///< gauge: omsgw_connected_clients
  double rejection_count = 0;            ///< counter: sum of omsgw_rejections_total
};

/// A wall-clock instant broken down in local time, plus the zone it was read in.
struct perfmon_time {
  int year = 1970;
  int month = 1;  ///< 1-12
  int day = 1;    ///< 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millisecond = 0;
  std::string zone_name = "Coordinated Universal Time";  ///< first header cell
  int bias_minutes = 0;  ///< UTC = local + bias (Windows sign convention)
};

/// Breaks `at` down in the process's local time zone (TZ / /etc/localtime, via
/// localtime_r). The zone name is the C library's abbreviation ("CET", "EST"), except
/// that "UTC" becomes Windows' "Coordinated Universal Time": Linux has no Windows zone
/// names, and PDH readers take the name as a caption only.
perfmon_time to_perfmon_time(std::chrono::system_clock::time_point at);

/// `"text"` with every `"` doubled.
std::string perfmon_quote(std::string_view text);

/// A counter value as a cell's content: integral values without decimals ("42"),
/// others in the shortest form that reads back exactly ("0.25"); NaN and infinities
/// as PDH's blank " " (no valid data).
std::string perfmon_value(double value);

/// The counter path `\\HOST\OMS Gateway\COUNTER`.
std::string perfmon_counter_path(std::string_view host, std::string_view counter);

/// The header record, CRLF included: `"(PDH-CSV 4.0) (ZONE)(BIAS)"` then the four
/// counter paths on `host` (gethostname of the gateway).
std::string perfmon_header(std::string_view host, std::string_view zone_name, int bias_minutes);

/// One data record, CRLF included: the local timestamp, then the four values.
std::string perfmon_row(const perfmon_time& at, const perfmon_sample& sample);

/// `YYYYMMDD-HHMMSS` of `at`, the suffix a rotated file gets.
std::string perfmon_rotation_stamp(const perfmon_time& at);

/// This machine's name (gethostname), or "localhost" if it cannot be read.
std::string perfmon_host_name();

/// What one `perfmon_log::append` did.
struct perfmon_append_result {
  std::error_code error;   ///< set when the row was not written (nothing partial is left)
  std::string rotated_to;  ///< set when an older log was moved aside before this row
  explicit operator bool() const { return !error; }
};

/// The counter log file. Whoever owns it (the telemetry actor) calls `append` every
/// `interval_s`; it has no thread or timer of its own and is not thread-safe.
///
/// File handling, all decided at `append` time:
/// - The file is opened (created 0644) on the first append, and re-opened when the
///   path no longer names the open file (logrotate moved or deleted it) or the open
///   file was emptied (logrotate copytruncate), so every file starts with its header.
/// - An existing file whose first line is exactly the header this append would write
///   is appended to; a missing or empty one gets the header first.
/// - A file with another header (other host, other columns, another time zone or
///   daylight-saving bias, not PDH-CSV at all) is renamed to
///   `<file>.<YYYYMMDD-HHMMSS>.old` (the sample's local time; `-1`, `-2`... before
///   `.old` if taken) and a new file started. The same happens to the open file when
///   the header changes under it, e.g. at a daylight-saving switch: every file then
///   states the bias its timestamps are in, and no row is ever lost or rewritten.
/// - A last line without terminator (a crash mid-write) is ended before appending.
/// - Each record goes out in one write() on an O_APPEND descriptor; a short or failed
///   write is cut back off (ftruncate) so readers never see half a row. No user-space
///   buffering, so each row is visible to readers at once; rows are not fsync'ed (an
///   fsync per interval would stall the caller on a slow disk).
/// - Failures are returned, never thrown; the next append tries again from scratch.
class perfmon_log {
 public:
  perfmon_log(std::string path, std::string host);
  ~perfmon_log();
  perfmon_log(perfmon_log&& other) noexcept;
  perfmon_log& operator=(perfmon_log&& other) noexcept;
  perfmon_log(const perfmon_log&) = delete;
  perfmon_log& operator=(const perfmon_log&) = delete;

  /// Appends one row for `sample` taken at `at` (header and rotation as above).
  perfmon_append_result append(const perfmon_sample& sample,
                               std::chrono::system_clock::time_point at);
  /// As above with an explicit local time (tests, or a caller that already has it).
  perfmon_append_result append(const perfmon_sample& sample, const perfmon_time& at);

  const std::string& path() const { return path_; }

 private:
  /// Makes fd_ an open descriptor on path_ whose first line is `header`.
  std::error_code open_for(const std::string& header, const perfmon_time& at,
                           std::string& rotated_to);
  /// Moves path_ aside to `<path>.<stamp>[-N].old`.
  std::error_code rotate(const perfmon_time& at, std::string& rotated_to);
  void close_fd();

  std::string path_;
  std::string host_;
  int fd_ = -1;
  std::string open_header_;  ///< the header of the file fd_ refers to
};

}  // namespace omsgw::metrics
