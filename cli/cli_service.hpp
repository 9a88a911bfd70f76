#pragma once
/// \file
/// The commands about the service itself: `run`, `check-config`, `version`, and the
/// top-level usage. Internal to cli/cli*.cpp.

#include "cli/cli.hpp"
#include "cli/cli_support.hpp"

namespace omsgw::cli::detail {

/// `omsgw run [--threads N]`: validates the options and calls `run`.
int run_command(const context& c, const cli_args& a, const run_fn& run);

/// `omsgw check-config`: validates the configuration as `run` would load it.
int check_config(const context& c, const cli_args& a);

/// `omsgw version`.
int version(const context& c, const cli_args& a);

/// The usage of every command, for `omsgw --help` and usage errors.
void print_usage(std::ostream& out);

}  // namespace omsgw::cli::detail
