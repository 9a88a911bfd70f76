/// \file
/// The commands over settings (see cli_config.hpp). Changes go through edit_config,
/// so the file is validated before it is replaced.

#include "cli/cli_config.hpp"

#include <algorithm>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>

#include "cli/i18n.hpp"
#include "config/derived_hosts.hpp"
#include "config/loader.hpp"
#include "net/policy.hpp"

namespace omsgw::cli::detail {

// ---------------------------------------------------------------------------------
// config get / set

namespace {

/// SPEC.md "Configuration": every setting applies at reload except the sockets the
/// service has bound; those four are stored and take effect at the next restart.
bool restart_needed(std::string_view key) {
  return key == "listen.address" || key == "listen.port" || key == "admin.address" ||
         key == "admin.port";
}

std::string display_list(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

int config_get(const context& c, const cli_args& a) {
  if (a.positional.size() > 2) {
    c.err << _("omsgw config get: takes at most one KEY\n");
    return exit_usage;
  }
  std::string text;
  const auto config = effective_config(c, &text);
  if (!config) return exit_failure;
  if (a.positional.size() == 2) {
    const auto* s = cfg::find_setting(a.positional[1]);
    if (!s) {
      c.err << format(_("omsgw: unknown setting '%1%'; `omsgw config --help` lists keys and "
                        "aliases\n"),
                      a.positional[1]);
      return exit_failure;
    }
    for (const auto& v : cfg::setting_values(*config, *s)) c.out << v << "\n";
    return exit_ok;
  }
  for (const auto& s : cfg::settings()) {
    const auto values = cfg::setting_values(*config, s);
    const bool list = s.kind == cfg::setting_kind::list || s.kind == cfg::setting_kind::table;
    if (list) {
      c.out << s.key << ": " << display_list(values);
    } else {
      c.out << s.key << ": " << (values.at(0).empty() ? "\"\"" : values.at(0));
    }
    if (!cfg::has_key(text, cfg::split_key(s.key))) c.out << "  " << _("(default)");
    c.out << "\n";
  }
  return exit_ok;
}

/// List values from the command line: separate arguments and/or comma-separated,
/// optionally in brackets ("[443, 8443]").
std::vector<std::string> split_items(const std::vector<std::string>& args) {
  std::vector<std::string> items;
  for (std::string arg : args) {
    arg = trim(arg);
    if (!arg.empty() && arg.front() == '[' && arg.back() == ']')
      arg = arg.substr(1, arg.size() - 2);
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!trim(item).empty()) items.push_back(trim(item));
    }
  }
  return items;
}

/// The value `config set` reports: as the edited file now reads (Report -> report,
/// TLS1.3 -> 1.3), or as typed when the edit is refused anyway.
std::string stored_value(const cfg::edit_result& r, const cfg::setting* s,
                         const std::string& typed) {
  if (s && r.ok()) {
    if (const auto parsed = cfg::parse_config(r.text); parsed.ok()) {
      const auto values = cfg::setting_values(*parsed.config, *s);
      if (values.size() == 1) return values.front();
    }
  }
  return std::string(trim(typed));
}

int config_set(const context& c, const cli_args& a) {
  if (a.positional.size() < 3) {
    c.err << _("omsgw config set: needs KEY and VALUE\n");
    return exit_usage;
  }
  const std::string& name = a.positional[1];
  const std::vector<std::string> values(a.positional.begin() + 2, a.positional.end());
  const auto* s = cfg::find_setting(name);
  std::string key = s ? std::string(s->key) : lower(name);
  if (!s && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") != std::string::npos) {
    c.err << format(_("omsgw: unknown setting '%1%'; `omsgw config --help` lists keys and "
                      "aliases\n"),
                    name);
    return exit_failure;
  }
  if (s && !s->settable) {
    c.err << format(_("omsgw: %1% cannot be set with `config set` (%2%)\n"), s->key,
                    translate(s->note));
    return exit_failure;
  }
  const bool list = s && s->kind == cfg::setting_kind::list;
  if (!list && values.size() != 1) {
    c.err << format(_("omsgw config set: %1% takes one VALUE (quote a value with spaces)\n"), key);
    return exit_usage;
  }
  const char* done = restart_needed(key) ? _("%1% = %2% in %3% (takes effect at the next restart)")
                                         : _("%1% = %2% in %3%");
  return edit_config(c, [&](const current_file& f) {
    if (list) {
      std::vector<std::string> items;
      for (const auto& item : split_items(values)) {
        items.push_back(key == "allowed_ports" ? cfg::yaml_token(item) : cfg::yaml_string(item));
      }
      return from_edit(cfg::set_list(f.text, cfg::split_key(key), items),
                       format(done, key, display_list(split_items(values)), c.path));
    }
    // Unknown keys are written as a plain token: the loader then names the key.
    const std::string yaml =
        s ? cfg::setting_yaml_value(*s, values[0]) : cfg::yaml_token(values[0]);
    const cfg::edit_result r = cfg::set_scalar(f.text, cfg::split_key(key), yaml);
    return from_edit(r, format(done, key, stored_value(r, s, values[0]), c.path));
  });
}

}  // namespace

int config_command(const context& c, const cli_args& a) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    print_config_help(a.help ? c.out : c.err);
    return a.help ? exit_ok : exit_usage;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (sub == "get") return config_get(c, a);
  if (sub == "set") return config_set(c, a);
  c.err << format(_("omsgw %1%: unknown subcommand '%2%' (%3%)\n"), "config", sub, "get | set");
  return exit_usage;
}

// ---------------------------------------------------------------------------------
// allowed-host / allowed-client-cert

namespace {

std::vector<std::string> yaml_strings(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) out.push_back(cfg::yaml_string(v));
  return out;
}

/// Normalises one list item the way the loader does (lower-case host, trimmed subject,
/// ...) by loading a one-item document; returns "" and sets `why` when it is invalid.
std::string normalise_item(const std::string& key, const std::string& value, std::string& why) {
  const auto* s = cfg::find_setting(key);
  const auto doc = cfg::set_list("", cfg::split_key(key), {cfg::yaml_string(value)});
  if (!doc.ok() || !s) {
    why = localized(doc.why, doc.error);
    return "";
  }
  const auto loaded = cfg::parse_config(doc.text);
  if (!loaded.ok()) {
    why = localized(loaded.errors.front().text, loaded.errors.front().message);
    return "";
  }
  const auto values = cfg::setting_values(*loaded.config, *s);
  return values.empty() ? std::string() : values.front();
}

/// The list commands share their shape; these name the key and the wording. Each
/// message is a whole sentence per list (translations need the noun's gender and case).
struct list_command {
  const char* key;  ///< "allowed_hosts"
  std::vector<std::string> (*defaults)();
  const char* invalid;  ///< %1% why
  const char* present;  ///< %1% item, %2% file
  const char* added;    ///< %1% item, %2% file
  const char* removed;  ///< %1% item, %2% file
  const char* absent;   ///< %1% item, %2% file
};

std::vector<std::string> default_hosts() { return cfg::gateway_config{}.allowed_hosts; }
std::vector<std::string> default_subjects() {
  return cfg::gateway_config{}.allowed_client_certificates;
}

std::vector<std::string> no_defaults() { return {}; }

const list_command k_hosts{"allowed_hosts",
                           &default_hosts,
                           N_("omsgw: invalid allowed host: %1%\n"),
                           N_("%1% is already an allowed host in %2%"),
                           N_("added allowed host %1% to %2%"),
                           N_("removed allowed host %1% from %2%"),
                           N_("%1% is not an allowed host in %2%")};
const list_command k_bypass{"relay_proxy.bypass",
                            &no_defaults,
                            N_("omsgw: invalid entry of relay_proxy.bypass: %1%\n"),
                            N_("%1% is already an entry of relay_proxy.bypass in %2%"),
                            N_("added %1% to relay_proxy.bypass in %2%"),
                            N_("removed %1% from relay_proxy.bypass in %2%"),
                            N_("%1% is not an entry of relay_proxy.bypass in %2%")};
const list_command k_subjects{"allowed_client_certificates",
                              &default_subjects,
                              N_("omsgw: invalid allowed client certificate: %1%\n"),
                              N_("%1% is already an allowed client certificate in %2%"),
                              N_("added allowed client certificate %1% to %2%"),
                              N_("removed allowed client certificate %1% from %2%"),
                              N_("%1% is not an allowed client certificate in %2%")};

const char* origin_name(net::host_origin o) {
  switch (o) {
    case net::host_origin::configured:
      return "configured";
    case net::host_origin::workspace:
      return "workspace";
    case net::host_origin::automation_region:
      return "automation_region";
  }
  return "";
}

int list_add(const context& c, const list_command& lc, const std::string& value) {
  std::string why;
  const std::string item = normalise_item(lc.key, value, why);
  if (item.empty()) {
    c.err << format(_(lc.invalid), why);
    return exit_failure;
  }
  return edit_config(c, [&](const current_file& f) {
    const auto& current = f.config ? *f.config : cfg::gateway_config{};
    const auto values = cfg::setting_values(current, *cfg::find_setting(lc.key));
    change ch;
    if (f.config && std::find(values.begin(), values.end(), item) != values.end()) {
      ch.message = format(_(lc.present), item, c.path);
      return ch;
    }
    return from_edit(cfg::add_list_item(f.text, cfg::split_key(lc.key), cfg::yaml_string(item),
                                        yaml_strings(lc.defaults())),
                     format(_(lc.added), item, c.path));
  });
}

int list_remove(const context& c, const list_command& lc, const std::string& value) {
  std::string why;
  std::string item = normalise_item(lc.key, value, why);
  if (item.empty()) item = trim(value);           // an invalid entry can still be removed verbatim
  std::map<std::string, std::string> normalised;  // cache: one loader run per entry
  const auto matches = [&](const std::string& entry) {
    auto it = normalised.find(entry);
    if (it == normalised.end()) {
      std::string ignored;
      it = normalised.emplace(entry, normalise_item(lc.key, entry, ignored)).first;
    }
    return it->second == item || entry == value;
  };
  return edit_config(c, [&](const current_file& f) {
    auto ch = from_edit(cfg::remove_list_items(f.text, cfg::split_key(lc.key), matches,
                                               yaml_strings(lc.defaults())),
                        format(_(lc.removed), item, c.path));
    if (ch.error.empty() && !ch.changed) {
      ch.error = format(_(lc.absent), item, c.path);
      if (f.config && std::string(lc.key) == "allowed_hosts") {
        const auto p = net::make_policy(std::make_shared<const cfg::gateway_config>(*f.config), 0);
        for (const auto& h : p->hosts) {
          if (h.pattern == item && h.origin != net::host_origin::configured) {
            ch.error += format(_("; it is derived from %1% %2%: remove that from the "
                                 "configuration instead"),
                               origin_name(h.origin), h.source);
          }
        }
      }
    }
    return ch;
  });
}

int list_show(const context& c, const list_command& lc, bool all) {
  const auto config = effective_config(c);
  if (!config) return exit_failure;
  if (!all) {
    for (const auto& v : cfg::setting_values(*config, *cfg::find_setting(lc.key))) {
      c.out << v << "\n";
    }
    return exit_ok;
  }
  const auto p = net::make_policy(std::make_shared<const cfg::gateway_config>(*config), 0);
  std::size_t width = 4;
  for (const auto& h : p->hosts) width = std::max(width, h.pattern.size());
  // The headings are translated; the origins are YAML key names and stay.
  c.out << pad_to_width(_("HOST"), width + 2) << pad_to_width(_("ORIGIN"), 19) << _("SOURCE")
        << "\n";
  for (const auto& h : p->hosts) {
    c.out << std::left << std::setw(static_cast<int>(width + 2)) << h.pattern << std::setw(19)
          << origin_name(h.origin) << h.source << "\n";
  }
  return exit_ok;
}

int list_command_main(const context& c, const cli_args& a, const list_command& lc, bool allow_all) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    (a.help ? c.out : c.err) << help_for(a.command);
    return a.help ? exit_ok : exit_usage;
  }
  const bool list = sub == "list";
  if (!only_options(a, list && allow_all ? std::set<std::string>{"--all"} : std::set<std::string>{},
                    c.err)) {
    return exit_usage;
  }
  if (list) {
    if (a.positional.size() != 1) {
      c.err << format(_("omsgw %1%: takes no argument\n"), a.command + " list");
      return exit_usage;
    }
    return list_show(c, lc, a.flags.count("--all") > 0);
  }
  if (sub != "add" && sub != "remove") {
    c.err << format(_("omsgw %1%: unknown subcommand '%2%' (%3%)\n"), a.command, sub,
                    "add | remove | list");
    return exit_usage;
  }
  if (a.positional.size() != 2) {
    c.err << format(std::string_view(lc.key) != k_subjects.key
                        ? _("omsgw %1%: needs exactly one HOST\n")
                        : _("omsgw %1%: needs exactly one SUBJECT (quote a subject with spaces)\n"),
                    a.command + " " + sub);
    return exit_usage;
  }
  return sub == "add" ? list_add(c, lc, a.positional[1]) : list_remove(c, lc, a.positional[1]);
}

}  // namespace

int allowed_host_command(const context& c, const cli_args& a) {
  return list_command_main(c, a, k_hosts, true);
}

int allowed_client_cert_command(const context& c, const cli_args& a) {
  return list_command_main(c, a, k_subjects, false);
}

int relay_bypass_command(const context& c, const cli_args& a) {
  cli_args rest = a;  // "bypass add HOST" -> "add HOST"
  if (!rest.positional.empty()) rest.positional.erase(rest.positional.begin());
  return list_command_main(c, rest, k_bypass, false);
}

// ---------------------------------------------------------------------------------
// automation-hosts

int automation_hosts(const context& c, const cli_args& a) {
  if (a.help) {
    c.out << help_for(a.command);
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (a.positional.empty()) {
    for (const auto& row : cfg::automation_region_table()) {
      c.out << row.key << " (" << row.display_name << ")\n  " << row.job_runtime_data << "\n  "
            << row.agent_service << "\n";
    }
    return exit_ok;
  }
  std::string name;
  for (const auto& p : a.positional) name += (name.empty() ? "" : " ") + p;
  const auto* row = cfg::find_automation_region(name);
  if (!row) {
    c.err << format(_("omsgw: unknown Azure Automation region '%1%'; known regions:"), name);
    for (const auto& r : cfg::automation_region_table()) c.err << " " << r.key;
    c.err << "\n";
    return exit_failure;
  }
  c.out << row->job_runtime_data << "\n" << row->agent_service << "\n";
  return exit_ok;
}

}  // namespace omsgw::cli::detail
