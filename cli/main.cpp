// omsgw: the command-line entry point. It only parses the command and wires the
// libraries; every behaviour lives in cli/, actors/, net/, config/ and metrics/.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "actors/gateway.hpp"
#include "actors/relay.hpp"
#include "config/loader.hpp"

namespace {

void print_usage(std::ostream& out) {
  out << "usage: omsgw COMMAND [--config FILE] [options]\n"
         "\n"
         "commands:\n"
         "  run [--threads N]                   run the gateway in the foreground\n"
         "  check-config                        validate the configuration, print errors with "
         "line/column\n"
      << omsgw::cli::cli_usage()
      << "  version                             print the version\n"
         "\n"
         "Every command takes --config FILE anywhere among its arguments (default\n"
         "/etc/omsgw/omsgw.yaml; with no such file, `run` uses the embedded defaults).\n"
         "`omsgw COMMAND --help` shows a command's help.\n";
}

struct args {
  std::string command;
  std::vector<std::string> positional;
  std::string config;
  bool config_given = false;
  bool help = false;
  unsigned threads = 0;
  std::string error;
};

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&](const char* name) -> std::string {
      const std::string prefix = std::string(name) + "=";
      if (s.rfind(prefix, 0) == 0) return s.substr(prefix.size());
      if (i + 1 >= argc) {
        a.error = std::string(name) + " needs a value";
        return {};
      }
      return argv[++i];
    };
    if (s == "--help" || s == "-h") {
      a.help = true;
    } else if (s == "--config" || s.rfind("--config=", 0) == 0) {
      a.config = value("--config");
      a.config_given = true;
    } else if (s == "--threads" || s.rfind("--threads=", 0) == 0) {
      const auto v = value("--threads");
      try {
        const long n = std::stol(v);
        if (n < 1 || n > 256) throw std::out_of_range("threads");
        a.threads = static_cast<unsigned>(n);
      } catch (const std::exception&) {
        a.error = "--threads must be a number in 1..256, got '" + v + "'";
      }
    } else if (!s.empty() && s[0] == '-') {
      a.error = "unknown option " + s;
    } else if (a.command.empty()) {
      a.command = s;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

int check_config(const args& a) {
  std::string path = a.config_given ? a.config : omsgw::config::default_config_path();
  auto result = omsgw::config::load_config_file(path);
  if (!a.config_given && !result.ok() && result.errors.size() == 1 && result.errors[0].line == 0) {
    std::cout << "no " << path << ": the embedded defaults would be used (valid)\n";
    return 0;
  }
  if (!result.ok()) {
    for (const auto& e : result.errors) {
      std::cerr << omsgw::config::format_error(path, e) << "\n";
    }
    std::cerr << result.errors.size() << " error(s) in " << path << "\n";
    return 1;
  }
  // The relay password file is part of the configuration: the service refuses to
  // start with one that is missing or readable by group/others, so say so here too.
  const auto relay = omsgw::actors::load_relay_target(result.config->relay_proxy);
  if (!relay.ok()) {
    std::cerr << path << ": " << relay.key << ": " << relay.error << "\n";
    std::cerr << "1 error(s) in " << path << "\n";
    return 1;
  }
  std::cout << path << ": valid\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The management commands have their own options (--all, --address, ...).
  const std::vector<std::string> all_args(argv + 1, argv + argc);
  if (omsgw::cli::is_cli_command(omsgw::cli::cli_command_of(all_args))) {
    return omsgw::cli::run_cli(all_args, std::cout, std::cerr);
  }
  const args a = parse(argc, argv);
  if (!a.error.empty()) {
    std::cerr << "omsgw: " << a.error << "\n";
    print_usage(std::cerr);
    return 2;
  }
  if (a.command.empty()) {
    print_usage(a.help ? std::cout : std::cerr);
    return a.help ? 0 : 2;
  }
  if (a.command == "run") {
    if (a.help) {
      std::cout << "usage: omsgw run [--config FILE] [--threads N]\n"
                   "Runs the gateway in the foreground, logging events to stderr.\n"
                   "SIGHUP reloads the configuration; SIGTERM/SIGINT drain, a second one stops.\n";
      return 0;
    }
    omsgw::actors::run_options o;
    o.config_path = a.config;
    o.config_explicit = a.config_given;
    o.threads = a.threads;
    return omsgw::actors::run_gateway(o);
  }
  if (a.command == "check-config") {
    if (a.help) {
      std::cout
          << "usage: omsgw check-config [--config FILE]\n"
             "Validates the configuration; prints FILE:LINE:COL: KEY: MESSAGE for each error\n"
             "and exits 1 on error.\n";
      return 0;
    }
    return check_config(a);
  }
  if (a.command == "version") {
    if (a.help) {
      std::cout << "usage: omsgw version\nPrints the version.\n";
      return 0;
    }
    std::cout << "omsgw " << OMSGW_VERSION << "\n";
    return 0;
  }
  if (a.command == "help") {
    print_usage(std::cout);
    return 0;
  }
  std::cerr << "omsgw: unknown command '" << a.command << "'\n";
  print_usage(std::cerr);
  return 2;
}
