#pragma once
/// \file
/// Wires the running service: configuration, logging, the Asio I/O threads, the
/// actor system and its actors, signals, drain and an orderly teardown.

#include <string>

namespace omsgw::actors {

struct run_options {
  std::string config_path;       ///< file to load; empty = default path if it exists
  bool config_explicit = false;  ///< --config given: the file must exist
  unsigned threads = 0;          ///< I/O threads; 0 = one per core
};

/// Runs the gateway in the foreground until SIGTERM/SIGINT; returns the exit code.
int run_gateway(const run_options& options);

}  // namespace omsgw::actors
