/// \file
/// The event logger's lifetime (see events.hpp): the asynchronous spdlog logger with
/// the event formatter, the level and format in force, the process-wide flood limiter
/// and the thread that writes the summaries of floods that have stopped.

#include "metrics/events.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <spdlog/async.h>
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

config::log_format format_in_force() { return static_cast<config::log_format>(g_format.load()); }

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

/// Writes the summaries of ended flood windows once a second, so a flood that stopped
/// still gets its summary line. Stopped (and joined) at exit, before spdlog's registry
/// and thread pool are destroyed: its atexit handler is registered after them.
class summary_thread {
 public:
  summary_thread() : thread_([this] { run(); }) {}
  ~summary_thread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      lock.unlock();
      drain_summaries(false);
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

summary_thread* g_summary_thread = nullptr;

void stop_summary_thread() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  delete g_summary_thread;
  g_summary_thread = nullptr;
}

/// One background thread writes; a full queue drops the oldest line rather than
/// blocking an I/O thread (a log flood must not stall the data plane). The event
/// formatter turns records into lines on that thread.
std::shared_ptr<spdlog::logger> make_logger() {
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "omsgw", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  logger->set_formatter(std::make_unique<event_formatter>(&format_in_force));
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::warn);
  spdlog::register_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  return logger;
}

}  // namespace

void init(config::log_format format, std::string_view level_name_text) {
  limiter();  // exists before anything below can use it
  std::lock_guard<std::mutex> lock(g_init_mutex);
  g_format.store(static_cast<int>(format));
  g_level.store(static_cast<int>(parse_level(level_name_text)));
  if (!std::atomic_load(&g_logger)) {
    std::atomic_store(&g_logger, make_logger());
    g_summary_thread = new summary_thread();
    std::atexit(stop_summary_thread);
  }
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
  const auto logger = std::atomic_load(&g_logger);
  if (!logger) {  // before init(): format here, straight to stderr
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    const auto line = format_line(format_in_force(), lvl, event, ctx, message, fields, ms);
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
    return;
  }
  // Only the record is built here; the line is formatted on the logger's thread.
  const std::string record = pack_record(event, ctx, message, fields);
  logger->log(spdlog_level(lvl), spdlog::string_view_t(record.data(), record.size()));
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

}  // namespace omsgw::events
