/// \file
/// The flood limiter (see flood_limiter.hpp): sharded window counters, eviction and
/// summaries. Pure of any logging: the caller writes the summaries it is handed.

#include "metrics/flood_limiter.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <unordered_map>

#include <spdlog/fmt/fmt.h>

namespace omsgw::events {
namespace {

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

}  // namespace omsgw::events
