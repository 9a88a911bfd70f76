#pragma once
/// \file
/// Loading and validating omsgw's YAML configuration. Pure: text in, typed config
/// or a list of located errors out. Exceptions stay inside config/.

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "net/grammar/message.hpp"

namespace omsgw::config {

/// One validation problem, located in the source text.
struct config_error {
  std::string key;      ///< dotted path, e.g. "listen.port" or "allowed_hosts[2]"
  int line = 0;         ///< 1-based; 0 when unknown (e.g. file unreadable)
  int column = 0;       ///< 1-based; 0 when unknown
  std::string message;  ///< English, e.g. "expected an integer in 1..65535, got 'text'"
  /// The same message for translation (the CLI); empty where only the English exists
  /// (an operating-system error text, say).
  grammar::message text;
};

/// An error whose English `message` is `text` rendered.
config_error make_error(std::string key, int line, int column, grammar::message text);

/// "FILE:LINE:COL: KEY: MESSAGE" -- the format check-config prints and event 401 logs.
/// With a translator (the CLI), MESSAGE is translated; the prefix never is.
std::string format_error(const std::string& source_name, const config_error& e,
                         grammar::message::translator tr = nullptr);

/// The result of a load: either a config, or at least one error.
struct load_result {
  std::optional<gateway_config> config;
  std::vector<config_error> errors;
  bool ok() const { return config.has_value(); }
};

/// Parses and validates YAML text. Collects every error it can (not only the first):
/// unknown keys, wrong types, out-of-range values, bad CIDRs/IPs/host patterns/GUIDs.
/// A document with no mapping (empty, blank, comments only, a lone "---" or null) is an
/// error, so a truncated file never widens the policy; "{}" yields the defaults.
load_result parse_config(const std::string& yaml_text);

/// Spellings used in the YAML file ("json", "reject"); config.hpp declares the
/// tls_version and run_mode ones.
std::string to_string(log_format f);
std::string to_string(unverifiable_cert_action a);

/// The default path, /etc/omsgw/omsgw.yaml.
const char* default_config_path();

}  // namespace omsgw::config
