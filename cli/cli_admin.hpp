#pragma once
/// \file
/// The commands that talk to the running service's admin endpoint (admin.address and
/// admin.port of the configuration): `reload` and `status`. Internal to
/// cli/cli*.cpp.

#include "cli/cli_support.hpp"

namespace omsgw::cli::detail {

/// `omsgw reload`: POST /reload, prints the outcome.
int reload(const context& c, const cli_args& a);

/// `omsgw status`: GET /status, prints version, uptime, config version and counters.
int status(const context& c, const cli_args& a);

}  // namespace omsgw::cli::detail
