/// \file
/// `omsgw relay-proxy` (see cli_relay.hpp). The password itself never passes through
/// here: only the path of a file that only its owner can read.

#include "cli/cli_relay.hpp"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/i18n.hpp"
#include "config/config_file.hpp"

namespace omsgw::cli::detail {
namespace {

/// The absolute path of a file the service reads (password file, keytab, CA file), so
/// the YAML names it wherever the service runs from. Symbolic links are kept, not
/// resolved: a Kubernetes Secret (`..data` swapped on rotation) or an operator's
/// "current" link must keep pointing at the next version. Whether the file is usable
/// (private, parses) is checked with the rest of the configuration before the file
/// is written. "" stays "" (unset).
bool absolute_file(const std::string& path, std::string& absolute, std::string& why) {
  if (path.empty()) {
    absolute.clear();
    return true;
  }
  absolute = std::filesystem::absolute(path).lexically_normal().string();
  if (::access(absolute.c_str(), F_OK) != 0) {
    why = format(_("cannot use %1%: %2%"), path, errno_text(errno));
    return false;
  }
  return true;
}

/// The options of `set`, each a scalar key of relay_proxy; paths are made absolute.
struct scalar_option {
  const char* option;
  const char* key;
  bool path;
};
constexpr scalar_option k_scalars[] = {
    {"--address", "address", false},   {"--auth", "auth", false},
    {"--username", "username", false}, {"--password-file", "password_file", true},
    {"--keytab", "keytab", true},      {"--ca-file", "ca_file", true},
};

void show(const context& c, const cfg::relay_proxy_config& r) {
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
    return out.empty() ? std::string(_("none")) : out;
  };
  auto path = [](const std::string& p) {
    return p.empty() ? std::string(_("not set")) : format(_("set (%1%)"), p);
  };
  c.out << label_table(
      {// TRANSLATORS: the labels of `relay-proxy get`, one per relay_proxy setting; the
       // values (URLs, the auth scheme, paths) are not translated.
       {_("address:"), r.address.empty() ? _("none (direct connections)") : r.address},
       {_("fallback:"), list(r.fallback)},
       {_("auth:"), cfg::to_string(r.auth)},
       {_("username:"), r.username.empty() ? _("none") : r.username},
       {_("password file:"), path(r.password_file)},
       {_("keytab:"), path(r.keytab)},
       {_("ca file:"), r.ca_file.empty() ? _("system store") : r.ca_file},
       {_("bypass:"), list(r.bypass)}},
      15);
}

/// `set`: the options given replace their keys, the others stay (SPEC relay-proxy).
int set_relay(const context& c, const cli_args& a) {
  std::set<std::string> allowed = {"--fallback"};
  for (const auto& o : k_scalars) allowed.insert(o.option);
  if (!only_options(a, allowed, c.err)) return exit_usage;
  if (a.options.empty()) {
    c.err << _(
        "omsgw relay-proxy set: needs at least one of --address URL, --fallback URL, "
        "--auth SCHEME, --username U, --password-file F, --keytab F, --ca-file F\n");
    return exit_usage;
  }
  if (a.has("--address") && a.options.at("--address").empty()) {
    c.err << _(
        "omsgw relay-proxy set: --address needs http(s)://HOST:PORT (use `clear` to "
        "remove the relay)\n");
    return exit_usage;
  }
  std::vector<std::pair<const char*, std::string>> scalars;
  std::string message;
  for (const auto& o : k_scalars) {
    if (!a.has(o.option)) continue;
    std::string value = a.options.at(o.option);
    std::string why;
    if (o.path && !absolute_file(a.options.at(o.option), value, why)) {
      c.err << format(_("omsgw: %1%\n"), why);
      return exit_failure;
    }
    scalars.emplace_back(o.key, value);
    message += std::string(message.empty() ? "" : ", ") +
               (value.empty() ? format(_("%1% cleared"), o.key) : std::string(o.key) + " " + value);
  }
  std::vector<std::string> fallback;
  if (a.has("--fallback")) {
    for (const auto& f : a.repeated.at("--fallback")) {
      if (!f.empty()) fallback.push_back(cfg::yaml_string(f));
    }
    message += std::string(message.empty() ? "" : ", ") +
               (fallback.empty() ? format(_("%1% cleared"), "fallback")
                                 : format(_("fallback %1% relay(s)"), fallback.size()));
  }
  return edit_config(c, [&](const current_file& f) {
    std::string text = f.text;
    bool changed = false;
    for (const auto& [key, value] : scalars) {
      const auto r = cfg::set_scalar(text, {"relay_proxy", key}, cfg::yaml_string(value));
      if (!r.ok()) return from_edit(r, "");
      changed = changed || r.changed;
      text = r.text;
    }
    if (a.has("--fallback")) {
      const auto r = cfg::set_list(text, {"relay_proxy", "fallback"}, fallback);
      if (!r.ok()) return from_edit(r, "");
      changed = changed || r.changed;
      text = r.text;
    }
    change ch;
    ch.text = text;
    ch.changed = changed;
    ch.message = format(_("relay proxy in %1%: %2%"), c.path, message);
    return ch;
  });
}

/// `clear`: no relay (address and fallback go; credentials and bypass stay).
int clear_relay(const context& c, const cli_args& a) {
  if (!only_options(a, {}, c.err)) return exit_usage;
  return edit_config(c, [&](const current_file& f) {
    auto r = cfg::set_scalar(f.text, {"relay_proxy", "address"}, cfg::yaml_string(""));
    if (!r.ok()) return from_edit(r, "");
    const bool changed = r.changed;
    r = cfg::set_list(r.text, {"relay_proxy", "fallback"}, {});
    if (!r.ok()) return from_edit(r, "");
    change ch;
    ch.text = r.text;
    ch.changed = changed || r.changed;
    ch.message = format(_("relay proxy cleared in %1%: direct connections"), c.path);
    return ch;
  });
}

}  // namespace

int relay_proxy(const context& c, const cli_args& a) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    (a.help ? c.out : c.err) << help_for(a.command);
    return a.help ? exit_ok : exit_usage;
  }
  if (sub == "bypass") return relay_bypass_command(c, a);
  if (a.positional.size() != 1) {
    c.err << format(_("omsgw %1%: takes no positional argument\n"), "relay-proxy " + sub);
    return exit_usage;
  }
  if (a.has("--password")) {
    c.err << _(
        "omsgw: passwords are not taken on the command line (they would show in ps and "
        "shell history); write it to a file, chmod 600 it, and pass --password-file\n");
    return exit_usage;
  }
  if (sub == "get") {
    if (!only_options(a, {}, c.err)) return exit_usage;
    const auto config = effective_config(c);
    if (!config) return exit_failure;
    show(c, config->relay_proxy);
    return exit_ok;
  }
  if (sub == "set") return set_relay(c, a);
  if (sub == "clear") return clear_relay(c, a);
  c.err << format(_("omsgw %1%: unknown subcommand '%2%' (%3%)\n"), "relay-proxy", sub,
                  "get | set | clear | bypass");
  return exit_usage;
}

}  // namespace omsgw::cli::detail
