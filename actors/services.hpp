#pragma once
/// \file
/// What every actor may use: the metrics (incremented by reference) and fixed
/// process facts. Shared, immutable after start-up.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "metrics/admin_auth.hpp"
#include "metrics/metrics.hpp"

namespace omsgw::actors {

/// Which policy snapshot and relay target are in force, as numbers a session reads
/// with one atomic load instead of asking the policy store and the relay actor: those
/// two actors store a new number whenever they swap (a reload). A session that holds
/// the snapshot and relay its listener handed it decides on its own while both
/// numbers still match; otherwise it asks, as it always may.
struct route_generations {
  std::atomic<std::uint64_t> policy{0};  ///< version of the policy snapshot in force
  std::atomic<std::uint64_t> relay{0};   ///< bumped by every relay update
};

struct services {
  std::shared_ptr<metrics::gateway_metrics> metrics;
  std::string version;
  std::uint64_t capacity = 0;  ///< max concurrent client connections
  std::shared_ptr<route_generations> generations = std::make_shared<route_generations>();
  /// admin.token_file's token in force (the config reloader replaces it).
  std::shared_ptr<metrics::admin_token> admin_token = std::make_shared<metrics::admin_token>();
};
using services_ptr = std::shared_ptr<const services>;

}  // namespace omsgw::actors
