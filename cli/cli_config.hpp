#pragma once
/// \file
/// The commands over settings: `config get|set`, the list commands `allowed-host`
/// and `allowed-client-cert`, and `automation-hosts`. Internal to cli/cli*.cpp.

#include "cli/cli_support.hpp"

namespace omsgw::cli::detail {

/// `omsgw config get [KEY] | set KEY VALUE...`.
int config_command(const context& c, const cli_args& a);

/// `omsgw allowed-host add|remove HOST | list [--all]`.
int allowed_host_command(const context& c, const cli_args& a);

/// `omsgw allowed-client-cert add|remove SUBJECT | list`.
int allowed_client_cert_command(const context& c, const cli_args& a);

/// `omsgw relay-proxy bypass add|remove HOST | list` (relay_proxy.bypass).
int relay_bypass_command(const context& c, const cli_args& a);

/// `omsgw automation-hosts [REGION]`.
int automation_hosts(const context& c, const cli_args& a);

}  // namespace omsgw::cli::detail
