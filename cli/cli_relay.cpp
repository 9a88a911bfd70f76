/// \file
/// `omsgw relay-proxy` (see cli_relay.hpp). The password itself never passes through
/// here: only the path of a file that only its owner can read.

#include "cli/cli_relay.hpp"

#include <unistd.h>

#include <cerrno>
#include <utility>

#include "config/config_file.hpp"
#include "cli/i18n.hpp"

namespace omsgw::cli::detail {
namespace {

/// The absolute path of a password file, so the YAML names it wherever the service
/// runs from. Whether the file is usable (private, one line) is checked with the rest
/// of the configuration before the file is written (config::read_relay_password).
bool absolute_password_file(const std::string& path, std::string& absolute, std::string& why) {
  absolute = cfg::resolve_path(path);
  if (::access(absolute.c_str(), F_OK) != 0) {
    why = "cannot use password file " + path + ": " + errno_text(errno);
    return false;
  }
  return true;
}

}  // namespace

int relay_proxy(const context& c, const cli_args& a) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    (a.help ? c.out : c.err) << help_for(a.command);
    return a.help ? exit_ok : exit_usage;
  }
  if (a.positional.size() != 1) {
    c.err << format(_("omsgw %1%: takes no positional argument\n"), "relay-proxy " + sub);
    return exit_usage;
  }
  if (a.has("--password")) {
    c.err << "omsgw: passwords are not taken on the command line (they would show in ps and "
             "shell history); write it to a file, chmod 600 it, and pass --password-file\n";
    return exit_usage;
  }
  if (sub == "get") {
    if (!only_options(a, {}, c.err)) return exit_usage;
    const auto config = effective_config(c);
    if (!config) return exit_failure;
    const auto& r = config->relay_proxy;
    c.out << "address:       " << (r.address.empty() ? "none (direct connections)" : r.address)
          << "\n"
          << "username:      " << (r.username.empty() ? "none" : r.username) << "\n"
          << "password file: "
          << (r.password_file.empty() ? "not set" : "set (" + r.password_file + ")") << "\n";
    return exit_ok;
  }
  std::string address;
  std::string username;
  std::string password_file;
  if (sub == "set") {
    if (!only_options(a, {"--address", "--username", "--password-file"}, c.err)) return exit_usage;
    if (!a.has("--address") || a.options.at("--address").empty()) {
      c.err << "omsgw relay-proxy set: needs --address http://HOST:PORT (use `clear` to remove "
               "the relay)\n";
      return exit_usage;
    }
    address = a.options.at("--address");
    if (a.has("--username") != a.has("--password-file")) {
      c.err << _("omsgw relay-proxy set: --username and --password-file go together\n");
      return exit_usage;
    }
    if (a.has("--username")) {
      username = a.options.at("--username");
      std::string why;
      if (!absolute_password_file(a.options.at("--password-file"), password_file, why)) {
        c.err << "omsgw: " << why << "\n";
        return exit_failure;
      }
    }
  } else if (sub == "clear") {
    if (!only_options(a, {}, c.err)) return exit_usage;
  } else {
    c.err << format(_("omsgw %1%: unknown subcommand '%2%' (%3%)\n"), "relay-proxy", sub,
                    "get | set | clear");
    return exit_usage;
  }
  const std::string message =
      sub == "clear"
          ? "relay proxy cleared in " + c.path + ": direct connections"
          : "relay proxy set to " + address +
                (username.empty() ? " without credentials"
                                  : " as " + username + " (password from " + password_file + ")") +
                " in " + c.path;
  return edit_config(c, [&](const current_file& f) {
    std::string text = f.text;
    bool changed = false;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"address", address},
                                     {"username", username},
                                     {"password_file", password_file}}) {
      const auto r = cfg::set_scalar(text, {"relay_proxy", key}, cfg::yaml_string(value));
      if (!r.ok()) return from_edit(r, "");
      changed = changed || r.changed;
      text = r.text;
    }
    change ch;
    ch.text = text;
    ch.changed = changed;
    ch.message = message;
    return ch;
  });
}

}  // namespace omsgw::cli::detail
