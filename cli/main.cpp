// omsgw: the command-line entry point. It only wires the libraries: the command line
// is cli/'s, the running service actors/'.
#include <iostream>
#include <string>
#include <vector>

#include "actors/gateway.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"

int main(int argc, char** argv) {
  omsgw::cli::init_i18n();
  const std::vector<std::string> args(argv + 1, argv + argc);
  return omsgw::cli::run_cli(args, std::cout, std::cerr, [](const omsgw::cli::run_request& r) {
    omsgw::actors::run_options o;
    o.config_path = r.config_path;
    o.config_explicit = r.config_given;
    o.threads = r.threads;
    return omsgw::actors::run_gateway(o);
  });
}
