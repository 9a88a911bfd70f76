/// \file
/// Event lines (see event_format.hpp): escaping, the text and JSON layouts, the record
/// that carries an event through the logger's queue, and the spdlog formatter.

#include "metrics/event_format.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iterator>

#include <spdlog/details/log_msg.h>
#include <spdlog/fmt/fmt.h>

namespace omsgw::events {
namespace {

/// Length of the valid UTF-8 sequence (RFC 3629 section 4) starting at s[i], 0 when the
/// bytes there are not one (stray continuation, overlong form, surrogate, > U+10FFFF,
/// truncated sequence).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u;
  };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) {
    return at(k) >= lo && at(k) <= hi;
  };
  const unsigned b = at(0);
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xf1 && b <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/// v cut to at most `max` bytes (not inside a UTF-8 sequence), "..." appended when cut.
std::string_view bounded(std::string_view v, std::size_t max, std::string& storage) {
  if (v.size() <= max) return v;
  std::size_t cut = max;
  for (int back = 0; back < 3 && cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xc0) == 0x80;
       ++back) {
    --cut;
  }
  storage.assign(v.substr(0, cut));
  storage += "...";
  return storage;
}

// Text values are quoted when they contain spaces, quotes, '=', control characters or
// invalid UTF-8, so a line stays one line and machine-splittable (logfmt conventions);
// inside quotes, '"' and '\' are escaped and bytes that are not printable UTF-8 become
// \xNN.
void append_text_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (std::size_t i = 0; i < v.size() && !quote;) {
    const char c = v[i];
    const std::size_t n = utf8_sequence(v, i);
    if (n == 0 || c == ' ' || c == '"' || c == '=' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      quote = true;
    }
    i += n == 0 ? 1 : n;
  }
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (std::size_t i = 0; i < v.size();) {
    const char c = v[i];
    const std::size_t n = utf8_sequence(v, i);
    if (n == 0 || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(c));
      ++i;
      continue;
    }
    if (c == '"' || c == '\\') out.push_back('\\');
    out.append(v.substr(i, n));
    i += n;
  }
  out.push_back('"');
}

// JSON strings (RFC 8259 section 7): control characters escaped, and bytes that are not
// valid UTF-8 replaced by U+FFFD, so every line parses as JSON.
void append_json_string(std::string& out, std::string_view v) {
  out.push_back('"');
  for (std::size_t i = 0; i < v.size();) {
    const char c = v[i];
    const std::size_t n = utf8_sequence(v, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.append(v.substr(i, n));
        }
    }
    i += n;
  }
  out.push_back('"');
}

std::string iso_time(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(unix_ms % 1000));
}

struct field_range {
  const field* first;
  std::size_t n;
  const field* begin() const { return first; }
  const field* end() const { return first + n; }
};

std::string format_impl(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, const field* fields, std::size_t n_fields,
                        std::int64_t unix_ms) {
  std::string out;
  std::string cut;
  out.reserve(160 + std::min(message.size(), max_message_bytes));
  const int event_id = static_cast<int>(event);
  const auto value = [&cut](std::string_view v, std::size_t max) { return bounded(v, max, cut); };
  if (format == config::log_format::json) {
    out += "{\"time\":";
    append_json_string(out, iso_time(unix_ms));
    out += ",\"level\":";
    append_json_string(out, level_name(lvl));
    fmt::format_to(std::back_inserter(out), ",\"event_id\":{}", event_id);
    if (ctx.conn_id != 0) fmt::format_to(std::back_inserter(out), ",\"conn\":{}", ctx.conn_id);
    if (!ctx.client.empty()) {
      out += ",\"client\":";
      append_json_string(out, value(ctx.client, max_field_bytes));
    }
    if (!ctx.dest.empty()) {
      out += ",\"dest\":";
      append_json_string(out, value(ctx.dest, max_field_bytes));
    }
    for (const auto& [k, v] : field_range{fields, n_fields}) {
      out += ',';
      append_json_string(out, k);
      out += ':';
      if (v == "true" || v == "false") {
        out += v;
      } else {
        append_json_string(out, value(v, max_field_bytes));
      }
    }
    out += ",\"msg\":";
    append_json_string(out, value(message, max_message_bytes));
    out += '}';
  } else {
    out += iso_time(unix_ms);
    out += ' ';
    out += level_name(lvl);
    fmt::format_to(std::back_inserter(out), " event_id={}", event_id);
    if (ctx.conn_id != 0) fmt::format_to(std::back_inserter(out), " conn={}", ctx.conn_id);
    if (!ctx.client.empty()) {
      out += " client=";
      append_text_value(out, value(ctx.client, max_field_bytes));
    }
    if (!ctx.dest.empty()) {
      out += " dest=";
      append_text_value(out, value(ctx.dest, max_field_bytes));
    }
    for (const auto& [k, v] : field_range{fields, n_fields}) {
      out += ' ';
      out += k;
      out += '=';
      append_text_value(out, value(v, max_field_bytes));
    }
    out += " msg=";
    append_text_value(out, value(message, max_message_bytes));
  }
  return out;
}

/// The first byte of a packed record (ASCII "record separator": no event text starts
/// with it, so anything else reaching the formatter is written as it is).
constexpr char k_record_mark = '\x1e';

void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

void put_text(std::string& out, std::string_view v) {
  put_u32(out, static_cast<std::uint32_t>(v.size()));
  out.append(v);
}

/// Reads packed values front to back; any short read makes ok() false.
struct reader {
  std::string_view in;
  bool good = true;
  std::uint64_t number(std::size_t bytes) {
    std::uint64_t v = 0;
    if (!good || in.size() < bytes) return good = false, 0;
    std::memcpy(&v, in.data(), bytes);  // little-endian host: the low bytes
    in.remove_prefix(bytes);
    return v;
  }
  std::string_view text() {
    const auto n = static_cast<std::size_t>(number(4));
    if (!good || in.size() < n) return good = false, std::string_view{};
    const auto v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
};

}  // namespace

const char* level_name(level l) {
  switch (l) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "info";
}

std::string format_line(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, std::initializer_list<field> fields,
                        std::int64_t unix_ms) {
  return format_impl(format, lvl, event, ctx, message, fields.begin(), fields.size(), unix_ms);
}

std::string format_record(config::log_format format, level lvl, const record_view& r,
                          std::int64_t unix_ms) {
  return format_impl(format, lvl, r.event, r.ctx, r.message, r.fields.data(), r.fields.size(),
                     unix_ms);
}

std::string pack_record(id event, const context& ctx, std::string_view message,
                        std::initializer_list<field> fields) {
  std::string out;
  out.reserve(32 + ctx.client.size() + ctx.dest.size() + message.size());
  out.push_back(k_record_mark);
  put_u32(out, static_cast<std::uint32_t>(event));
  out.append(reinterpret_cast<const char*>(&ctx.conn_id), sizeof ctx.conn_id);
  put_text(out, ctx.client);
  put_text(out, ctx.dest);
  put_text(out, message);
  put_u32(out, static_cast<std::uint32_t>(fields.size()));
  for (const auto& [k, v] : fields) {
    put_text(out, k);
    put_text(out, v);
  }
  return out;
}

bool unpack_record(std::string_view packed, record_view& out) {
  if (packed.empty() || packed.front() != k_record_mark) return false;
  reader r{packed.substr(1)};
  record_view v;
  v.event = static_cast<id>(r.number(4));
  v.ctx.conn_id = r.number(8);
  v.ctx.client = r.text();
  v.ctx.dest = r.text();
  v.message = r.text();
  const auto n = r.number(4);
  for (std::uint64_t i = 0; r.good && i < n; ++i) {
    const auto k = r.text();
    const auto val = r.text();
    v.fields.emplace_back(k, val);
  }
  if (!r.good || !r.in.empty()) return false;
  out = std::move(v);
  return true;
}

level from_spdlog(int spdlog_level) {
  switch (spdlog_level) {
    case spdlog::level::trace: return level::trace;
    case spdlog::level::debug: return level::debug;
    case spdlog::level::info: return level::info;
    case spdlog::level::warn: return level::warn;
    case spdlog::level::err:
    case spdlog::level::critical: return level::error;
    default: return level::off;
  }
}

void event_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  record_view r;
  if (unpack_record(payload, r)) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        msg.time.time_since_epoch()).count();
    const std::string line = format_record(format_(), from_spdlog(msg.level), r, ms);
    dest.append(line.data(), line.data() + line.size());
  } else {
    dest.append(payload.data(), payload.data() + payload.size());
  }
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> event_formatter::clone() const {
  return std::make_unique<event_formatter>(format_);
}

/// JSON string literal of text (RFC 8259): escapes quotes, backslashes and control
/// characters; bytes that are not valid UTF-8 become U+FFFD.
std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

}  // namespace omsgw::events
