#include "metrics/events.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <spdlog/async.h>
#include <spdlog/details/periodic_worker.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace omsgw::events {
namespace {

std::atomic<int> g_level{static_cast<int>(level::info)};
std::atomic<int> g_format{static_cast<int>(config::log_format::text)};
std::mutex g_init_mutex;
// Created once by init(); read with atomic_load on every line (the I/O threads) and
// written with atomic_store under g_init_mutex.
std::shared_ptr<spdlog::logger> g_logger;
// Writes ended flood windows' summaries every second. Created by init(), stopped by an
// atexit handler registered after spdlog's registry exists, so it stops before the
// registry (and its thread pool) is destroyed.
spdlog::details::periodic_worker* g_summary_worker = nullptr;

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

// ---- flood limiter ----------------------------------------------------------------------

/// Long enough for any IPv6 text (45 bytes); longer text is keyed by its prefix.
constexpr std::size_t max_key_address = 47;

struct flood_key {
  int event = 0;
  std::uint8_t length = 0;
  std::array<char, max_key_address> address{};

  std::string_view text() const { return {address.data(), length}; }
  bool operator==(const flood_key& o) const { return event == o.event && text() == o.text(); }
};

flood_key make_key(id event, std::string_view address) {
  flood_key k;
  k.event = static_cast<int>(event);
  k.length = static_cast<std::uint8_t>(std::min(address.size(), max_key_address));
  std::copy_n(address.data(), k.length, k.address.data());
  return k;
}

struct flood_key_hash {
  std::size_t operator()(const flood_key& k) const noexcept {
    return std::hash<std::string_view>{}(k.text()) ^ (static_cast<std::size_t>(k.event) * 0x9e3779b97f4a7c15ull);
  }
};

struct flood_window {
  flood_limiter::time_point start;
  std::uint64_t count = 0;       ///< events in this window
  std::uint64_t suppressed = 0;  ///< of which not written
  level lvl = level::warn;
};

constexpr std::string_view overflow_address = "*";

flood_summary summary_of(const flood_key& k, const flood_window& w, std::chrono::milliseconds span) {
  flood_summary s;
  s.event = static_cast<id>(k.event);
  s.lvl = w.lvl;
  s.client = std::string(k.text());
  s.repeated = w.count;
  s.suppressed = w.suppressed;
  s.span = span;
  return s;
}

flood_limiter& limiter() {
  // Never destroyed: threads still logging while the process exits must not find it gone.
  static flood_limiter* const instance = new flood_limiter();
  return *instance;
}

spdlog::level::level_enum spdlog_level(level lvl) {
  switch (lvl) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warn: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    case level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

void write_summaries(const std::vector<flood_summary>& summaries) {
  for (const auto& s : summaries) {
    const std::string repeated = std::to_string(s.repeated);
    const std::string suppressed = std::to_string(s.suppressed);
    write(s.lvl, s.event, context{0, s.client, {}}, s.message(),
          {{"repeated", repeated}, {"suppressed", suppressed}});
  }
}

void drain_summaries(bool all) {
  std::vector<flood_summary> ended;
  limiter().sweep(flood_limiter::time_point::clock::now(), all, ended);
  write_summaries(ended);
}

void stop_summary_worker() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  delete g_summary_worker;  // joins the thread
  g_summary_worker = nullptr;
}

}  // namespace

struct alignas(64) flood_limiter::shard {
  std::mutex mutex;
  std::unordered_map<flood_key, flood_window, flood_key_hash> windows;
  time_point last_eviction{};
  bool evicted = false;  ///< last_eviction is set
};

flood_limiter::flood_limiter(flood_options options) : options_(options) {
  options_.shards = std::max<std::size_t>(1, options_.shards);
  options_.burst = std::max<std::uint32_t>(1, options_.burst);
  per_shard_ = std::max<std::size_t>(1, options_.max_keys / options_.shards);
  shards_ = std::make_unique<shard[]>(options_.shards);
}

flood_limiter::~flood_limiter() = default;

bool flood_limiter::admit(id event, level lvl, std::string_view client_addr, time_point now,
                          std::vector<flood_summary>& ended) {
  flood_key key = make_key(event, client_addr);
  shard& sh = shards_[flood_key_hash{}(key) % options_.shards];
  std::lock_guard<std::mutex> lock(sh.mutex);
  auto it = sh.windows.find(key);
  if (it == sh.windows.end()) {
    if (sh.windows.size() >= per_shard_) {
      // Full: evict ended windows, at most once per tenth of a window so a stream of new
      // addresses does not rescan the shard on every event.
      if (!sh.evicted || now - sh.last_eviction >= options_.window / 10) {
        sh.evicted = true;
        sh.last_eviction = now;
        for (auto w = sh.windows.begin(); w != sh.windows.end();) {
          if (now - w->second.start < options_.window) {
            ++w;
            continue;
          }
          if (w->second.suppressed) ended.push_back(summary_of(w->first, w->second, options_.window));
          w = sh.windows.erase(w);
        }
      }
      if (sh.windows.size() >= per_shard_) {
        key = make_key(event, overflow_address);
        it = sh.windows.find(key);
      }
    }
    if (it == sh.windows.end()) it = sh.windows.emplace(key, flood_window{now, 0, 0, lvl}).first;
  }
  flood_window& w = it->second;
  if (now - w.start >= options_.window) {
    if (w.suppressed) ended.push_back(summary_of(key, w, options_.window));
    w = flood_window{now, 0, 0, lvl};
  }
  ++w.count;
  if (w.count <= options_.burst) return true;
  ++w.suppressed;
  return false;
}

void flood_limiter::sweep(time_point now, bool all, std::vector<flood_summary>& ended) {
  for (std::size_t i = 0; i < options_.shards; ++i) {
    shard& sh = shards_[i];
    std::lock_guard<std::mutex> lock(sh.mutex);
    for (auto w = sh.windows.begin(); w != sh.windows.end();) {
      const auto age = now - w->second.start;
      if (!all && age < options_.window) {
        ++w;
        continue;
      }
      if (w->second.suppressed) {
        const auto span = std::min<std::chrono::milliseconds>(
            options_.window, std::chrono::duration_cast<std::chrono::milliseconds>(age));
        ended.push_back(summary_of(w->first, w->second, span));
      }
      w = sh.windows.erase(w);
    }
  }
}

std::size_t flood_limiter::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < options_.shards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mutex);
    n += shards_[i].windows.size();
  }
  return n;
}

std::string flood_summary::message() const {
  const auto seconds = std::max<std::int64_t>(1, (span.count() + 999) / 1000);
  std::string from;
  if (client == overflow_address) {
    from = " from other clients (too many to track one by one)";
  } else if (!client.empty()) {
    from = " from " + client;
  }
  return fmt::format(
      "event {} repeated {} times{} in {} s ({} lines suppressed; counters are exact)",
      static_cast<int>(event), repeated, from, seconds, suppressed);
}

bool flood_limited(level lvl, id event) {
  if (lvl != level::warn && lvl != level::error) return false;
  switch (event) {
    case id::not_connect:
    case id::not_allowed:
    case id::tls_rejected:
    case id::application_error:
    case id::tls_parse_error:
    case id::network_error:
      return true;
    default:
      return false;
  }
}

std::string_view client_address(std::string_view client) {
  if (!client.empty() && client.front() == '[') {
    const auto close = client.find(']');
    return close == std::string_view::npos ? client.substr(1) : client.substr(1, close - 1);
  }
  const auto colon = client.find(':');
  // One colon: "v4:port" or "name:port"; more: a bare IPv6 address without a port.
  if (colon != std::string_view::npos && client.find(':', colon + 1) == std::string_view::npos) {
    return client.substr(0, colon);
  }
  return client;
}

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
    for (const auto& [k, v] : fields) {
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
    for (const auto& [k, v] : fields) {
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

void init(config::log_format format, std::string_view level_name_text) {
  limiter();  // exists before anything below can use it
  std::lock_guard<std::mutex> lock(g_init_mutex);
  g_format.store(static_cast<int>(format));
  g_level.store(static_cast<int>(parse_level(level_name_text)));
  if (!std::atomic_load(&g_logger)) {
    // One background thread writes; a full queue drops the oldest line rather than
    // blocking an I/O thread (a log flood must not stall the data plane).
    spdlog::init_thread_pool(16384, 1);
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::async_logger>(
        "omsgw", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
    std::atomic_store(&g_logger, std::shared_ptr<spdlog::logger>(logger));
    g_summary_worker =
        new spdlog::details::periodic_worker([] { drain_summaries(false); }, std::chrono::seconds(1));
    std::atexit(stop_summary_worker);
  }
}

bool admit(level lvl, id event, const context& ctx) {
  if (!flood_limited(lvl, event)) return true;
  std::vector<flood_summary> ended;
  const bool write_it = limiter().admit(event, lvl, client_address(ctx.client),
                                        flood_limiter::time_point::clock::now(), ended);
  write_summaries(ended);
  return write_it;
}

void write(level lvl, id event, const context& ctx, std::string_view message,
           std::initializer_list<field> fields) {
  if (lvl == level::off) return;
  // The stop event is the last line: the summaries of floods still in their window
  // come before it.
  if (event == id::stopped) drain_summaries(true);
  const auto now = std::chrono::system_clock::now();
  const std::int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  auto line = format_line(static_cast<config::log_format>(g_format.load()), lvl, event, ctx,
                          message, fields, ms);
  const auto logger = std::atomic_load(&g_logger);
  if (!logger) {
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
    return;
  }
  logger->log(spdlog_level(lvl), "{}", line);
}

void emit(level lvl, id event, const context& ctx, std::string_view message,
          std::initializer_list<field> fields) {
  if (admit(lvl, event, ctx)) write(lvl, event, ctx, message, fields);
}

void flush_summaries() { drain_summaries(false); }

void flush() {
  drain_summaries(true);
  if (const auto logger = std::atomic_load(&g_logger)) logger->flush();
}

std::uint64_t dropped() {
  auto tp = spdlog::thread_pool();
  return tp ? static_cast<std::uint64_t>(tp->overrun_counter()) : 0;
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
