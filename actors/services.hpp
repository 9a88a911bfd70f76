#pragma once
/// \file
/// What every actor may use: the metrics (incremented by reference) and fixed
/// process facts. Shared, immutable after start-up.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <mutex>

#include "metrics/admin_auth.hpp"
#include "metrics/metrics.hpp"
#include "net/policy.hpp"
#include "net/relay_handshake.hpp"

namespace omsgw::actors {

/// What the listener knew when it admitted a connection, or what a session last read:
/// the policy snapshot and the relay target in force with the relay actor's generation.
struct route_view {
  static constexpr std::uint64_t unknown_generation = ~std::uint64_t{0};
  net::policy_ptr policy;
  net::relay_ptr relay;
  std::uint64_t relay_generation = unknown_generation;  ///< unknown: never current
};

/// The one route by which policy and relay reach the listener and the sessions. The
/// policy store and the relay actor publish here whenever they swap (a reload), the
/// numbers before their subscribers hear of it. A reader holding a route_view checks
/// with two atomic loads (route_is_current) whether it is still in force -- the case
/// for every tunnel between reloads -- and only otherwise copies the route in force
/// under the lock (in_force). No actor is asked per tunnel.
struct route_generations {
  std::atomic<std::uint64_t> policy{0};  ///< version of the policy snapshot in force
  /// Bumped by every relay update; unknown until the relay (or the gateway) publishes.
  std::atomic<std::uint64_t> relay{route_view::unknown_generation};

  /// The policy store: p is in force from now on.
  void publish_policy(net::policy_ptr p) {
    std::lock_guard<std::mutex> lock(mu_);
    policy.store(p ? p->version : 0, std::memory_order_release);
    policy_ = std::move(p);
  }
  /// The relay actor: r (null: direct) is in force from now on, as generation g.
  void publish_relay(net::relay_ptr r, std::uint64_t g) {
    std::lock_guard<std::mutex> lock(mu_);
    relay.store(g, std::memory_order_release);
    relay_ = std::move(r);
  }
  /// The route in force (a consistent copy).
  route_view in_force() const {
    std::lock_guard<std::mutex> lock(mu_);
    return route_view{policy_, relay_, relay.load(std::memory_order_relaxed)};
  }

 private:
  mutable std::mutex mu_;
  net::policy_ptr policy_;
  net::relay_ptr relay_;
};

/// True while view's policy and relay are the ones in force (two atomic loads): then
/// deciding with them gives what the route in force would.
inline bool route_is_current(const route_view& view, const route_generations& in_force) {
  return view.policy && view.relay_generation != route_view::unknown_generation &&
         view.relay_generation == in_force.relay.load(std::memory_order_acquire) &&
         view.policy->version == in_force.policy.load(std::memory_order_acquire);
}

/// view itself while it is in force, else the route in force.
inline route_view current_route(route_view view, const route_generations& in_force) {
  return route_is_current(view, in_force) ? view : in_force.in_force();
}

struct services {
  std::shared_ptr<metrics::gateway_metrics> metrics;
  std::string version;
  std::uint64_t capacity = 0;  ///< derived from the open-files limit (max_connections: 0)
  std::shared_ptr<route_generations> generations = std::make_shared<route_generations>();
  /// admin.token_file's token in force (the config reloader replaces it).
  std::shared_ptr<metrics::admin_token> admin_token = std::make_shared<metrics::admin_token>();
};
using services_ptr = std::shared_ptr<const services>;

}  // namespace omsgw::actors
