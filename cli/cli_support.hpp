#pragma once
/// \file
/// What the management commands (cli.hpp) share; internal to cli/cli*.cpp. The
/// parsed argument list, the command context, reading the effective configuration,
/// and the locked read-modify-write of the file every changing command goes through.

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/config_file.hpp"
#include "config/editor.hpp"
#include "config/settings_table.hpp"

namespace omsgw::cli::detail {

namespace cfg = omsgw::config;

/// Exit codes (cli.hpp): success, failure, usage error.
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

// ---------------------------------------------------------------------------------
// Arguments

/// One command line, parsed over all commands' options.
struct cli_args {
  std::string command;
  std::vector<std::string> positional;  ///< after the command word
  std::map<std::string, std::string> options;
  std::map<std::string, std::vector<std::string>> repeated;  ///< every value of an option, in order
  std::set<std::string> flags;
  std::string config;
  bool config_given = false;
  bool help = false;
  std::string error;

  bool has(const std::string& o) const { return options.count(o) > 0; }
};

/// Parses `args` (without the program name); the first problem lands in `error`.
cli_args parse_args(const std::vector<std::string>& args);

/// Rejects options a command does not take.
bool only_options(const cli_args& a, const std::set<std::string>& allowed, std::ostream& err);

/// ASCII lower case.
std::string lower(std::string s);

/// `s` without leading and trailing blanks and tabs.
std::string trim(const std::string& s);

/// The text of errno value `e`.
std::string errno_text(int e);

// ---------------------------------------------------------------------------------
// The configuration file

/// What every command runs with: the configuration file and the output streams.
struct context {
  std::string path;
  bool explicit_path = false;  ///< given with --config (a missing file is then an error)
  std::ostream& out;
  std::ostream& err;
  /// The file to read: --config, or the default path (missing: embedded defaults).
  cfg::config_source source() const;
};

/// Prints located errors as "FILE:LINE:COL: KEY: MESSAGE", one a line, to c.err.
void print_errors(const context& c, const std::vector<cfg::config_error>& errors);

/// The configuration a command reads: the file, or the embedded defaults when the
/// default path does not exist (as `omsgw run` does). Prints why on failure.
std::optional<cfg::gateway_config> effective_config(const context& c,
                                                    std::string* text_out = nullptr);

/// What a mutation of the file text decided.
struct change {
  std::string text;  ///< the new text (when changed)
  bool changed = false;
  std::string message;  ///< printed on success (also when nothing changed)
  std::string error;    ///< non-empty: refused, nothing written
};

/// The current file as a mutation sees it.
struct current_file {
  const std::string& text;  ///< "" when the file does not exist yet
  /// The effective config, when the current text is valid.
  const std::optional<cfg::gateway_config>& config;
};

/// Decides the new text from the current file; runs under the file lock.
using mutation = std::function<change(const current_file&)>;

/// The locked read-modify-write every changing command goes through: resolve a
/// symlink, refuse a read-only file or mount (naming it), lock, read, mutate, validate
/// the new text as check-config would (config::load_text), replace atomically beside
/// the resolved file. Returns the exit code.
int edit_config(const context& c, const mutation& mutate);

/// The change an editor result makes; `message` gets " (no change)" when it changed
/// nothing.
change from_edit(const cfg::edit_result& r, std::string message);

// ---------------------------------------------------------------------------------
// Help (defined in cli.cpp, beside the usage lines)

/// The `--help` text of a command other than `config`; nullptr for an unknown one.
const char* help_for(const std::string& command);

/// The usage lines of the management commands, for `omsgw --help`.
const char* command_usage();

/// The `config --help` text, with every key and its aliases.
void print_config_help(std::ostream& out);

}  // namespace omsgw::cli::detail
