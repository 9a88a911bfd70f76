/// \file
/// What the management commands share (see cli_support.hpp): the argument parser,
/// reading the configuration, and the locked read-modify-write of the file (the file
/// itself -- lock, read, atomic write -- is config/config_file's).

#include "cli/cli_support.hpp"

#include <algorithm>
#include <cstring>

#include "cli/i18n.hpp"
#include "config/config_file.hpp"
#include "config/loader.hpp"

namespace omsgw::cli::detail {

// ---------------------------------------------------------------------------------
// Arguments

namespace {

/// Options that take a value, and options that are flags, over all commands.
const std::set<std::string> k_value_options = {
    "--config",  "--address",  "--username", "--password-file", "--password",
    "--threads", "--fallback", "--auth",     "--keytab",        "--ca-file"};
const std::set<std::string> k_flag_options = {"--help", "-h", "--all"};

bool looks_numeric(const std::string& s) {
  return s.size() > 1 && s[0] == '-' && std::all_of(s.begin() + 1, s.end(), [](char c) {
           return (c >= '0' && c <= '9') || c == '.';
         });
}

}  // namespace

cli_args parse_args(const std::vector<std::string>& args) {
  cli_args a;
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    std::string positional;
    if (only_positional || s.empty() || s[0] != '-' || s == "-" || looks_numeric(s)) {
      positional = s;
    } else if (s == "--") {
      only_positional = true;
      continue;
    } else {
      const std::size_t eq = s.find('=');
      const std::string name = s.substr(0, eq);
      if (k_flag_options.count(name) && eq == std::string::npos) {
        if (name == "--help" || name == "-h") {
          a.help = true;
        } else {
          a.flags.insert(name);
        }
      } else if (k_value_options.count(name)) {
        std::string value;
        if (eq != std::string::npos) {
          value = s.substr(eq + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else if (a.error.empty()) {
          a.error = format(_("%1% needs a value"), name);
        }
        if (name == "--config") {
          a.config = value;
          a.config_given = true;
        } else {
          a.options[name] = value;
          a.repeated[name].push_back(value);
        }
      } else if (a.error.empty()) {
        a.error = format(_("unknown option %1%"), s);
      }
      continue;
    }
    if (a.command.empty()) {
      a.command = positional;
    } else {
      a.positional.push_back(positional);
    }
  }
  return a;
}

/// Rejects options a command does not take.
bool only_options(const cli_args& a, const std::set<std::string>& allowed, std::ostream& err) {
  for (const auto& [name, value] : a.options) {
    if (!allowed.count(name)) {
      err << format(_("omsgw %1%: unknown option %2%\n"), a.command, name);
      return false;
    }
  }
  for (const auto& name : a.flags) {
    if (!allowed.count(name)) {
      err << format(_("omsgw %1%: unknown option %2%\n"), a.command, name);
      return false;
    }
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::string errno_text(int e) { return std::strerror(e); }

// ---------------------------------------------------------------------------------
// The configuration file

cfg::config_source context::source() const { return cfg::choose_source(path, explicit_path); }

void print_errors(const context& c, const std::vector<cfg::config_error>& errors) {
  for (const auto& e : errors) c.err << cfg::format_error(c.path, e, &lookup) << "\n";
}

std::optional<cfg::gateway_config> effective_config(const context& c, std::string* text_out) {
  auto load = cfg::load_source(c.source(), cfg::file_checks::yaml_only);
  if (!load.ok()) {
    print_errors(c, load.errors);
    c.err << format(_("omsgw: cannot use %1% (%2% error(s))\n"), c.path, load.errors.size());
    return std::nullopt;
  }
  if (text_out) *text_out = std::move(load.loaded->text);
  return *load.loaded->config;
}

namespace {

/// The change decided under the lock, validated, written. Returns the exit code.
int apply_change(const context& c, const std::string& file, const change& ch) {
  if (!ch.error.empty()) {
    c.err << format(_("omsgw: %1%\n"), ch.error);
    return exit_failure;
  }
  if (!ch.changed) {
    if (!ch.message.empty()) c.out << ch.message << "\n";
    return exit_ok;
  }
  // The service would refuse what check-config refuses: the YAML and the files it names.
  const auto check = cfg::load_text(ch.text, c.path);
  if (!check.ok()) {
    print_errors(c, check.errors);
    c.err << format(_("omsgw: refused: the change would make %1% invalid (%2% error(s); lines "
                      "as in the edited text); %1% is unchanged\n"),
                    c.path, check.errors.size());
    return exit_failure;
  }
  std::string why;
  if (!cfg::replace_file(file, ch.text, why)) {
    c.err << format(_("omsgw: %1%; %2% is unchanged\n"), why, c.path);
    return exit_failure;
  }
  if (!ch.message.empty()) c.out << ch.message << "\n";
  return exit_ok;
}

}  // namespace

int edit_config(const context& c, const mutation& mutate) {
  // Edit the file a symlink points to (beside it), so the link stays a link.
  const std::string file = cfg::resolve_path(c.path);
  if (auto why = cfg::check_writable(file); !why.empty()) {
    c.err << format(_("omsgw: cannot change %1%: %2%\n"), c.path, why);
    return exit_failure;
  }
  const cfg::file_lock lock(file);
  if (!lock.error().empty()) {
    c.err << format(_("omsgw: %1%\n"), lock.error());
    return exit_failure;
  }
  std::string text;
  std::string why;
  if (cfg::read_text_file(file, text, why) == cfg::read_status::error) {
    c.err << format(_("omsgw: cannot read %1%: %2%\n"), c.path, why);
    return exit_failure;
  }
  std::optional<cfg::gateway_config> current;
  if (auto parsed = cfg::parse_config(text); parsed.ok()) current = std::move(*parsed.config);
  return apply_change(c, file, mutate(current_file{text, current}));
}

change from_edit(const cfg::edit_result& r, std::string message) {
  change ch;
  if (!r.ok()) {
    ch.error = localized(r.why, r.error);
    return ch;
  }
  ch.text = r.text;
  ch.changed = r.changed;
  ch.message = std::move(message) + (r.changed ? "" : _(" (no change)"));
  return ch;
}

}  // namespace omsgw::cli::detail
