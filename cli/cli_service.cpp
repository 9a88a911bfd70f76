/// \file
/// `run`, `check-config`, `version` and the top-level usage (see cli_service.hpp).

#include "cli/cli_service.hpp"

#include "cli/i18n.hpp"
#include "config/config_file.hpp"
#include "config/loader.hpp"

namespace omsgw::cli::detail {
namespace {

/// --threads bounds: at least one I/O thread, at most a number no host needs.
constexpr long k_max_threads = 256;

}  // namespace

void print_usage(std::ostream& out) {
  out << _("usage: omsgw COMMAND [--config FILE] [options]\n"
           "\n"
           "commands:\n"
           "  run [--threads N]                   run the gateway in the foreground\n"
           "  check-config                        validate the configuration, print errors "
           "with line/column\n")
      << _(command_usage())
      << _("  version                             print the version\n"
           "\n"
           "Every command takes --config FILE anywhere among its arguments (default\n"
           "/etc/omsgw/omsgw.yaml; with no such file, `run` uses the embedded defaults).\n"
           "`omsgw COMMAND --help` shows a command's help.\n");
}

int run_command(const context& c, const cli_args& a, const run_fn& run) {
  if (a.help) {
    c.out << _(
        "usage: omsgw run [--config FILE] [--threads N]\n"
        "Runs the gateway in the foreground, logging events to stderr.\n"
        "SIGHUP reloads the configuration; SIGTERM/SIGINT drain, a second one stops.\n");
    return exit_ok;
  }
  if (!only_options(a, {"--threads"}, c.err)) return exit_usage;
  if (!a.positional.empty()) {
    c.err << format(_("omsgw %1%: takes no argument\n"), "run");
    return exit_usage;
  }
  run_request r;
  r.config_path = a.config;
  r.config_given = a.config_given;
  if (a.has("--threads")) {
    const std::string& v = a.options.at("--threads");
    long n = 0;
    try {
      std::size_t used = 0;
      n = std::stol(v, &used);
      if (used != v.size()) n = 0;
    } catch (const std::exception&) {
      n = 0;
    }
    if (n < 1 || n > k_max_threads) {
      c.err << format(_("omsgw run: --threads must be a number in 1..%1%, got '%2%'\n"),
                      k_max_threads, v);
      return exit_usage;
    }
    r.threads = static_cast<unsigned>(n);
  }
  return run(r);
}

int check_config(const context& c, const cli_args& a) {
  if (a.help) {
    c.out << _(
        "usage: omsgw check-config [--config FILE]\n"
        "Validates the configuration as `run` and a reload would load it (the YAML and\n"
        "the files it names); prints FILE:LINE:COL: KEY: MESSAGE for each error and "
        "exits\n1 on error. Only a missing default file means the embedded defaults.\n");
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (!a.positional.empty()) {
    c.err << format(_("omsgw %1%: takes no argument\n"), "check-config");
    return exit_usage;
  }
  const auto load = cfg::load_source(c.source());
  if (!load.ok()) {
    print_errors(c, load.errors);
    c.err << format(_("%1% error(s) in %2%\n"), load.errors.size(), c.path);
    return exit_failure;
  }
  if (load.loaded->embedded) {
    c.out << format(_("no %1%: the embedded defaults would be used (valid)\n"), c.path);
    return exit_ok;
  }
  c.out << format(_("%1%: valid\n"), c.path);
  return exit_ok;
}

int version(const context& c, const cli_args& a) {
  if (a.help) {
    c.out << _("usage: omsgw version\nPrints the version.\n");
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  c.out << "omsgw " << OMSGW_VERSION << "\n";
  return exit_ok;
}

}  // namespace omsgw::cli::detail
