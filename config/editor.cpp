/// \file
/// Comment-preserving YAML edits (see editor.hpp for the design). The splicer
/// (config/yaml_splicer) works on byte offsets: yaml-cpp gives each node's start mark,
/// the scanner (config/yaml_text) finds where the node ends, and an edit is a set of
/// non-overlapping splices. The
/// verification at the end is what makes this safe: whatever the splicer does not
/// understand (anchors, multi-line plain scalars, exotic layouts) fails the check
/// and is refused, never written.

#include "config/editor.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "config/loader.hpp"
#include "config/yaml_splicer.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::config {
namespace {

using splicing::new_value;
using splicing::text_editor;
using splicing::value_node;
using yaml_text::is_flow;
using yaml_text::npos;

// ---------------------------------------------------------------------------------
// Semantic check: the new document must be the old one with exactly one change.

bool quoted(const YAML::Node& n) { return n.Tag() == "!"; }

bool same_tree(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Scalar:
      return a.Scalar() == b.Scalar() && quoted(a) == quoted(b);
    case YAML::NodeType::Sequence:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same_tree(a[i], b[i])) return false;
      }
      return true;
    case YAML::NodeType::Map: {
      if (a.size() != b.size()) return false;
      for (auto ia = a.begin(); ia != a.end(); ++ia) {
        const YAML::Node ka = ia->first;
        bool found = false;
        for (auto ib = b.begin(); ib != b.end(); ++ib) {
          const YAML::Node kb = ib->first;
          if (ka.IsScalar() && kb.IsScalar() && ka.Scalar() == kb.Scalar()) {
            if (!same_tree(ia->second, ib->second)) return false;
            found = true;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    }
    default:
      return true;
  }
}

/// Sets path[i..] below n to leaf, creating maps on the way (on a cloned tree).
void set_at(YAML::Node n, const key_path& path, std::size_t i, const YAML::Node& leaf) {
  if (i + 1 == path.size()) {
    n[path[i]] = leaf;
    return;
  }
  if (!n[path[i]].IsMap()) n[path[i]] = YAML::Node(YAML::NodeType::Map);
  set_at(n[path[i]], path, i + 1, leaf);
}

/// A leaf node as the loader would read `yaml` text.
YAML::Node load_leaf(const std::string& yaml) { return YAML::Load(yaml); }

template <class Build>
edit_result run_edit(std::string_view text, const key_path& path, Build&& build) {
  edit_result r;
  r.text = std::string(text);
  const auto refuse = [&r](grammar::message why) {
    r.error = why.str();
    r.why = std::move(why);
    return r;
  };
  if (path.empty()) return refuse(grammar::message(N_("no key given")));
  try {
    text_editor ed(text);
    std::optional<YAML::Node> expected_leaf = build(ed);
    if (!expected_leaf) return r;  // nothing to do
    std::string out = ed.apply();
    YAML::Node expected =
        ed.root().IsNull() ? YAML::Node(YAML::NodeType::Map) : YAML::Clone(ed.root());
    set_at(expected, path, 0, *expected_leaf);
    YAML::Node actual;
    try {
      actual = YAML::Load(out);
    } catch (const YAML::Exception&) {
      actual = YAML::Node();
    }
    if (!same_tree(expected, actual)) {
      return refuse(grammar::message(N_("cannot edit %1% in place without changing something "
                                        "else (unusual YAML layout); edit the file by hand"),
                                     join_key(path)));
    }
    r.changed = out != text;
    r.text = std::move(out);
  } catch (const YAML::Exception& e) {
    return refuse(e.mark.line >= 0 ? grammar::message(N_("cannot read the YAML: %1% (line %2%)"),
                                                      e.msg, e.mark.line + 1)
                                   : grammar::message(N_("cannot read the YAML: %1%"), e.msg));
  } catch (const std::exception& e) {
    return refuse(grammar::message(N_("cannot edit %1%: %2%"), join_key(path), e.what()));
  }
  return r;
}

std::vector<std::string> scalars_of(const YAML::Node& list) {
  std::vector<std::string> out;
  for (const YAML::Node& item : list) out.push_back(item.IsScalar() ? item.Scalar() : "");
  return out;
}

// ---------------------------------------------------------------------------------
// Quoting

bool has_unsafe_chars(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (std::string_view(",[]{}\"'").find(s[i]) != npos) return true;
    if (s[i] == '#' && i > 0 && s[i - 1] == ' ') return true;
    if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return true;
  }
  return s.front() == ' ' || s.back() == ' ';
}

std::string double_quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

key_path split_key(std::string_view dotted) {
  key_path out;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    out.emplace_back(dotted.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

std::string join_key(const key_path& path) {
  std::string out;
  for (const auto& k : path) out += (out.empty() ? "" : ".") + k;
  return out;
}

std::string yaml_string(std::string_view value) {
  if (value.empty() || has_unsafe_chars(value)) return double_quoted(value);
  if (std::string_view("-?:!&*|>%@`~.+0123456789").find(value.front()) != npos) {
    return double_quoted(value);  // indicators, and anything that could read as a number
  }
  const std::string l = grammar::lower(value);
  for (std::string_view word : {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}) {
    if (l == word) return double_quoted(value);
  }
  return std::string(value);
}

std::string yaml_token(std::string_view value) {
  if (value.empty() || has_unsafe_chars(value)) return double_quoted(value);
  if (std::string_view("?:!&*|>%@`#").find(value.front()) != npos) return double_quoted(value);
  if (value.front() == '-' && (value.size() == 1 || value[1] == ' ')) return double_quoted(value);
  return std::string(value);
}

edit_result set_scalar(std::string_view text, const key_path& path, std::string_view yaml_scalar) {
  return run_edit(text, path, [&](text_editor& ed) -> std::optional<YAML::Node> {
    new_value v{false, std::string(yaml_scalar), {}};
    ed.set_value(path, v);
    return value_node(v);
  });
}

edit_result set_list(std::string_view text, const key_path& path,
                     const std::vector<std::string>& yaml_items) {
  return run_edit(text, path, [&](text_editor& ed) -> std::optional<YAML::Node> {
    new_value v{true, {}, yaml_items};
    ed.set_value(path, v);
    return value_node(v);
  });
}

edit_result add_list_item(std::string_view text, const key_path& path, std::string_view yaml_item,
                          const std::vector<std::string>& absent_items) {
  return run_edit(text, path, [&](text_editor& ed) -> std::optional<YAML::Node> {
    const std::string item(yaml_item);
    const auto found = ed.lookup(path);
    if (!found) {
      new_value v{true, {}, absent_items};
      v.items.push_back(item);
      ed.set_value(path, v);
      return value_node(v);
    }
    const key_path parent(path.begin(), path.end() - 1);
    const YAML::Node map = *ed.lookup(parent);
    YAML::Node k;
    YAML::Node list;
    text_editor::find_entry(map, path.back(), k, list);
    ed.append_item(k, list, is_flow(std::string_view(text), map), item);
    YAML::Node expected(YAML::NodeType::Sequence);
    if (list.IsSequence()) {
      for (const YAML::Node& n : list) expected.push_back(YAML::Clone(n));
    }
    expected.push_back(load_leaf(item));
    return expected;
  });
}

edit_result remove_list_items(std::string_view text, const key_path& path,
                              const std::function<bool(const std::string&)>& match,
                              const std::vector<std::string>& absent_items) {
  return run_edit(text, path, [&](text_editor& ed) -> std::optional<YAML::Node> {
    const auto found = ed.lookup(path);
    if (!found) {
      new_value v{true, {}, {}};
      bool any = false;
      for (const auto& item : absent_items) {
        const YAML::Node n = load_leaf(item);
        if (n.IsScalar() && match(n.Scalar())) {
          any = true;
        } else {
          v.items.push_back(item);
        }
      }
      if (!any) return std::nullopt;
      ed.set_value(path, v);
      return value_node(v);
    }
    if (!found->IsSequence()) throw std::runtime_error("the value is not a list");
    std::vector<std::size_t> indices;
    YAML::Node expected(YAML::NodeType::Sequence);
    const auto values = scalars_of(*found);
    for (std::size_t i = 0; i < found->size(); ++i) {
      if ((*found)[i].IsScalar() && match(values[i])) {
        indices.push_back(i);
      } else {
        expected.push_back(YAML::Clone((*found)[i]));
      }
    }
    if (indices.empty()) return std::nullopt;
    const key_path parent(path.begin(), path.end() - 1);
    const YAML::Node map = *ed.lookup(parent);
    YAML::Node k;
    YAML::Node list;
    text_editor::find_entry(map, path.back(), k, list);
    ed.remove_items(k, list, is_flow(std::string_view(text), map), indices);
    return expected;
  });
}

bool has_key(std::string_view text, const key_path& path) {
  try {
    const text_editor ed(text);
    return ed.lookup(path).has_value();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace omsgw::config
