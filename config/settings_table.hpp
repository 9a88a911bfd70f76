#pragma once
/// \file
/// The table of settings behind `omsgw config get/set`: each dotted YAML key, its kind,
/// its OMS Gateway aliases, whether the CLI may set it, and how its value reads back
/// from a loaded configuration or is written as YAML. Pure.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace omsgw::config {

enum class setting_kind {
  integer,
  boolean,
  choice,       ///< one of a fixed set of lower-case words (mode, log.format, ...)
  tls_version,  ///< "1.0".."1.3"
  text,         ///< free text / address
  list,         ///< list of scalars
  table,        ///< structured (workspaces, upstream.resolve): read-only here
};

struct setting {
  std::string_view key;  ///< dotted YAML key
  setting_kind kind;
  std::vector<std::string_view> aliases;  ///< OMS-style names, matched ignoring case
  bool settable = true;                   ///< false: changed by another command or in the file
  std::string_view note;                  ///< shown by `config --help`
};

/// Every setting, in SPEC.md order.
const std::vector<setting>& settings();

/// Finds a setting by dotted key or alias, ignoring case. nullptr when unknown.
const setting* find_setting(std::string_view name);

/// The effective value of a setting as display text: one string for a scalar, one
/// per item for a list ("ID CLOUD" / "HOST IP" rows for tables).
std::vector<std::string> setting_values(const gateway_config& cfg, const setting& s);

/// The YAML text `config set` writes for a scalar setting, normalising friendly
/// spellings (True -> true, Report -> report, TLS1.3 -> "1.3"). Validation of the
/// result is the loader's job.
std::string setting_yaml_value(const setting& s, std::string_view value);

}  // namespace omsgw::config
