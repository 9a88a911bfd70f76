#pragma once
// One worker process of omsgw-loadgen: an epoll loop driving its share of the
// connections through set-up, the measurement window and the drain.

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>

#include "options.hpp"
#include "report.hpp"

namespace omsgw::loadgen {

/// The first hop, resolved once before the workers fork.
struct endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

/// This worker's connections: global indices [first, first + count) of `total`
/// (set-ups and POSTs are staggered by global index, so workers interleave).
struct share {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  std::uint64_t total = 0;
};

/// Called once every connection has been set up (or failed once); returns when the
/// measurement window may open (all workers ready). Argument: tunnels up.
using ready_fn = std::function<void(std::uint64_t established)>;

/// Runs the worker to completion. Returns false (with `error`) if it could not start.
bool run_worker(const options& opts, const endpoint& first_hop, const share& mine,
                const ready_fn& on_ready, stats& out, std::string& error);

}  // namespace omsgw::loadgen
