#pragma once
/// \file
/// What every actor may use: the metrics (incremented by reference) and fixed
/// process facts. Shared, immutable after start-up.

#include <cstdint>
#include <memory>
#include <string>

#include "metrics/metrics.hpp"

namespace omsgw::actors {

struct services {
  std::shared_ptr<metrics::gateway_metrics> metrics;
  std::string version;
  std::uint64_t capacity = 0;  ///< max concurrent client connections
};
using services_ptr = std::shared_ptr<const services>;

}  // namespace omsgw::actors
