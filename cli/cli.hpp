#pragma once
/// \file
/// The management commands of `omsgw` (SPEC.md "Commands"), the OMS Gateway cmdlets'
/// counterparts: config get/set, allowed-host, allowed-client-cert, automation-hosts,
/// relay-proxy, reload, status. Commands that change settings edit the YAML file in
/// place (config/editor), validate the result with the loader, and replace the file
/// atomically under an exclusive lock; the running service notices the new file by
/// itself (inotify). `reload` and `status` talk to the admin endpoint.

#include <ostream>
#include <string>
#include <vector>

namespace omsgw::cli {

/// The command word of an argument list (without the program name): the first
/// argument that is neither an option nor an option's value. "" when there is none.
std::string cli_command_of(const std::vector<std::string>& args);

/// True for the commands run_cli handles.
bool is_cli_command(const std::string& command);

/// The usage lines of the management commands, for `omsgw --help`.
const char* cli_usage();

/// Runs one management command. `args` excludes the program name; `--config F` may
/// appear anywhere. Returns the exit code: 0 success, 1 failure, 2 usage error.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace omsgw::cli
