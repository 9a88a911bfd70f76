#pragma once
/// \file
/// The `omsgw` command line (SPEC.md "Commands"): one argument parser and one
/// dispatch for every command. `run` starts the service through the function main()
/// wires in (the CLI links no actor); `check-config` and `version` are here; the
/// management commands -- the OMS Gateway cmdlets' counterparts: config get/set,
/// allowed-host, allowed-client-cert, automation-hosts, relay-proxy, reload, status --
/// edit the YAML file in place (config/editor), validate the result as check-config
/// does, and replace the file atomically under an exclusive lock (config/config_file);
/// the running service notices the new file by itself (inotify). `reload` and `status`
/// talk to the admin endpoint.

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace omsgw::cli {

/// What `omsgw run` asks for.
struct run_request {
  std::string config_path;    ///< --config F; "" when not given
  bool config_given = false;  ///< --config given: the file must exist
  unsigned threads = 0;       ///< --threads N; 0 = one per core
};

/// Runs the service in the foreground; returns the exit code (actors::run_gateway).
using run_fn = std::function<int(const run_request&)>;

/// Runs one command. `args` excludes the program name; `--config F` may appear
/// anywhere. Returns the exit code: 0 success, 1 failure, 2 usage error.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const run_fn& run);

}  // namespace omsgw::cli
