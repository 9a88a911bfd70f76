#include "metrics/events.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace omsgw::events {
namespace {

std::atomic<int> g_level{static_cast<int>(level::info)};
std::atomic<int> g_format{static_cast<int>(config::log_format::text)};
std::mutex g_init_mutex;
std::shared_ptr<spdlog::logger> g_logger;  // guarded by g_init_mutex for (re)creation

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

// Text values are quoted when they contain spaces, quotes or '=' so a line stays
// machine-splittable (logfmt conventions).
void append_text_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_json_string(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
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

}  // namespace

level parse_level(std::string_view name) {
  if (name == "trace") return level::trace;
  if (name == "debug") return level::debug;
  if (name == "warn" || name == "warning") return level::warn;
  if (name == "error") return level::error;
  if (name == "off") return level::off;
  return level::info;
}

bool enabled(level lvl) { return static_cast<int>(lvl) >= g_level.load(std::memory_order_relaxed); }

std::string format_line(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, std::initializer_list<field> fields,
                        std::int64_t unix_ms) {
  std::string out;
  out.reserve(160 + message.size());
  const int event_id = static_cast<int>(event);
  if (format == config::log_format::json) {
    out += "{\"time\":";
    append_json_string(out, iso_time(unix_ms));
    out += ",\"level\":";
    append_json_string(out, level_name(lvl));
    fmt::format_to(std::back_inserter(out), ",\"event_id\":{}", event_id);
    if (ctx.conn_id != 0) fmt::format_to(std::back_inserter(out), ",\"conn\":{}", ctx.conn_id);
    if (!ctx.client.empty()) {
      out += ",\"client\":";
      append_json_string(out, ctx.client);
    }
    if (!ctx.dest.empty()) {
      out += ",\"dest\":";
      append_json_string(out, ctx.dest);
    }
    for (const auto& [k, v] : fields) {
      out += ',';
      append_json_string(out, k);
      out += ':';
      if (v == "true" || v == "false") {
        out += v;
      } else {
        append_json_string(out, v);
      }
    }
    out += ",\"msg\":";
    append_json_string(out, message);
    out += '}';
  } else {
    out += iso_time(unix_ms);
    out += ' ';
    out += level_name(lvl);
    fmt::format_to(std::back_inserter(out), " event_id={}", event_id);
    if (ctx.conn_id != 0) fmt::format_to(std::back_inserter(out), " conn={}", ctx.conn_id);
    if (!ctx.client.empty()) {
      out += " client=";
      append_text_value(out, ctx.client);
    }
    if (!ctx.dest.empty()) {
      out += " dest=";
      append_text_value(out, ctx.dest);
    }
    for (const auto& [k, v] : fields) {
      out += ' ';
      out += k;
      out += '=';
      append_text_value(out, v);
    }
    out += " msg=";
    append_text_value(out, message);
  }
  return out;
}

void init(config::log_format format, std::string_view level_name_text) {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  g_format.store(static_cast<int>(format));
  g_level.store(static_cast<int>(parse_level(level_name_text)));
  if (!g_logger) {
    // One background thread writes; a full queue drops the oldest line rather than
    // blocking an I/O thread (a log flood must not stall the data plane).
    spdlog::init_thread_pool(16384, 1);
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_logger = std::make_shared<spdlog::async_logger>(
        "omsgw", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
    g_logger->set_pattern("%v");
    g_logger->set_level(spdlog::level::trace);
    g_logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(g_logger);
    spdlog::flush_every(std::chrono::seconds(1));
  }
}

void emit(level lvl, id event, const context& ctx, std::string_view message,
          std::initializer_list<field> fields) {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  auto line = format_line(static_cast<config::log_format>(g_format.load()), lvl, event, ctx,
                          message, fields, ms);
  auto logger = g_logger;
  if (!logger) {
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
    return;
  }
  spdlog::level::level_enum sl = spdlog::level::info;
  switch (lvl) {
    case level::trace: sl = spdlog::level::trace; break;
    case level::debug: sl = spdlog::level::debug; break;
    case level::info: sl = spdlog::level::info; break;
    case level::warn: sl = spdlog::level::warn; break;
    case level::error: sl = spdlog::level::err; break;
    case level::off: return;
  }
  logger->log(sl, "{}", line);
}

void flush() {
  if (g_logger) g_logger->flush();
}

std::uint64_t dropped() {
  auto tp = spdlog::thread_pool();
  return tp ? static_cast<std::uint64_t>(tp->overrun_counter()) : 0;
}

}  // namespace omsgw::events
