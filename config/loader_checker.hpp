#pragma once
/// \file
/// The located walk over the YAML tree: a `checker` visits maps and lists, reads
/// scalars as typed values and records every problem with its dotted key, line and
/// column (config_error). Internal to config/; loader.cpp drives it.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.hpp"
#include "config/loader_text.hpp"

namespace omsgw::config::detail {

/// Where a value sits: its dotted key and its position in the text.
struct where {
  std::string key;
  YAML::Mark mark;
};

/// Reads (and validates) the value of one key found at `at`.
using value_reader = std::function<void(const YAML::Node& value, const where& at)>;

/// One allowed key of a map and how to read its value.
struct key_rule {
  std::string_view name;
  value_reader read;
};

/// The dotted key of `key` under `path` ("listen" + "port" -> "listen.port").
std::string child(const std::string& path, std::string_view key);

/// Quoted scalars are strings, even when their text looks like a number or a bool.
bool is_quoted(const YAML::Node& n);

/// A value from the file as an error message shows it: at most 60 characters, and a
/// URL's userinfo masked (a relay address refused for carrying a password must not
/// put the password in the log).
std::string shown(const std::string& value);

/// How an error message names a value: "a list", "'text'", "the quoted string \"1\"".
message describe(const YAML::Node& n);

/// Collects located errors while the readers walk the document.
class checker {
 public:
  /// Records `message` for the value at `at` (yaml-cpp's 0-based marks made 1-based).
  void fail(const where& at, message why);

  /// Position of a key the walk has seen, for checks that span several keys.
  std::optional<where> seen(const std::string& key) const;

  /// Visits every entry of a map, reporting non-scalar and duplicate keys. A key with no
  /// value (e.g. "clients:" as the last line of a truncated file) is an error, never an
  /// empty map: it would put the section's defaults (every client, no admin token, no
  /// relay) in force. `{}` asks for the defaults.
  void each_entry(const YAML::Node& n, const where& at,
                  const std::function<void(const std::string& key, const YAML::Node& key_node,
                                           const YAML::Node& value, const where& vat)>& fn);

  /// A map with a fixed set of keys; unknown keys are errors with a suggestion.
  void walk_map(const YAML::Node& n, const where& at, const std::vector<key_rule>& rules);

  /// A list; each item is visited with key "path[i]". Returns false when not a list.
  bool walk_list(const YAML::Node& n, const where& at,
                 const std::function<void(const YAML::Node&, const where&)>& item);

  /// An unquoted decimal in lo..hi.
  std::optional<std::uint32_t> integer(const YAML::Node& n, const where& at, std::uint32_t lo,
                                       std::uint32_t hi);

  /// An unquoted true or false.
  std::optional<bool> boolean(const YAML::Node& n, const where& at);

  /// A scalar as text, "" included (callers that need more check it). A key with no
  /// value is an error: a truncated line must not clear a setting such as a token.
  /// empty_ok: "" means "none" for this key, and the error says to write it.
  /// `what` names the expected value ("a file path", marked with N_).
  std::optional<std::string> text(const YAML::Node& n, const where& at, const char* what,
                                  bool empty_ok);

  /// A scalar that is exactly one of the names in `choices`; its value.
  template <class E>
  std::optional<E> choice(const YAML::Node& n, const where& at,
                          const std::vector<std::pair<std::string_view, E>>& choices) {
    std::vector<std::string_view> names;
    for (const auto& c : choices) names.push_back(c.first);
    if (n.IsScalar()) {
      for (const auto& c : choices) {
        if (c.first == n.Scalar()) return c.second;
      }
    }
    fail(at, message(N_("expected one of %1%, got %2%%3%"), join(names, "|"), describe(n),
                     n.IsScalar() ? did_you_mean(n.Scalar(), names) : message()));
    return std::nullopt;
  }

  /// The errors so far, in text order (stable for errors at the same position).
  std::vector<config_error> take_errors();

 private:
  std::vector<config_error> errors_;
  std::map<std::string, YAML::Mark> marks_;
};

}  // namespace omsgw::config::detail
