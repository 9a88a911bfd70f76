/// \file
/// The command line (see cli.hpp): the management commands' help texts and the one
/// dispatch. Each command is a small function over the parsed argument list, in
/// cli_service.cpp (run, check-config, version), cli_config.cpp (config, allowed-host,
/// allowed-client-cert, automation-hosts), cli_relay.cpp (relay-proxy) and
/// cli_admin.cpp (reload, status, over the admin endpoint); the parts they share --
/// the argument parser, reading the effective configuration and the locked
/// read-modify-write of the file -- are in cli_support.cpp.

#include "cli/cli.hpp"

#include <iomanip>
#include <set>

#include "cli/cli_admin.hpp"
#include "cli/cli_config.hpp"
#include "cli/cli_relay.hpp"
#include "cli/cli_service.hpp"
#include "cli/cli_support.hpp"
#include "cli/i18n.hpp"
#include "config/loader.hpp"

namespace omsgw::cli {
namespace detail {

// ---------------------------------------------------------------------------------
// Help

namespace {

constexpr const char* k_usage = N_(
    "  config get [KEY] | set KEY VALUE    read/change one setting (OMS names accepted)\n"
    "  allowed-host add|remove HOST | list [--all]\n"
    "                                      allowed destinations (--all: also derived ones)\n"
    "  allowed-client-cert add|remove SUBJECT | list\n"
    "                                      allowed client-certificate subjects\n"
    "  automation-hosts [REGION]           Azure Automation hybrid-worker hosts of a region\n"
    "  relay-proxy get | set --address URL [--fallback URL]... [--auth SCHEME] [--username U\n"
    "              --password-file F] [--keytab F] [--ca-file F] | clear | bypass add|remove|list\n"
    "                                      the relay (upstream) proxy\n"
    "  reload                              ask the running service to reload now\n"
    "  status                              counters and config version of the running service\n");

}  // namespace

const char* help_for(const std::string& command) {
  if (command == "allowed-host") {
    return _(
        "usage: omsgw allowed-host add HOST [--config F]\n"
        "       omsgw allowed-host remove HOST [--config F]\n"
        "       omsgw allowed-host list [--all] [--config F]\n"
        "Changes allowed_hosts (Add/Remove/Get-OMSGatewayAllowedHost). HOST is an exact name,\n"
        "an IP address or a *.suffix wildcard. `list` shows the configured entries; `--all`\n"
        "adds the hosts derived from `workspaces` and `automation_regions`, each with its\n"
        "origin. A running gateway applies a change within a second, without a restart.\n");
  }
  if (command == "allowed-client-cert") {
    return _(
        "usage: omsgw allowed-client-cert add SUBJECT [--config F]\n"
        "       omsgw allowed-client-cert remove SUBJECT [--config F]\n"
        "       omsgw allowed-client-cert list [--config F]\n"
        "Changes allowed_client_certificates (...AllowedClientCertificate). SUBJECT is the\n"
        "certificate subject as logged by event 105, e.g. \"CN=agent01\". An empty list means\n"
        "client certificates are not checked.\n");
  }
  if (command == "automation-hosts") {
    return _(
        "usage: omsgw automation-hosts [REGION]\n"
        "Prints the Azure Automation Job Runtime Data and Agent service hosts of REGION\n"
        "(\"West Europe\", \"westeurope\" and \"west-europe\" all work), or of every region\n"
        "when REGION is omitted. Add a region's hosts to the allow-list with\n"
        "  omsgw config set automation_regions westeurope[,northeurope...]\n");
  }
  if (command == "relay-proxy") {
    return _(
        "usage: omsgw relay-proxy get [--config F]\n"
        "       omsgw relay-proxy set [--address http(s)://HOST:PORT] [--fallback URL]...\n"
        "             [--auth auto|basic|digest|ntlm|negotiate] [--username U]\n"
        "             [--password-file F] [--keytab F] [--ca-file F] [--config F]\n"
        "       omsgw relay-proxy clear [--config F]\n"
        "       omsgw relay-proxy bypass add|remove HOST | list [--config F]\n"
        "Shows or changes the relay (upstream) proxy (Get/Set-OMSGatewayRelayProxy). `set`\n"
        "replaces the settings it is given and keeps the others (an empty value clears one;\n"
        "--fallback may repeat and replaces the list). `clear` removes address and fallback,\n"
        "not bypass. Bypassed hosts (allowed_hosts patterns) go direct.\n"
        "The password is never given on the command line nor printed: put it in a file that\n"
        "only its owner can read (chmod 600) and pass --password-file.\n");
  }
  if (command == "reload") {
    return _(
        "usage: omsgw reload [--config F]\n"
        "Asks the running service (POST /reload on its admin endpoint, admin.address and\n"
        "admin.port from the configuration) to reload now, prints the result and exits 1 when\n"
        "the reload was refused or the service cannot be reached. Not needed after CLI edits:\n"
        "the service watches its file.\n");
  }
  if (command == "status") {
    return _(
        "usage: omsgw status [--config F]\n"
        "Prints version, uptime, configuration version and hash, the OMS counters (Active\n"
        "Client Connection, Connected Client, Error Count, Rejection Count), mode and relay of\n"
        "the running service, read from GET /status on its admin endpoint.\n");
  }
  return nullptr;
}

void print_config_help(std::ostream& out) {
  out << _(
      "usage: omsgw config get [KEY] [--config F]\n"
      "       omsgw config set KEY VALUE [--config F]\n"
      "Reads or changes one setting (Get/Set-OMSGatewayConfig). KEY is the dotted YAML key\n"
      "or its OMS-style alias, in any case. `get` without KEY prints every setting, marking\n"
      "those the file does not set. For a list, `set` takes the items as separate arguments\n"
      "or comma-separated (`config set allowed_ports 443,8443`). The new file is validated\n"
      "before it is written; a running gateway applies the change without a restart, except\n"
      "listen.address, listen.port, admin.address and admin.port, which take effect at the\n"
      "next restart.\n\n"
      "keys and aliases:\n");
  for (const auto& s : cfg::settings()) {
    std::string aliases;
    for (auto a : s.aliases) aliases += (aliases.empty() ? "" : ", ") + std::string(a);
    out << "  " << std::left << std::setw(36) << s.key << std::setw(44) << aliases;
    if (!s.settable) out << _("read-only: ");
    out << translate(s.note) << "\n";
  }
}

const char* command_usage() { return k_usage; }

}  // namespace detail

using namespace detail;

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const run_fn& run) {
  const cli_args a = parse_args(args);
  if (!a.error.empty()) {
    err << "omsgw" << (a.command.empty() ? "" : " " + a.command) << ": " << a.error << "\n";
    if (a.command.empty()) print_usage(err);
    return exit_usage;
  }
  if (a.command.empty() || a.command == "help") {
    const bool asked = a.help || a.command == "help";
    print_usage(asked ? out : err);
    return asked ? exit_ok : exit_usage;
  }
  if (a.command != "run" && a.has("--threads")) {
    err << format(_("omsgw %1%: unknown option %2%\n"), a.command, "--threads");
    return exit_usage;
  }
  const context c{a.config_given ? a.config : cfg::default_config_path(), a.config_given, out, err};
  if (a.command == "run") return run_command(c, a, run);
  if (a.command == "check-config") return check_config(c, a);
  if (a.command == "version") return version(c, a);
  if (a.command == "config") return config_command(c, a);
  if (a.command == "allowed-host") return allowed_host_command(c, a);
  if (a.command == "allowed-client-cert") return allowed_client_cert_command(c, a);
  if (a.command == "automation-hosts") return automation_hosts(c, a);
  if (a.command == "relay-proxy") return relay_proxy(c, a);
  if (a.command == "reload") return reload(c, a);
  if (a.command == "status") return status(c, a);
  err << format(_("omsgw: unknown command '%1%'\n"), a.command);
  print_usage(err);
  return exit_usage;
}

}  // namespace omsgw::cli
