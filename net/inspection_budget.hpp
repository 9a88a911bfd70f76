#pragma once
/// \file
/// The memory all TLS handshake inspectors of the process may hold at once. An
/// inspector buffers a handshake message until it is whole (net/tls_inspector); a
/// client that trickles a large one and stalls holds up to max_handshake_bytes per
/// direction for handshake_timeout_s. Without a shared bound, capacity x 128 KiB
/// (about 4 GiB at 32,688 tunnels) could be held at once. Each tunnel takes from this
/// budget before its buffer grows and gives back when it shrinks, reaches a verdict or
/// ends; a tunnel whose growth finds the budget spent is refused (event 400,
/// reason=limit) instead of the process running out of memory.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace omsgw::net::tls {

/// Bytes of handshake buffers allowed per tunnel of the capacity, on average: well
/// above a real handshake's (a ClientHello of 0.5-2 KiB, a server flight of 4-8 KiB,
/// each freed once judged), and 1/8 of what a stalled hostile one could hold.
inline constexpr std::size_t budget_per_tunnel = 16 * 1024;
/// The budget's ceiling, whatever the capacity.
inline constexpr std::size_t max_budget = std::size_t{256} * 1024 * 1024;

/// The budget for a gateway that admits capacity tunnels at once.
inline std::size_t budget_for(std::uint64_t capacity) {
  const std::uint64_t wanted = capacity * budget_per_tunnel;
  return static_cast<std::size_t>(std::min<std::uint64_t>(wanted, max_budget));
}

class inspection_budget {
 public:
  /// Takes n bytes if the total stays within limit (the limit of the snapshot the
  /// caller was admitted under); else takes nothing and says so.
  bool take(std::size_t n, std::size_t limit) {
    std::size_t held = held_.load(std::memory_order_relaxed);
    do {
      if (n > limit || held > limit - n) return false;
    } while (!held_.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::size_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t held() const { return held_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> held_{0};
};

/// The process's one budget (never destroyed: tunnels cut at exit still give back).
inline inspection_budget& process_budget() {
  static auto* budget = new inspection_budget;
  return *budget;
}

/// What one inspector may draw on: the shared budget and the limit it was admitted
/// under. No pool: unbounded (unit tests, fuzzing).
struct budget_share {
  inspection_budget* pool = nullptr;
  std::size_t limit = 0;
};

}  // namespace omsgw::net::tls
