#include "metrics/perfmon.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

namespace omsgw::metrics {
namespace {

// Column order of the log; the names are the OMS Gateway's counter names.
constexpr std::array<std::string_view, 4> counter_names = {
    "Active Client Connection", "Error Count", "Connected Client", "Rejection Count"};

// How often open_for may move a foreign file aside and retry before giving up (another
// process recreating the file in a loop).
constexpr int max_open_attempts = 3;
// Suffixes -1..-N tried when `<file>.<stamp>.old` is already taken.
constexpr int max_rotation_suffix = 999;

std::error_code last_error() { return {errno, std::generic_category()}; }

// Appends `"text"` (quotes doubled) to out.
void append_cell(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Writes one whole record with a single write(); anything partial is cut back off so a
// reader never sees half a row.
std::error_code write_record(int fd, std::string_view record) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error();
  ssize_t n;
  do {
    n = ::write(fd, record.data(), record.size());
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(record.size())) return {};
  const std::error_code ec = n < 0 ? last_error() : std::make_error_code(std::errc::io_error);
  if (n > 0 && ::ftruncate(fd, st.st_size) != 0) {
    // Nothing better to do: the next open ends the stray line (see open_for).
  }
  return ec;
}

// True when the first bytes of fd are exactly `header` (which ends with CRLF).
bool starts_with_header(int fd, std::string_view header) {
  std::string buf(header.size(), '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return buf == header;
}

// True when the file's last byte is a line feed (or it cannot be read: then the row
// is appended as is rather than inventing a line break).
bool ends_with_newline(int fd, off_t size) {
  char last = '\n';
  ssize_t n;
  do {
    n = ::pread(fd, &last, 1, size - 1);
  } while (n < 0 && errno == EINTR);
  return n != 1 || last == '\n';
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

}  // namespace

perfmon_time to_perfmon_time(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  const auto ms_since_epoch = time_point_cast<milliseconds>(at).time_since_epoch().count();
  // Floor division, so instants before 1970 keep a 0-999 millisecond part.
  std::int64_t secs = ms_since_epoch / 1000;
  std::int64_t ms = ms_since_epoch % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  perfmon_time out;
  if (::localtime_r(&t, &tm) == nullptr) return out;  // out of range: the epoch, in UTC
  out.year = tm.tm_year + 1900;
  out.month = tm.tm_mon + 1;
  out.day = tm.tm_mday;
  out.hour = tm.tm_hour;
  out.minute = tm.tm_min;
  out.second = tm.tm_sec;
  out.millisecond = static_cast<int>(ms);
  // tm_gmtoff is seconds EAST of UTC; Windows' bias is minutes to add to local time.
  out.bias_minutes = static_cast<int>(-tm.tm_gmtoff / 60);
  const std::string_view zone = tm.tm_zone != nullptr ? tm.tm_zone : "";
  out.zone_name =
      zone == "UTC" || zone.empty() ? std::string("Coordinated Universal Time") : std::string(zone);
  return out;
}

std::string perfmon_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_cell(out, text);
  return out;
}

std::string perfmon_value(double value) {
  if (!std::isfinite(value)) return " ";
  if (value == 0) return "0";  // also -0
  std::array<char, 64> buf{};
  // 2^53: every integer below it is exact in a double and prints without exponent.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    const int n = std::snprintf(buf.data(), buf.size(), "%.0f", value);
    return std::string(buf.data(), static_cast<std::size_t>(n));
  }
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  return std::string(buf.data(), res.ptr);
}

std::string perfmon_counter_path(std::string_view host, std::string_view counter) {
  std::string out = "\\\\";
  out.append(host);
  out += '\\';
  out.append(perfmon_object);
  out += '\\';
  out.append(counter);
  return out;
}

std::string perfmon_header(std::string_view host, std::string_view zone_name, int bias_minutes) {
  std::string first = "(PDH-CSV 4.0) (";
  first.append(zone_name);
  first += ")(";
  first += std::to_string(bias_minutes);
  first += ')';
  std::string out;
  append_cell(out, first);
  for (std::string_view counter : counter_names) {
    out += ',';
    append_cell(out, perfmon_counter_path(host, counter));
  }
  out.append(perfmon_line_end);
  return out;
}

std::string perfmon_row(const perfmon_time& at, const perfmon_sample& sample) {
  std::array<char, 96> stamp{};
  const int n =
      std::snprintf(stamp.data(), stamp.size(), "%02d/%02d/%04d %02d:%02d:%02d.%03d", at.month,
                    at.day, at.year, at.hour, at.minute, at.second, at.millisecond);
  std::string out;
  append_cell(out, std::string_view(stamp.data(), static_cast<std::size_t>(n)));
  for (double v : {sample.active_client_connections, sample.error_count, sample.connected_clients,
                   sample.rejection_count}) {
    out += ',';
    append_cell(out, perfmon_value(v));
  }
  out.append(perfmon_line_end);
  return out;
}

std::string perfmon_rotation_stamp(const perfmon_time& at) {
  std::array<char, 96> buf{};
  const int n = std::snprintf(buf.data(), buf.size(), "%04d%02d%02d-%02d%02d%02d", at.year,
                              at.month, at.day, at.hour, at.minute, at.second);
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::string perfmon_host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "localhost";
  return std::string(buf.data());
}

perfmon_log::perfmon_log(std::string path, std::string host)
    : path_(std::move(path)), host_(std::move(host)) {}

perfmon_log::~perfmon_log() { close_fd(); }

perfmon_log::perfmon_log(perfmon_log&& other) noexcept
    : path_(std::move(other.path_)),
      host_(std::move(other.host_)),
      fd_(std::exchange(other.fd_, -1)),
      open_header_(std::move(other.open_header_)) {}

perfmon_log& perfmon_log::operator=(perfmon_log&& other) noexcept {
  if (this != &other) {
    close_fd();
    path_ = std::move(other.path_);
    host_ = std::move(other.host_);
    fd_ = std::exchange(other.fd_, -1);
    open_header_ = std::move(other.open_header_);
  }
  return *this;
}

void perfmon_log::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  open_header_.clear();
}

perfmon_append_result perfmon_log::append(const perfmon_sample& sample,
                                          std::chrono::system_clock::time_point at) {
  return append(sample, to_perfmon_time(at));
}

perfmon_append_result perfmon_log::append(const perfmon_sample& sample, const perfmon_time& at) {
  perfmon_append_result result;
  const std::string header = perfmon_header(host_, at.zone_name, at.bias_minutes);
  if (fd_ >= 0) {
    // Re-open when the path now names another file or none (logrotate), when the
    // header changed under the open file (the reopen then rotates it), or when the file
    // was emptied under us (logrotate copytruncate: the reopen writes the header again).
    struct stat open_st {};
    struct stat path_st {};
    const bool same_file = ::fstat(fd_, &open_st) == 0 && ::stat(path_.c_str(), &path_st) == 0 &&
                           open_st.st_dev == path_st.st_dev && open_st.st_ino == path_st.st_ino;
    if (!same_file || header != open_header_ || open_st.st_size == 0) close_fd();
  }
  if (fd_ < 0) {
    result.error = open_for(header, at, result.rotated_to);
    if (result.error) return result;
  }
  result.error = write_record(fd_, perfmon_row(at, sample));
  if (result.error) close_fd();  // start from scratch next time
  return result;
}

std::error_code perfmon_log::open_for(const std::string& header, const perfmon_time& at,
                                      std::string& rotated_to) {
  for (int attempt = 0; attempt < max_open_attempts; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return last_error();
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const std::error_code ec = last_error();
      ::close(fd);
      return ec;
    }
    if (!S_ISREG(st.st_mode)) {  // a FIFO or device would block or swallow the log
      ::close(fd);
      return std::make_error_code(std::errc::invalid_argument);
    }
    if (st.st_size == 0) {
      if (std::error_code ec = write_record(fd, header)) {
        ::close(fd);
        return ec;
      }
    } else if (starts_with_header(fd, header)) {
      if (!ends_with_newline(fd, st.st_size)) {
        if (std::error_code ec = write_record(fd, perfmon_line_end)) {
          ::close(fd);
          return ec;
        }
      }
    } else {
      ::close(fd);
      if (std::error_code ec = rotate(at, rotated_to)) return ec;
      continue;
    }
    fd_ = fd;
    open_header_ = header;
    return {};
  }
  return std::make_error_code(std::errc::resource_unavailable_try_again);
}

std::error_code perfmon_log::rotate(const perfmon_time& at, std::string& rotated_to) {
  const std::string base = path_ + "." + perfmon_rotation_stamp(at);
  std::string target = base + ".old";
  for (int n = 1; path_exists(target); ++n) {
    if (n > max_rotation_suffix) return std::make_error_code(std::errc::file_exists);
    target = base + "-" + std::to_string(n) + ".old";
  }
  if (::rename(path_.c_str(), target.c_str()) != 0) return last_error();
  rotated_to = std::move(target);
  return {};
}

}  // namespace omsgw::metrics
