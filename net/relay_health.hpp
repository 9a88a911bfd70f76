#pragma once
/// \file
/// Which relays are skipped for now (SPEC relay_proxy.fallback): a relay that could not
/// be reached (refused or timed out at TCP/TLS level: skips_relay) is skipped for
/// relay_skip_time by every new tunnel, then tried again. Process-wide, keyed by the
/// relay's display form, so a reload that keeps a relay keeps its state. Never after an
/// answer: neither a refusal (the tunnel falls back, the relay stays up) nor an
/// authentication failure.

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "net/relay_handshake.hpp"
#include "net/relay_open.hpp"

namespace omsgw::net {

constexpr std::chrono::seconds relay_skip_time{30};

class relay_health {
 public:
  using clock = std::chrono::steady_clock;
  static relay_health& instance();

  bool skipped(const std::string& relay, clock::time_point now) const;
  /// Records how an attempt ended; returns true when the relay is skipped from now.
  bool report(const std::string& relay, relay_outcome outcome, clock::time_point now);
  /// The first relay of the chain (head, head->fallback, ...) not skipped now; when all
  /// are skipped, head (a dead route is retried rather than refused outright).
  std::shared_ptr<const relay_target> pick(const std::shared_ptr<const relay_target>& head,
                                           clock::time_point now) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, clock::time_point> skip_until_;
};

}  // namespace omsgw::net
