/// \file
/// YAML -> gateway_config with strict, located validation (SPEC.md "Configuration
/// (YAML)"). The walk visits the document in order and records every problem it
/// finds; a config is returned only when there is none. yaml-cpp exceptions are
/// caught here and turned into errors: nothing escapes the public functions.

#include "config/loader.hpp"

#include "config/subject.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

namespace omsgw::config {
namespace {

// Accepted ranges. These bound what an operator may write, they are not defaults.
constexpr std::uint32_t k_max_port = 65535;
constexpr std::uint32_t k_max_timeout_s = 86400;
constexpr std::uint32_t k_max_connections = 10'000'000;
constexpr std::uint32_t k_max_perfmon_interval_s = 3600;

/// Azure Automation regions with hybrid-worker host tables (SPEC "automation_regions").
constexpr std::array<std::string_view, 10> k_automation_regions = {
    "northcentralus", "westeurope",    "southcentralus", "eastus2",   "canadacentral",
    "northeurope",    "southeastasia", "centralindia",   "japaneast", "australiasoutheast",
};
constexpr std::array<std::string_view, 3> k_clouds = {"AzureCloud", "AzureUSGovernment",
                                                      "AzureChinaCloud"};

// ---------------------------------------------------------------------------------
// Text helpers

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

bool is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

std::string_view trim(std::string_view s) {
  const auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

/// Decimal without sign or leading zeros, at most `hi`.
std::optional<std::uint32_t> parse_decimal(std::string_view s, std::uint32_t hi) {
  if (!all_digits(s) || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char ch : s) v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  if (v > hi) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

/// Optimal-string-alignment distance: a swapped pair of letters counts as one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

/// "; did you mean 'port'?" when one candidate is a likely typo of `got`, else "".
std::string did_you_mean(std::string_view got, const std::vector<std::string_view>& candidates) {
  if (got.size() > 64) return "";  // not a typo, and the distance table would be large
  const std::string g = lower(got);
  std::string_view best;
  std::size_t best_d = SIZE_MAX;
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(g, lower(c));
    const std::size_t allowed = c.size() >= 6 ? 2 : 1;
    if (d <= allowed && d < c.size() && d < best_d) {
      best = c;
      best_d = d;
    }
  }
  return best.empty() ? std::string() : "; did you mean '" + std::string(best) + "'?";
}

std::string join(const std::vector<std::string_view>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Pure value checks. Kept local to config/ on purpose: net/ is a separate library.

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_ip_literal(const std::string& s) { return is_ipv4(s) || is_ipv6(s); }

std::string canonical_ipv6(const std::string& s) {
  in6_addr a{};
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1 || !inet_ntop(AF_INET6, &a, buf, sizeof buf)) {
    return s;
  }
  return buf;
}

/// Validates a lower-case DNS name (RFC 1123 labels; '_' tolerated as in real-world
/// names, matching net/host_match). Returns "" when valid, else why not.
std::string dns_name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 253) return "is longer than 253 characters";
  std::string_view last;
  for (std::size_t start = 0; start <= name.size();) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "has an empty label";
    if (label.size() > 63) return "has a label longer than 63 characters";
    for (char ch : label) {
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
        if (ch == '*') return "may use '*' only as the whole first label, as in *.example.com";
        return std::string("contains '") + ch + "', which is not allowed in a host name";
      }
    }
    if (label.front() == '-' || label.back() == '-')
      return "has a label that starts or ends with '-'";
    last = label;
    start = dot + 1;
  }
  // RFC 3696 section 2: a top-level label is never all-numeric, so "10.0.0.256" is a
  // mistyped address, not a name.
  if (all_digits(last)) return "is neither a valid IP address nor a host name";
  // The resolver (inet_aton) reads "1.0x7f" or "1.2.3.0x4" as IPv4 addresses; net/
  // host_match refuses them as names, so accepting them here would make an entry that
  // never matches.
  in_addr numeric{};
  if (inet_aton(std::string(name).c_str(), &numeric) != 0) {
    return "is neither a valid IP address nor a host name";
  }
  return "";
}

/// Normalises an allowed_hosts entry or host name: lower-case, one trailing dot removed,
/// IPv6 unbracketed and canonical. Wildcards "*.suffix" need a suffix of >= 2 labels.
bool normalise_host(std::string_view in, bool allow_wildcard, std::string& out, std::string& why) {
  std::string s = lower(in);
  if (s.empty()) {
    why = "must not be empty";
    return false;
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
    if (!is_ipv6(s)) {
      why = "is not a valid IPv6 address";
      return false;
    }
  }
  if (s.find(':') != std::string::npos) {
    if (is_ipv6(s)) {
      out = canonical_ipv6(s);
      return true;
    }
    why = std::count(s.begin(), s.end(), ':') == 1
              ? "must not include a port (ports are set by allowed_ports)"
              : "is not a valid IPv6 address";
    return false;
  }
  if (s.back() == '.') s.pop_back();
  if (is_ipv4(s)) {
    out = s;
    return true;
  }
  if (s.size() >= 2 && s[0] == '*' && s[1] == '.') {
    if (!allow_wildcard) {
      why = "must be an exact host name, not a wildcard";
      return false;
    }
    const std::string suffix = s.substr(2);
    if (const std::string p = dns_name_problem(suffix); !p.empty()) {
      why = "is not a valid wildcard: the suffix " + p;
      return false;
    }
    if (suffix.find('.') == std::string::npos) {
      why = "is not a valid wildcard: it needs two labels after '*.', as in *.example.com";
      return false;
    }
    out = s;
    return true;
  }
  if (s == "*") {
    why = "'*' alone would allow every host; list the domains instead";
    return false;
  }
  if (const std::string p = dns_name_problem(s); !p.empty()) {
    why = p;
    return false;
  }
  out = s;
  return true;
}

/// "10.0.0.0/8", "::/0" or a bare address. Returns "" when valid, else why not.
std::string cidr_problem(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  const bool v4 = is_ipv4(addr);
  if (!v4 && !is_ipv6(addr)) return "is not an IP address or CIDR such as 10.0.0.0/8 or ::/0";
  if (slash == std::string_view::npos) return "";
  const std::uint32_t max_prefix = v4 ? 32 : 128;
  if (!parse_decimal(text.substr(slash + 1), max_prefix)) {
    return "has an invalid prefix length: expected 0.." + std::to_string(max_prefix) + " for " +
           (v4 ? "IPv4" : "IPv6");
  }
  return "";
}

/// relay_proxy.address: "" or "http://HOST:PORT" (HOST a name, IPv4 or [IPv6]).
std::string relay_address_problem(std::string_view text) {
  if (text.empty()) return "";
  constexpr std::string_view scheme = "http://";
  const std::string l = lower(text);
  if (l.rfind("https://", 0) == 0) return "uses https; only http:// relay proxies are supported";
  if (l.rfind(scheme, 0) != 0) return "is not of the form http://HOST:PORT";
  std::string_view rest = text.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    return "must not contain credentials; use relay_proxy.username and password_file";
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) return "must not contain a path";
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return "has an unclosed '[' in the host";
    host = rest.substr(1, close - 1);
    if (!is_ipv6(std::string(host))) return "has an invalid IPv6 host";
    if (close + 1 >= rest.size() || rest[close + 1] != ':') {
      return "needs a port, as in http://[2001:db8::1]:3128";
    }
    port = rest.substr(close + 2);
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return "needs a port, as in http://proxy.example.com:3128";
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "has an IPv6 host not written in brackets, as in http://[2001:db8::1]:3128";
    }
    std::string normalised;
    std::string why;
    if (!normalise_host(host, false, normalised, why)) return "has an invalid host: it " + why;
  }
  const auto p = parse_decimal(port, k_max_port);
  if (!p || *p == 0) return "has an invalid port: expected 1..65535";
  return "";
}

/// 8-4-4-4-12 hex digits; returns the lower-case form.
std::optional<std::string> normalise_guid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos ? s[i] != '-' : !is_hex(s[i])) return std::nullopt;
  }
  return lower(s);
}

/// "West Europe", "west-europe" -> "westeurope": how region names are compared.
std::string automation_region_key_form(std::string_view s) {
  std::string key;
  for (char ch : lower(s)) {
    if (ch != ' ' && ch != '-') key += ch;
  }
  return key;
}

/// The table key of a region name, or nullopt when the region is unknown.
std::optional<std::string> automation_region_key(std::string_view s) {
  const std::string key = automation_region_key_form(s);
  for (std::string_view r : k_automation_regions) {
    if (r == key) return key;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------
// The located walk over the YAML tree

/// Where a value sits: its dotted key and its position in the text.
struct where {
  std::string key;
  YAML::Mark mark;
};

using value_reader = std::function<void(const YAML::Node& value, const where& at)>;

struct key_rule {
  std::string_view name;
  value_reader read;
};

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

/// Quoted scalars are strings, even when their text looks like a number or a bool.
bool is_quoted(const YAML::Node& n) { return n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str"; }

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar: {
      std::string text = n.Scalar();
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      return is_quoted(n) ? "the quoted string \"" + text + "\"" : "'" + text + "'";
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

class checker {
 public:
  void fail(const where& at, std::string message) {
    errors_.push_back({at.key, at.mark.line >= 0 ? at.mark.line + 1 : 0,
                       at.mark.column >= 0 ? at.mark.column + 1 : 0, std::move(message)});
  }

  /// Position of a key the walk has seen, for checks that span several keys.
  std::optional<where> seen(const std::string& key) const {
    const auto it = marks_.find(key);
    if (it == marks_.end()) return std::nullopt;
    return where{key, it->second};
  }

  /// Visits every entry of a map, reporting non-scalar and duplicate keys. A null node
  /// (e.g. "tls:" with nothing under it) counts as an empty map when null_is_empty.
  void each_entry(const YAML::Node& n, const where& at, bool null_is_empty,
                  const std::function<void(const std::string& key, const YAML::Node& key_node,
                                           const YAML::Node& value, const where& vat)>& fn) {
    if (n.IsNull() && null_is_empty) return;
    if (!n.IsMap()) {
      fail(at, "expected a map, got " + describe(n));
      return;
    }
    std::map<std::string, int> first_line;
    for (auto it = n.begin(); it != n.end(); ++it) {
      // Copies: the iterator yields a temporary pair, and Node is a cheap handle.
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        fail({at.key, k.Mark()}, "expected a key name, got " + describe(k));
        continue;
      }
      const std::string& name = k.Scalar();
      const where kat{child(at.key, name), k.Mark()};
      if (const auto [pos, fresh] = first_line.emplace(name, k.Mark().line + 1); !fresh) {
        fail(kat, "duplicate key '" + name + "' (first set at line " + std::to_string(pos->second) +
                      ")");
        continue;
      }
      // An empty value's own mark points at the next token; the key is clearer.
      const where vat{kat.key, v.IsNull() ? k.Mark() : v.Mark()};
      marks_[vat.key] = vat.mark;
      fn(name, k, v, vat);
    }
  }

  /// A map with a fixed set of keys; unknown keys are errors with a suggestion.
  void walk_map(const YAML::Node& n, const where& at, const std::vector<key_rule>& rules,
                bool null_is_empty = true) {
    each_entry(
        n, at, null_is_empty,
        [&](const std::string& name, const YAML::Node& k, const YAML::Node& v, const where& vat) {
          for (const key_rule& r : rules) {
            if (r.name == name) {
              r.read(v, vat);
              return;
            }
          }
          std::vector<std::string_view> names;
          for (const key_rule& r : rules) names.push_back(r.name);
          std::string msg = "unknown key '" + name + "'";
          std::string hint = did_you_mean(name, names);
          if (hint.empty() && names.size() <= 8) hint = "; expected one of " + join(names, ", ");
          fail({vat.key, k.Mark()}, msg + hint);
        });
  }

  /// A list; each item is visited with key "path[i]". Returns false when not a list.
  bool walk_list(const YAML::Node& n, const where& at,
                 const std::function<void(const YAML::Node&, const where&)>& item) {
    if (!n.IsSequence()) {
      fail(at, "expected a list, got " + describe(n) +
                   (n.IsNull() ? " (write [] for an empty list)" : ""));
      return false;
    }
    std::size_t i = 0;
    for (const YAML::Node& v : n) {  // extends the temporary's lifetime
      item(v, {at.key + "[" + std::to_string(i++) + "]", v.IsNull() ? at.mark : v.Mark()});
    }
    return true;
  }

  std::optional<std::uint32_t> integer(const YAML::Node& n, const where& at, std::uint32_t lo,
                                       std::uint32_t hi) {
    if (n.IsScalar() && !is_quoted(n)) {
      if (const auto v = parse_decimal(n.Scalar(), hi); v && *v >= lo) return v;
    }
    fail(at, "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                 describe(n));
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& n, const where& at) {
    if (n.IsScalar() && !is_quoted(n)) {
      if (n.Scalar() == "true") return true;
      if (n.Scalar() == "false") return false;
    }
    fail(at, "expected true or false, got " + describe(n));
    return std::nullopt;
  }

  /// A scalar as text. An empty value is "" when empty_ok, else an error.
  std::optional<std::string> text(const YAML::Node& n, const where& at, std::string_view what,
                                  bool empty_ok) {
    if (n.IsNull() && empty_ok) return std::string();
    if (n.IsScalar()) return n.Scalar();
    fail(at, "expected " + std::string(what) + ", got " + describe(n));
    return std::nullopt;
  }

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
    fail(at, "expected one of " + join(names, "|") + ", got " + describe(n) +
                 (n.IsScalar() ? did_you_mean(n.Scalar(), names) : ""));
    return std::nullopt;
  }

  std::vector<config_error> take_errors() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return std::move(errors_);
  }

 private:
  std::vector<config_error> errors_;
  std::map<std::string, YAML::Mark> marks_;
};

// ---------------------------------------------------------------------------------
// Readers: each returns the value_reader for one key, storing into its field only
// when the value is valid (a document with any error yields no config anyway).

value_reader section(checker& c, std::vector<key_rule> rules) {
  return [&c, rules = std::move(rules)](const YAML::Node& v, const where& at) {
    c.walk_map(v, at, rules);
  };
}

template <class T>
value_reader integer_into(checker& c, T& field, std::uint32_t lo, std::uint32_t hi) {
  return [&c, &field, lo, hi](const YAML::Node& v, const where& at) {
    if (const auto x = c.integer(v, at, lo, hi)) field = static_cast<T>(*x);
  };
}

value_reader bool_into(checker& c, bool& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    if (const auto x = c.boolean(v, at)) field = *x;
  };
}

/// Free text where an empty value means "" (paths, user names).
value_reader text_into(checker& c, std::string& field, std::string_view what) {
  return [&c, &field, what](const YAML::Node& v, const where& at) {
    if (auto x = c.text(v, at, what, true)) field = std::move(*x);
  };
}

template <class E>
value_reader choice_into(checker& c, E& field,
                         std::vector<std::pair<std::string_view, E>> choices) {
  return [&c, &field, choices = std::move(choices)](const YAML::Node& v, const where& at) {
    if (const auto x = c.choice(v, at, choices)) field = E(*x);
  };
}

value_reader ip_into(checker& c, std::string& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    const auto s = c.text(v, at, "an IP address", false);
    if (s && !is_ip_literal(*s)) {
      c.fail(at, "expected an IPv4 or IPv6 address such as 0.0.0.0 or ::, got " + describe(v));
    } else if (s) {
      field = *s;
    }
  };
}

/// A list of scalars, each normalised by `norm` (which returns "" or why the item is
/// bad, and sets its output), de-duplicated in order.
using normaliser = std::function<std::string(const std::string& in, std::string& out)>;

value_reader string_set_into(checker& c, std::vector<std::string>& field, std::string_view what,
                             normaliser norm) {
  return [&c, &field, what, norm = std::move(norm)](const YAML::Node& n, const where& at) {
    std::vector<std::string> items;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& v, const where& a) {
      const auto s = c.text(v, a, what, false);
      if (!s) return;
      std::string value;
      if (const std::string why = norm(*s, value); !why.empty()) {
        c.fail(a, s->empty() ? why : "'" + *s + "' " + why);
      } else if (std::find(items.begin(), items.end(), value) == items.end()) {
        items.push_back(std::move(value));
      }
    });
    if (ok) field = std::move(items);
  };
}

normaliser host_pattern() {
  return [](const std::string& s, std::string& out) {
    std::string why;
    return normalise_host(s, true, out, why) ? std::string() : why;
  };
}

normaliser client_cidr() {
  return [](const std::string& s, std::string& out) {
    out = std::string(trim(s));
    return cidr_problem(out);
  };
}

normaliser automation_region() {
  return [](const std::string& s, std::string& out) {
    if (const auto key = automation_region_key(s)) {
      out = *key;
      return std::string();
    }
    const std::vector<std::string_view> known(k_automation_regions.begin(),
                                              k_automation_regions.end());
    std::string hint = did_you_mean(automation_region_key_form(s), known);
    if (hint.empty()) hint = "; known regions: " + join(known, ", ");
    return "is not a known Azure Automation region" + hint;
  };
}

normaliser certificate_subject() {
  return [](const std::string& s, std::string& out) {
    out = std::string(trim(s));
    if (out.empty()) return std::string("must not be empty");
    // Kept as written (the CLI lists it so), but it must read as a subject: an entry
    // that matches no certificate would refuse every agent.
    if (canonical_subject(out).empty()) {
      return std::string(
          "is not a certificate subject: write CN=<name> (matches that common name) or a "
          "whole subject such as CN=agent01,O=Contoso (README \"TLS inspection\")");
    }
    return std::string();
  };
}

value_reader ports_into(checker& c, std::vector<std::uint16_t>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::vector<std::uint16_t> ports;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& v, const where& a) {
      const auto p = c.integer(v, a, 1, k_max_port);
      if (p && std::find(ports.begin(), ports.end(), *p) == ports.end()) {
        ports.push_back(static_cast<std::uint16_t>(*p));
      }
    });
    if (ok && n.size() == 0) c.fail(at, "must list at least one port, e.g. [443]");
    if (ok) field = std::move(ports);
  };
}

value_reader tls_version_into(checker& c, tls_version& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    // Unquoted 1.2 is a YAML float, but yaml-cpp keeps its text, so both spellings
    // compare equal here.
    static constexpr std::pair<std::string_view, tls_version> versions[] = {
        {"1.0", tls_version::tls1_0},
        {"1.1", tls_version::tls1_1},
        {"1.2", tls_version::tls1_2},
        {"1.3", tls_version::tls1_3}};
    for (const auto& [name, version] : versions) {
      if (v.IsScalar() && name == v.Scalar()) {
        field = version;
        return;
      }
    }
    std::string msg = R"(expected one of "1.0"|"1.1"|"1.2"|"1.3", got )" + describe(v);
    if (v.IsScalar() && lower(v.Scalar()).rfind("ssl", 0) == 0) {
      msg += "; SSL 2/3 are always rejected";
    }
    c.fail(at, msg);
  };
}

value_reader relay_address_into(checker& c, std::string& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    const auto s = c.text(v, at, R"(http://HOST:PORT or "")", true);
    if (!s) return;
    if (const std::string why = relay_address_problem(*s); !why.empty()) {
      c.fail(at, "'" + *s + "' " + why);
    } else {
      field = *s;
    }
  };
}

/// upstream.resolve: host name -> IP literal; keys are normalised like allowed_hosts.
value_reader resolve_into(checker& c, std::map<std::string, std::string>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::map<std::string, std::string> resolve;
    c.each_entry(
        n, at, true,
        [&](const std::string& host, const YAML::Node& k, const YAML::Node& ip, const where& vat) {
          const std::string key = at.key + "[" + host + "]";
          std::string name;
          std::string why;
          if (normalise_host(host, false, name, why)) {
            if (is_ip_literal(name)) {
              why = "is an IP address; expected a host name";
            } else if (resolve.count(name)) {
              why = "is listed twice (host names are compared in lower case)";
            }
          }
          if (!why.empty()) c.fail({key, k.Mark()}, "'" + host + "' " + why);
          const auto addr = c.text(ip, {key, vat.mark}, "an IP address", false);
          if (addr && !is_ip_literal(*addr)) {
            c.fail({key, vat.mark}, "expected an IPv4 or IPv6 address, got " + describe(ip));
          } else if (addr && why.empty()) {
            resolve.emplace(name, *addr);
          }
        });
    field = std::move(resolve);
  };
}

/// workspaces: [{id: GUID, cloud: AzureCloud}]; the id is stored lower-case and the
/// cloud name in its canonical spelling (matched case-insensitively).
value_reader workspaces_into(checker& c, std::vector<workspace>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::vector<workspace> items;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& item, const where& iat) {
      workspace ws;
      bool valid = item.IsMap();
      bool has_id = false;
      const value_reader id = [&](const YAML::Node& v, const where& a) {
        has_id = true;
        const auto s = c.text(v, a, "a workspace GUID", false);
        const auto guid = s ? normalise_guid(*s) : std::nullopt;
        if (s && !guid) {
          c.fail(a, "expected a GUID such as 01234567-89ab-cdef-0123-456789abcdef, got " +
                        describe(v));
        }
        valid = valid && guid;
        if (guid) ws.id = *guid;
      };
      const value_reader cloud = [&](const YAML::Node& v, const where& a) {
        const auto s = c.text(v, a, "a cloud name", false);
        const auto it = std::find_if(k_clouds.begin(), k_clouds.end(), [&](std::string_view x) {
          return s && lower(*s) == lower(x);
        });
        if (s && it == k_clouds.end()) {
          const std::vector<std::string_view> names(k_clouds.begin(), k_clouds.end());
          c.fail(a, "expected one of " + join(names, "|") + ", got " + describe(v));
        }
        valid = valid && it != k_clouds.end();
        if (it != k_clouds.end()) ws.cloud = std::string(*it);
      };
      c.walk_map(item, iat, {{"id", id}, {"cloud", cloud}}, false);
      if (item.IsMap() && !has_id) {
        c.fail({child(iat.key, "id"), iat.mark}, "is required: every workspace needs its GUID");
        valid = false;
      }
      if (!valid) return;
      const auto same = std::find_if(items.begin(), items.end(),
                                     [&](const workspace& w) { return w.id == ws.id; });
      if (same == items.end()) {
        items.push_back(ws);
      } else if (same->cloud != ws.cloud) {
        c.fail(iat, "workspace " + ws.id + " is listed twice with different clouds");
      }
    });
    if (ok) field = std::move(items);
  };
}

/// The public listener and the admin endpoint cannot share a port on overlapping
/// addresses: the second bind would fail at start-up, far from the cause.
void check_listen_admin_overlap(checker& c, const gateway_config& cfg) {
  if (cfg.listen.port != cfg.admin.port) return;
  const auto wildcard = [](const std::string& a) { return a == "0.0.0.0" || a == "::"; };
  if (cfg.listen.address != cfg.admin.address && !wildcard(cfg.listen.address) &&
      !wildcard(cfg.admin.address)) {
    return;
  }
  std::optional<where> at = c.seen("admin.port");
  if (!at) at = c.seen("listen.port");
  if (!at) at = c.seen("admin.address");
  if (!at) at = c.seen("listen.address");
  c.fail(at ? *at : where{"admin.port", YAML::Mark::null_mark()},
         "admin endpoint and listener both use port " + std::to_string(cfg.admin.port) +
             " on overlapping addresses");
}

/// The schema: SPEC.md "Configuration (YAML)", key for key.
void read_root(checker& c, const YAML::Node& root, gateway_config& cfg) {
  limits_config& lim = cfg.limits;
  c.walk_map(
      root, {"", root.Mark()},
      {
          {"listen", section(c, {{"address", ip_into(c, cfg.listen.address)},
                                 {"port", integer_into(c, cfg.listen.port, 1, k_max_port)},
                                 {"proxy_protocol", bool_into(c, cfg.listen.proxy_protocol)}})},
          {"admin", section(c, {{"address", ip_into(c, cfg.admin.address)},
                                {"port", integer_into(c, cfg.admin.port, 1, k_max_port)}})},
          {"allowed_ports", ports_into(c, cfg.allowed_ports)},
          {"mode", choice_into(c, cfg.mode,
                               {{"enforce", run_mode::enforce}, {"report", run_mode::report}})},
          {"allowed_hosts", string_set_into(c, cfg.allowed_hosts, "a host name or *.suffix pattern",
                                            host_pattern())},
          {"workspaces", workspaces_into(c, cfg.workspaces)},
          {"automation_regions",
           string_set_into(c, cfg.automation_regions, "a region name", automation_region())},
          {"allowed_client_certificates",
           string_set_into(c, cfg.allowed_client_certificates, "a certificate subject",
                           certificate_subject())},
          {"tls", section(c, {{"inspect", bool_into(c, cfg.tls.inspect)},
                              {"min_version", tls_version_into(c, cfg.tls.min_version)},
                              {"require_sni_match", bool_into(c, cfg.tls.require_sni_match)},
                              {"unverifiable_client_cert",
                               choice_into(c, cfg.tls.unverifiable_client_cert,
                                           {{"allow", unverifiable_cert_action::allow},
                                            {"reject", unverifiable_cert_action::reject}})}})},
          {"relay_proxy",
           section(
               c, {{"address", relay_address_into(c, cfg.relay_proxy.address)},
                   {"username", text_into(c, cfg.relay_proxy.username, "a string")},
                   {"password_file", text_into(c, cfg.relay_proxy.password_file, "a file path")}})},
          {"clients",
           section(c, {{"allow", string_set_into(c, cfg.clients.allow, "a CIDR", client_cidr())}})},
          {"upstream", section(c, {{"resolve", resolve_into(c, cfg.upstream.resolve)},
                                   {"allow_private", bool_into(c, cfg.upstream.allow_private)}})},
          {"limits",
           section(c,
                   {{"max_connections", integer_into(c, lim.max_connections, 0, k_max_connections)},
                    {"max_connections_per_client",
                     integer_into(c, lim.max_connections_per_client, 1, k_max_connections)},
                    {"header_timeout_s", integer_into(c, lim.header_timeout_s, 1, k_max_timeout_s)},
                    {"handshake_timeout_s",
                     integer_into(c, lim.handshake_timeout_s, 1, k_max_timeout_s)},
                    {"idle_timeout_s", integer_into(c, lim.idle_timeout_s, 1, k_max_timeout_s)},
                    {"drain_timeout_s", integer_into(c, lim.drain_timeout_s, 1, k_max_timeout_s)},
                    {"connect_timeout_s",
                     integer_into(c, lim.connect_timeout_s, 1, k_max_timeout_s)}})},
          {"log", section(c, {{"format", choice_into(c, cfg.log.format,
                                                     {{"text", log_format::text},
                                                      {"json", log_format::json}})},
                              {"level", choice_into<std::string>(c, cfg.log.level,
                                                                 {{"trace", "trace"},
                                                                  {"debug", "debug"},
                                                                  {"info", "info"},
                                                                  {"warn", "warn"},
                                                                  {"error", "error"}})}})},
          {"perfmon", section(c, {{"csv_file", text_into(c, cfg.perfmon.csv_file, "a file path")},
                                  {"interval_s", integer_into(c, cfg.perfmon.interval_s, 1,
                                                              k_max_perfmon_interval_s)}})},
      });
}

load_result failure(std::vector<config_error> errors) {
  load_result r;
  r.errors = std::move(errors);
  return r;
}

/// Records where each document starts and where its first node is.
struct document_probe final : YAML::EventHandler {
  YAML::Mark start;
  YAML::Mark first_node;
  bool has_node = false;
  void node(const YAML::Mark& m) {
    if (!has_node) first_node = m;
    has_node = true;
  }
  void OnDocumentStart(const YAML::Mark& m) override { start = m; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnMapEnd() override {}
};

/// yaml-cpp 0.7's LoadAll never returns on a ',' outside a flow collection (",", or a
/// stray comma after a document): its parser reports a new empty document without
/// consuming the token, forever, allocating for each (jbeder/yaml-cpp#1040, fixed
/// upstream after 0.8 by #1319). A typo would hang `check-config` and make a reload eat
/// memory until the OOM killer ends the gateway. So the documents are probed with the
/// event API first, never more than two, and the first one is loaded with Load.
std::optional<config_error> check_documents(const std::string& yaml_text) {
  std::istringstream in(yaml_text);
  YAML::Parser parser(in);
  document_probe first;
  if (!parser.HandleNextDocument(first)) return std::nullopt;
  document_probe second;
  if (!parser.HandleNextDocument(second)) return std::nullopt;
  const auto at = static_cast<std::size_t>(second.start.pos);
  // The stuck parser: a "document" that starts where the first one did, or at a ','.
  if (second.start.pos == first.start.pos || (at < yaml_text.size() && yaml_text[at] == ',')) {
    const std::string what = at < yaml_text.size()
                                 ? "unexpected '" + std::string(1, yaml_text[at]) + "'"
                                 : "unexpected end of input";
    return config_error{"", second.start.line + 1, second.start.column + 1,
                        "YAML syntax error: " + what};
  }
  const YAML::Mark m = second.has_node ? second.first_node : second.start;
  return config_error{"", m.line + 1, m.column + 1,
                      "expected a single YAML document, found a second one"};
}

load_result parse_or_throw(const std::string& yaml_text) {
  std::vector<YAML::Node> docs;
  try {
    if (auto problem = check_documents(yaml_text)) return failure({std::move(*problem)});
    docs.push_back(YAML::Load(yaml_text));
  } catch (const YAML::ParserException& e) {
    // yaml-cpp marks are 0-based; a null mark (-1) means "unknown". Its message for
    // too-deep nesting is a bare "bad file", hence the rewording.
    const bool too_deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr;
    return failure(
        {{"", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0,
          too_deep ? "YAML nesting is too deep" : "YAML syntax error: " + e.msg}});
  }
  gateway_config cfg;
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    return load_result{cfg, {}};
  }
  checker c;
  if (!docs[0].IsMap()) {
    c.fail({"", docs[0].Mark()},
           "expected a map of settings at the top level, got " + describe(docs[0]));
  } else {
    read_root(c, docs[0], cfg);
    check_listen_admin_overlap(c, cfg);
  }
  std::vector<config_error> errors = c.take_errors();
  if (!errors.empty()) return failure(std::move(errors));
  return load_result{std::move(cfg), {}};
}

}  // namespace

std::string to_string(tls_version v) {
  switch (v) {
    case tls_version::tls1_0:
      return "1.0";
    case tls_version::tls1_1:
      return "1.1";
    case tls_version::tls1_2:
      return "1.2";
    case tls_version::tls1_3:
      return "1.3";
  }
  return "unknown";
}

std::string to_string(run_mode m) {
  switch (m) {
    case run_mode::enforce:
      return "enforce";
    case run_mode::report:
      return "report";
  }
  return "unknown";
}

std::string to_string(log_format f) { return f == log_format::json ? "json" : "text"; }

std::string to_string(unverifiable_cert_action a) {
  return a == unverifiable_cert_action::reject ? "reject" : "allow";
}

std::string format_error(const std::string& source_name, const config_error& e) {
  std::string out = source_name;
  if (e.line > 0) {
    out += ":" + std::to_string(e.line);
    if (e.column > 0) out += ":" + std::to_string(e.column);
  }
  out += ": ";
  if (!e.key.empty()) out += e.key + ": ";
  out += e.message;
  return out;
}

load_result parse_config(const std::string& yaml_text) {
  try {
    return parse_or_throw(yaml_text);
  } catch (const std::exception& e) {
    return failure({{"", 0, 0, std::string("cannot load configuration: ") + e.what()}});
  } catch (...) {
    return failure({{"", 0, 0, "cannot load configuration: unknown error"}});
  }
}

load_result load_config_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return failure({{"", 0, 0, std::string("cannot read file: ") + std::strerror(errno)}});
  std::string text;
  char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) {
    return failure({{"", 0, 0, std::string("cannot read file: ") + std::strerror(read_errno)}});
  }
  return parse_config(text);
}

const char* default_config_path() { return "/etc/omsgw/omsgw.yaml"; }

}  // namespace omsgw::config
