/// \file
/// The located walk over the YAML tree (see loader_checker.hpp).

#include "config/loader_checker.hpp"

#include <algorithm>
#include <tuple>

#include "net/grammar/authority.hpp"

namespace omsgw::config::detail {

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool is_quoted(const YAML::Node& n) { return n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str"; }

std::string shown(const std::string& value) {
  std::string text = grammar::without_userinfo(value);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

message describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return message(N_("an empty value"));
    case YAML::NodeType::Sequence:
      return message(N_("a list"));
    case YAML::NodeType::Map:
      return message(N_("a map"));
    case YAML::NodeType::Scalar: {
      const std::string text = shown(n.Scalar());
      return is_quoted(n) ? message(N_("the quoted string \"%1%\""), text)
                          : message::verbatim("'" + text + "'");
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return message(N_("nothing"));
}

void checker::fail(const where& at, message why) {
  errors_.push_back(make_error(at.key, at.mark.line >= 0 ? at.mark.line + 1 : 0,
                               at.mark.column >= 0 ? at.mark.column + 1 : 0, std::move(why)));
}

std::optional<where> checker::seen(const std::string& key) const {
  const auto it = marks_.find(key);
  if (it == marks_.end()) return std::nullopt;
  return where{key, it->second};
}

void checker::each_entry(
    const YAML::Node& n, const where& at,
    const std::function<void(const std::string& key, const YAML::Node& key_node,
                             const YAML::Node& value, const where& vat)>& fn) {
  if (!n.IsMap()) {
    fail(at, n.IsNull()
                 ? message(N_("expected a map, got %1% (write {} for the defaults)"), describe(n))
                 : message(N_("expected a map, got %1%"), describe(n)));
    return;
  }
  std::map<std::string, int> first_line;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // Copies: the iterator yields a temporary pair, and Node is a cheap handle.
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      fail({at.key, k.Mark()}, message(N_("expected a key name, got %1%"), describe(k)));
      continue;
    }
    const std::string& name = k.Scalar();
    const where kat{child(at.key, name), k.Mark()};
    if (const auto [pos, fresh] = first_line.emplace(name, k.Mark().line + 1); !fresh) {
      fail(kat, message(N_("duplicate key '%1%' (first set at line %2%)"), name, pos->second));
      continue;
    }
    // An empty value's own mark points at the next token; the key is clearer.
    const where vat{kat.key, v.IsNull() ? k.Mark() : v.Mark()};
    marks_[vat.key] = vat.mark;
    fn(name, k, v, vat);
  }
}

void checker::walk_map(const YAML::Node& n, const where& at, const std::vector<key_rule>& rules) {
  each_entry(
      n, at,
      [&](const std::string& name, const YAML::Node& k, const YAML::Node& v, const where& vat) {
        for (const key_rule& r : rules) {
          if (r.name == name) {
            r.read(v, vat);
            return;
          }
        }
        std::vector<std::string_view> names;
        for (const key_rule& r : rules) names.push_back(r.name);
        message hint = did_you_mean(name, names);
        if (hint.empty() && names.size() <= 8) {
          hint = message(N_("; expected one of %1%"), join(names, ", "));
        }
        fail({vat.key, k.Mark()}, message(N_("unknown key '%1%'%2%"), name, hint));
      });
}

bool checker::walk_list(const YAML::Node& n, const where& at,
                        const std::function<void(const YAML::Node&, const where&)>& item) {
  if (!n.IsSequence()) {
    fail(at, n.IsNull()
                 ? message(N_("expected a list, got %1% (write [] for an empty list)"), describe(n))
                 : message(N_("expected a list, got %1%"), describe(n)));
    return false;
  }
  std::size_t i = 0;
  for (const YAML::Node& v : n) {  // extends the temporary's lifetime
    item(v, {at.key + "[" + std::to_string(i++) + "]", v.IsNull() ? at.mark : v.Mark()});
  }
  return true;
}

std::optional<std::uint32_t> checker::integer(const YAML::Node& n, const where& at,
                                              std::uint32_t lo, std::uint32_t hi) {
  if (n.IsScalar() && !is_quoted(n)) {
    if (const auto v = parse_decimal(n.Scalar(), hi); v && *v >= lo) return v;
  }
  fail(at, message(N_("expected an integer in %1%..%2%, got %3%"), lo, hi, describe(n)));
  return std::nullopt;
}

std::optional<bool> checker::boolean(const YAML::Node& n, const where& at) {
  if (n.IsScalar() && !is_quoted(n)) {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  fail(at, message(N_("expected true or false, got %1%"), describe(n)));
  return std::nullopt;
}

std::optional<std::string> checker::text(const YAML::Node& n, const where& at, const char* what,
                                         bool empty_ok) {
  if (n.IsScalar()) return n.Scalar();
  fail(at,
       n.IsNull() && empty_ok
           ? message(N_("expected %1%, got %2% (write \"\" for none)"), message(what), describe(n))
           : message(N_("expected %1%, got %2%"), message(what), describe(n)));
  return std::nullopt;
}

std::vector<config_error> checker::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(errors_);
}

}  // namespace omsgw::config::detail
