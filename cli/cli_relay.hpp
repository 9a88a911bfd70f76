#pragma once
/// \file
/// `omsgw relay-proxy get | set | clear`: the relay (upstream) proxy settings.
/// Internal to cli/cli*.cpp.

#include "cli/cli_support.hpp"

namespace omsgw::cli::detail {

/// `omsgw relay-proxy get | set --address URL [--username U --password-file F] | clear`.
int relay_proxy(const context& c, const cli_args& a);

}  // namespace omsgw::cli::detail
