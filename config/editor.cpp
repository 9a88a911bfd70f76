/// \file
/// Comment-preserving YAML edits (see editor.hpp for the design). The splicer works
/// on byte offsets: yaml-cpp gives each node's start mark, the scanners below find
/// where the node ends, and an edit is a set of non-overlapping splices. The
/// verification at the end is what makes this safe: whatever the splicer does not
/// understand (anchors, multi-line plain scalars, exotic layouts) fails the check
/// and is refused, never written.

#include "config/editor.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "config/loader.hpp"

namespace omsgw::config {
namespace {

constexpr std::size_t npos = std::string::npos;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------------------------------
// Scanning the text

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_break(char c) { return c == '\n' || c == '\r'; }

std::size_t line_start(std::string_view t, std::size_t pos) {
  while (pos > 0 && t[pos - 1] != '\n') --pos;
  return pos;
}

/// Position of the line break ending pos's line ('\r' of a CRLF), or t.size().
std::size_t line_end(std::string_view t, std::size_t pos) {
  std::size_t e = t.find('\n', pos);
  if (e == npos) return t.size();
  if (e > pos && t[e - 1] == '\r') --e;
  return e;
}

/// Position just after the line break ending pos's line.
std::size_t next_line(std::string_view t, std::size_t pos) {
  const std::size_t e = t.find('\n', pos);
  return e == npos ? t.size() : e + 1;
}

std::size_t quoted_end(std::string_view t, std::size_t start) {
  const char q = t[start];
  for (std::size_t i = start + 1; i < t.size(); ++i) {
    if (q == '"' && t[i] == '\\') {
      ++i;
    } else if (t[i] == q) {
      if (q == '\'' && i + 1 < t.size() && t[i + 1] == '\'') {
        ++i;  // '' is an escaped quote
      } else {
        return i + 1;
      }
    }
  }
  return npos;
}

/// End of a plain scalar (trailing blanks excluded): at a comment, a line break,
/// a ": " (key context) or a flow indicator (flow context).
std::size_t plain_end(std::string_view t, std::size_t start, bool flow) {
  std::size_t last = start;
  for (std::size_t i = start; i < t.size(); ++i) {
    const char c = t[i];
    if (is_break(c)) break;
    if (c == '#' && i > start && is_space(t[i - 1])) break;
    if (c == ':' && (i + 1 == t.size() || is_space(t[i + 1]) || is_break(t[i + 1]) ||
                     (flow && std::string_view(",[]{}").find(t[i + 1]) != npos))) {
      break;
    }
    if (flow && std::string_view(",[]{}").find(c) != npos) break;
    if (!is_space(c)) last = i + 1;
  }
  return last;
}

std::size_t indent_of_line(std::string_view t, std::size_t pos) {
  std::size_t i = line_start(t, pos);
  const std::size_t s = i;
  while (i < t.size() && t[i] == ' ') ++i;
  return i - s;
}

/// End of a literal/folded block scalar: its last line indented deeper than the
/// line holding the `|` / `>` header.
std::size_t block_scalar_end(std::string_view t, std::size_t start) {
  const std::size_t base = indent_of_line(t, start);
  std::size_t end = line_end(t, start);
  for (std::size_t pos = next_line(t, start); pos < t.size(); pos = next_line(t, pos)) {
    const std::size_t le = line_end(t, pos);
    const std::string_view line = t.substr(pos, le - pos);
    if (trim(line).empty()) continue;
    if (indent_of_line(t, pos) <= base) break;
    end = le;
  }
  return end;
}

/// End of a flow collection starting at '[' or '{'.
std::size_t flow_end(std::string_view t, std::size_t start) {
  int depth = 0;
  for (std::size_t i = start; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '"' || c == '\'') {
      const std::size_t e = quoted_end(t, i);
      if (e == npos) return npos;
      i = e - 1;
    } else if (c == '#' && i > 0 && (is_space(t[i - 1]) || is_break(t[i - 1]))) {
      i = line_end(t, i) - 1;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return npos;
}

bool is_flow(std::string_view t, const YAML::Node& n) {
  const auto pos = static_cast<std::size_t>(n.Mark().pos);
  return pos < t.size() && (t[pos] == '[' || t[pos] == '{');
}

std::size_t scalar_end(std::string_view t, std::size_t start, bool flow) {
  if (start >= t.size()) return npos;
  const char c = t[start];
  if (c == '"' || c == '\'') return quoted_end(t, start);
  if (c == '|' || c == '>') return block_scalar_end(t, start);
  return plain_end(t, start, flow);
}

/// Position just after the ':' that follows a mapping key.
std::size_t colon_after_key(std::string_view t, const YAML::Node& key, bool flow) {
  const auto start = static_cast<std::size_t>(key.Mark().pos);
  std::size_t i = scalar_end(t, start, flow);
  if (i == npos) return npos;
  while (i < t.size() && is_space(t[i])) ++i;
  return i < t.size() && t[i] == ':' ? i + 1 : npos;
}

struct span {
  std::size_t begin = npos;
  std::size_t end = npos;
  bool empty() const { return begin == end; }
};

/// The text of a null value after its key's colon: "~" / "null", or an empty span.
span null_span(std::string_view t, std::size_t colon) {
  std::size_t p = colon;
  while (p < t.size() && is_space(t[p])) ++p;
  for (std::string_view word : {"~", "null", "Null", "NULL"}) {
    if (t.substr(p, word.size()) != word) continue;
    const std::size_t e = p + word.size();
    if (e == t.size() || is_space(t[e]) || is_break(t[e]) ||
        std::string_view(",]}#").find(t[e]) != npos) {
      return {p, e};
    }
  }
  return {colon, colon};
}

std::size_t node_end(std::string_view t, const YAML::Node& n, bool flow);

/// End of a map entry's value; for a null value the end of its "~" or of the colon.
std::size_t entry_end(std::string_view t, const YAML::Node& key, const YAML::Node& value,
                      bool flow) {
  if (value.IsNull()) {
    const std::size_t colon = colon_after_key(t, key, flow);
    return colon == npos ? npos : null_span(t, colon).end;
  }
  return node_end(t, value, flow);
}

/// End offset of a node's text (after its last character, before any comment).
std::size_t node_end(std::string_view t, const YAML::Node& n, bool flow) {
  const auto start = static_cast<std::size_t>(n.Mark().pos);
  if (n.IsNull() || start >= t.size()) return npos;
  if (n.IsScalar()) return scalar_end(t, start, flow);
  if (is_flow(t, n)) return flow_end(t, start);
  if (n.size() == 0) return npos;
  if (n.IsSequence()) {
    const YAML::Node last = n[n.size() - 1];
    return last.IsNull() ? npos : node_end(t, last, false);
  }
  // reset() rebinds a handle; operator= would overwrite the node it refers to.
  YAML::Node key;
  YAML::Node value;
  for (auto it = n.begin(); it != n.end(); ++it) {
    key.reset(it->first);
    value.reset(it->second);
  }
  return entry_end(t, key, value, false);
}

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

// ---------------------------------------------------------------------------------
// The splicer

struct splice {
  std::size_t pos;
  std::size_t len;
  std::string text;
};

/// The value written at a path: one scalar or a list of scalars (YAML texts).
struct new_value {
  bool is_list = false;
  std::string scalar;
  std::vector<std::string> items;
};

std::string flow_text(const new_value& v) {
  if (!v.is_list) return v.scalar;
  std::string out = "[";
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    if (i) out += ", ";
    out += v.items[i];
  }
  return out + "]";
}

YAML::Node value_node(const new_value& v) {
  if (!v.is_list) return load_leaf(v.scalar);
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& item : v.items) seq.push_back(load_leaf(item));
  return seq;
}

class text_editor {
 public:
  explicit text_editor(std::string_view text) : t_(text) {
    nl_ = t_.find("\r\n") != npos ? "\r\n" : "\n";
    const auto docs = YAML::LoadAll(std::string(t_));
    if (docs.size() > 1) throw std::runtime_error("the file holds more than one YAML document");
    root_ = docs.empty() ? YAML::Node() : docs[0];
    if (!root_.IsNull() && !root_.IsMap()) {
      throw std::runtime_error("the file's top level is not a map of settings");
    }
    unit_ = detect_indent_unit();
  }

  const YAML::Node& root() const { return root_; }

  /// The map entry `key` of map node m, if present.
  static bool find_entry(const YAML::Node& m, const std::string& key, YAML::Node& k,
                         YAML::Node& v) {
    if (!m.IsMap()) return false;
    for (auto it = m.begin(); it != m.end(); ++it) {
      const YAML::Node kk = it->first;
      if (kk.IsScalar() && kk.Scalar() == key) {
        k.reset(kk);
        v.reset(it->second);
        return true;
      }
    }
    return false;
  }

  /// The node at path, or an undefined/invalid node when absent.
  std::optional<YAML::Node> lookup(const key_path& path) const {
    YAML::Node cur = root_;
    for (const auto& key : path) {
      YAML::Node k;
      YAML::Node v;
      if (!find_entry(cur, key, k, v)) return std::nullopt;
      cur.reset(v);
    }
    return cur;
  }

  /// Writes value v at path, creating what is missing.
  void set_value(const key_path& path, const new_value& v) {
    YAML::Node map = root_;
    bool map_flow = is_flow(t_, map);
    for (std::size_t i = 0; i < path.size(); ++i) {
      YAML::Node k;
      YAML::Node val;
      if (!find_entry(map, path[i], k, val)) {
        insert_into_map(map, i == 0, key_path(path.begin() + static_cast<long>(i), path.end()), v);
        return;
      }
      const bool last = i + 1 == path.size();
      if (val.IsNull()) {
        fill_null(k, map_flow, key_path(path.begin() + static_cast<long>(i) + 1, path.end()), v);
        return;
      }
      if (last) {
        replace_value(k, val, map_flow, v);
        return;
      }
      if (!val.IsMap()) {
        throw std::runtime_error(
            join_key(key_path(path.begin(), path.begin() + static_cast<long>(i) + 1)) +
            " is not a map in the file");
      }
      map.reset(val);
      map_flow = is_flow(t_, map);
    }
  }

  /// Appends one item to an existing list node.
  void append_item(const YAML::Node& key, const YAML::Node& list, bool parent_flow,
                   const std::string& item) {
    if (list.IsNull()) {
      fill_null(key, parent_flow, {}, new_value{true, {}, {item}});
      return;
    }
    if (!list.IsSequence()) throw std::runtime_error("the value is not a list");
    const auto start = static_cast<std::size_t>(list.Mark().pos);
    if (is_flow(t_, list)) {
      if (list.size() == 0) {
        add(start + 1, 0, item);
      } else {
        add(need(node_end(t_, list[list.size() - 1], true)), 0, ", " + item);
      }
      return;
    }
    const YAML::Node last = list[list.size() - 1];
    const std::size_t end = need(last.IsNull() ? npos : node_end(t_, last, false));
    add(line_end(t_, end), 0,
        nl_ + pad(static_cast<std::size_t>(list.Mark().column)) + "- " + item);
  }

  /// Removes the items at `indices` (ascending) from an existing list node.
  void remove_items(const YAML::Node& key, const YAML::Node& list, bool parent_flow,
                    const std::vector<std::size_t>& indices) {
    if (indices.empty()) return;
    if (indices.size() == list.size()) {
      replace_value(key, list, parent_flow, new_value{true, {}, {}});
      return;
    }
    if (is_flow(t_, list)) {
      std::vector<std::size_t> starts;
      std::vector<std::size_t> ends;
      for (std::size_t i = 0; i < list.size(); ++i) {
        starts.push_back(static_cast<std::size_t>(list[i].Mark().pos));
        ends.push_back(need(list[i].IsNull() ? npos : node_end(t_, list[i], true)));
      }
      std::size_t kept_last = 0;  // the last item that stays
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (!std::binary_search(indices.begin(), indices.end(), i)) kept_last = i;
      }
      for (std::size_t i : indices) {
        if (i < kept_last) {
          add(starts[i], starts[i + 1] - starts[i], "");  // the item and its comma
        }
      }
      if (indices.back() > kept_last) {  // trailing items: drop from the kept item's end
        add(ends[kept_last], ends[indices.back()] - ends[kept_last], "");
      }
      return;
    }
    for (std::size_t i : indices) {
      const YAML::Node item = list[i];
      if (item.IsNull()) throw std::runtime_error("the list has an empty item");
      const auto pos = static_cast<std::size_t>(item.Mark().pos);
      std::size_t dash = pos;
      while (dash > 0 && is_space(t_[dash - 1])) --dash;
      if (dash == 0 || t_[dash - 1] != '-') throw std::runtime_error("unexpected list layout");
      --dash;
      const std::size_t ls = line_start(t_, dash);
      if (!trim(t_.substr(ls, dash - ls)).empty())
        throw std::runtime_error("unexpected list layout");
      const std::size_t end = need(node_end(t_, item, false));
      add(ls, next_line(t_, end) - ls, "");
    }
  }

  std::string apply() {
    std::sort(splices_.begin(), splices_.end(),
              [](const splice& a, const splice& b) { return a.pos > b.pos; });
    std::string out(t_);
    std::size_t limit = npos;
    for (const auto& s : splices_) {
      if (s.pos + s.len > limit) throw std::runtime_error("overlapping edits");
      out.replace(s.pos, s.len, s.text);
      limit = s.pos;
    }
    return out;
  }

 private:
  static std::size_t need(std::size_t pos) {
    if (pos == npos) throw std::runtime_error("cannot locate the value in the text");
    return pos;
  }

  void add(std::size_t pos, std::size_t len, std::string text) {
    splices_.push_back({pos, len, std::move(text)});
  }

  std::string pad(std::size_t n) const { return std::string(n, ' '); }

  std::size_t detect_indent_unit() const {
    if (!root_.IsMap()) return 2;
    for (auto it = root_.begin(); it != root_.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (v.IsMap() && v.size() > 0 && !is_flow(t_, v) && v.Mark().column > k.Mark().column) {
        return static_cast<std::size_t>(v.Mark().column - k.Mark().column);
      }
    }
    return 2;
  }

  /// Lines "k1:\n  k2: value" for a new entry chain at `indent`.
  std::string block_chain(const key_path& rest, const new_value& v, std::size_t indent) const {
    std::string out;
    for (std::size_t j = 0; j + 1 < rest.size(); ++j) {
      out += pad(indent + j * unit_) + rest[j] + ":" + nl_;
    }
    const std::size_t ind = indent + (rest.size() - 1) * unit_;
    out += pad(ind) + rest.back() + ":";
    if (!v.is_list || v.items.empty()) return out + " " + flow_text(v);
    for (const auto& item : v.items) out += nl_ + pad(ind + unit_) + "- " + item;
    return out;
  }

  /// "k1: {k2: value}" for a new entry chain inside a flow map.
  static std::string flow_chain(const key_path& rest, const new_value& v) {
    std::string out = rest.back() + ": " + flow_text(v);
    for (std::size_t j = rest.size() - 1; j-- > 0;) out = rest[j] + ": {" + out + "}";
    return out;
  }

  void insert_into_map(const YAML::Node& map, bool is_root, const key_path& rest,
                       const new_value& v) {
    if (map.IsNull()) {  // an empty document
      std::string prefix = !t_.empty() && t_.back() != '\n' ? nl_ : "";
      add(t_.size(), 0, prefix + block_chain(rest, v, 0) + nl_);
      return;
    }
    const auto start = static_cast<std::size_t>(map.Mark().pos);
    if (is_flow(t_, map)) {
      if (map.size() == 0) {
        add(start + 1, 0, flow_chain(rest, v));
        return;
      }
      YAML::Node k;
      YAML::Node val;
      for (auto it = map.begin(); it != map.end(); ++it) {
        k.reset(it->first);
        val.reset(it->second);
      }
      add(need(entry_end(t_, k, val, true)), 0, ", " + flow_chain(rest, v));
      return;
    }
    if (is_root) {  // a new section goes at the end of the file
      std::string prefix = !t_.empty() && t_.back() != '\n' ? nl_ : "";
      add(t_.size(), 0, prefix + block_chain(rest, v, 0) + nl_);
      return;
    }
    const std::size_t end = need(node_end(t_, map, false));
    add(line_end(t_, end), 0,
        nl_ + block_chain(rest, v, static_cast<std::size_t>(map.Mark().column)));
  }

  /// A key whose value is null: the value (or the chain of maps to it) is written there.
  void fill_null(const YAML::Node& key, bool map_flow, const key_path& rest, const new_value& v) {
    const std::size_t colon = need(colon_after_key(t_, key, map_flow));
    const span ns = null_span(t_, colon);
    const bool block_list = v.is_list && !v.items.empty() && rest.empty();
    if (map_flow || (rest.empty() && !block_list)) {
      const std::string text = rest.empty() ? flow_text(v) : "{" + flow_chain(rest, v) + "}";
      if (ns.empty()) {
        add(colon, 0, " " + text);
      } else {
        add(ns.begin, ns.end - ns.begin, text);
      }
      return;
    }
    if (!ns.empty()) add(colon, ns.end - colon, "");  // "key: ~" -> "key:"
    const std::size_t indent = static_cast<std::size_t>(key.Mark().column) + unit_;
    std::string text;
    if (rest.empty()) {
      for (const auto& item : v.items) text += nl_ + pad(indent) + "- " + item;
    } else {
      text = nl_ + block_chain(rest, v, indent);
    }
    add(line_end(t_, colon), 0, text);
  }

  /// A key whose value exists: only the value's text is replaced.
  void replace_value(const YAML::Node& key, const YAML::Node& val, bool map_flow,
                     const new_value& v) {
    const auto start = static_cast<std::size_t>(val.Mark().pos);
    const bool block_collection = (val.IsMap() || val.IsSequence()) && !is_flow(t_, val);
    if (!block_collection) {
      const std::size_t end = need(node_end(t_, val, map_flow));
      add(start, end - start, flow_text(v));
      return;
    }
    const std::size_t end = need(node_end(t_, val, false));
    const std::size_t first_line = line_start(t_, start);
    if (!trim(t_.substr(first_line, start - first_line)).empty()) {
      throw std::runtime_error("unexpected layout of a block value");
    }
    if (val.IsSequence() && v.is_list && !v.items.empty()) {
      // Block list -> block list: rewrite the item lines at the same indentation.
      std::string text;
      const std::size_t indent = static_cast<std::size_t>(val.Mark().column);
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) text += nl_;
        text += pad(indent) + "- " + v.items[i];
      }
      add(first_line, line_end(t_, end) - first_line, text);
      return;
    }
    // Block collection -> scalar / []: the value moves onto the key's line.
    const std::size_t colon = need(colon_after_key(t_, key, map_flow));
    add(colon, 0, " " + flow_text(v));
    add(first_line, next_line(t_, end) - first_line, "");
  }

  std::string_view t_;
  std::string nl_;
  YAML::Node root_;
  std::size_t unit_ = 2;
  std::vector<splice> splices_;
};

/// Runs an edit: build splices, apply them, verify that the new document equals
/// the old one with `expected_leaf` at `path`.
template <class Build>
edit_result run_edit(std::string_view text, const key_path& path, Build&& build) {
  edit_result r;
  r.text = std::string(text);
  if (path.empty()) {
    r.error = "no key given";
    return r;
  }
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
      r.error = "cannot edit " + join_key(path) +
                " in place without changing something else (unusual YAML layout); edit the "
                "file by hand";
      return r;
    }
    r.changed = out != text;
    r.text = std::move(out);
  } catch (const YAML::Exception& e) {
    r.error = "cannot read the YAML: " + e.msg +
              (e.mark.line >= 0 ? " (line " + std::to_string(e.mark.line + 1) + ")" : "");
  } catch (const std::exception& e) {
    r.error = std::string("cannot edit ") + join_key(path) + ": " + e.what();
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
  const std::string l = lower(value);
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

// ---------------------------------------------------------------------------------
// Settings

namespace {

template <class T>
std::vector<std::string> numbers(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(std::to_string(x));
  return out;
}

std::vector<std::string> one(std::string s) { return {std::move(s)}; }
std::vector<std::string> flag(bool b) { return {b ? "true" : "false"}; }

}  // namespace

const std::vector<setting>& settings() {
  using k = setting_kind;
  static const std::vector<setting> table = {
      {"listen.address", k::text, {"ListenAddress"}, true, "restart needed"},
      {"listen.port", k::integer, {"ListenPort"}, true, "restart needed"},
      {"listen.proxy_protocol", k::boolean, {"ProxyProtocol"}, true, "restart needed"},
      {"listen.proxy_protocol_trusted", k::list, {"ProxyProtocolTrusted"}, true, "CIDRs"},
      {"admin.address", k::text, {"AdminAddress"}, true, "restart needed"},
      {"admin.port", k::integer, {"AdminPort"}, true, "restart needed"},
      {"admin.token_file", k::text, {"AdminTokenFile"}, true, "bearer token file (0640 at most)"},
      {"allowed_ports", k::list, {"AllowedPorts"}, true, ""},
      {"mode", k::choice, {"Mode"}, true, "enforce | report"},
      {"allowed_hosts", k::list, {"AllowedHosts", "AllowedHost"}, true, "see allowed-host"},
      {"workspaces", k::table, {"Workspaces"}, false, "edit the file"},
      {"automation_regions", k::list, {"AutomationRegions"}, true, "see automation-hosts"},
      {"allowed_client_certificates",
       k::list,
       {"AllowedClientCertificates", "AllowedClientCertificate"},
       true,
       "see allowed-client-cert"},
      {"tls.inspect", k::boolean, {"TlsInspection", "InspectTls"}, true, ""},
      {"tls.min_version", k::tls_version, {"MinTlsVersion", "TlsMinVersion"}, true, "1.0..1.3"},
      {"tls.require_sni_match", k::boolean, {"RequireSniMatch"}, true, ""},
      {"tls.unverifiable_client_cert",
       k::choice,
       {"UnverifiableClientCert", "UnverifiableClientCertificate"},
       true,
       "allow | reject"},
      {"relay_proxy.address",
       k::text,
       {"RelayProxy", "RelayProxyAddress"},
       false,
       "see relay-proxy"},
      {"relay_proxy.username", k::text, {"RelayProxyUsername"}, false, "see relay-proxy"},
      {"relay_proxy.password_file", k::text, {"RelayProxyPasswordFile"}, false, "see relay-proxy"},
      {"relay_proxy.fallback", k::list, {"RelayProxyFallback"}, false, "see relay-proxy"},
      {"relay_proxy.auth", k::choice, {"RelayProxyAuth"}, false, "see relay-proxy"},
      {"relay_proxy.keytab", k::text, {"RelayProxyKeytab"}, false, "see relay-proxy"},
      {"relay_proxy.ca_file", k::text, {"RelayProxyCaFile"}, false, "see relay-proxy"},
      {"relay_proxy.bypass", k::list, {"RelayProxyBypass"}, false, "see relay-proxy bypass"},
      {"clients.allow", k::list, {"AllowedClients", "ClientsAllow"}, true, "CIDRs"},
      {"upstream.resolve", k::table, {"Resolve"}, false, "edit the file"},
      {"upstream.allow_private", k::boolean, {"AllowPrivate"}, true, ""},
      {"limits.max_connections", k::integer, {"MaxConnections"}, true, "0 = from open-files limit"},
      {"limits.max_connections_per_client", k::integer, {"MaxConnectionsPerClient"}, true, ""},
      {"limits.header_timeout_s", k::integer, {"HeaderTimeout"}, true, "seconds"},
      {"limits.handshake_timeout_s", k::integer, {"HandshakeTimeout"}, true, "seconds"},
      {"limits.idle_timeout_s", k::integer, {"IdleTimeout"}, true, "seconds"},
      {"limits.drain_timeout_s", k::integer, {"DrainTimeout"}, true, "seconds"},
      {"limits.connect_timeout_s", k::integer, {"ConnectTimeout"}, true, "seconds"},
      {"log.format", k::choice, {"LogFormat"}, true, "text | json"},
      {"log.level", k::choice, {"LogLevel"}, true, "trace | debug | info | warn | error"},
      {"perfmon.csv_file", k::text, {"PerfmonCsvFile", "PerfMonFile"}, true, ""},
      {"perfmon.interval_s", k::integer, {"PerfmonInterval"}, true, "seconds"},
  };
  return table;
}

const setting* find_setting(std::string_view name) {
  const std::string l = lower(trim(name));
  for (const auto& s : settings()) {
    if (lower(s.key) == l) return &s;
    for (auto a : s.aliases) {
      if (lower(a) == l) return &s;
    }
  }
  return nullptr;
}

std::vector<std::string> setting_values(const gateway_config& c, const setting& s) {
  const std::string_view k = s.key;
  if (k == "listen.address") return one(c.listen.address);
  if (k == "listen.port") return one(std::to_string(c.listen.port));
  if (k == "listen.proxy_protocol") return flag(c.listen.proxy_protocol);
  if (k == "listen.proxy_protocol_trusted") {
    std::vector<std::string> out;
    for (const auto& n : c.listen.proxy_protocol_trusted) out.push_back(n.to_string());
    return out;
  }
  if (k == "admin.address") return one(c.admin.address);
  if (k == "admin.port") return one(std::to_string(c.admin.port));
  if (k == "admin.token_file") return one(c.admin.token_file);
  if (k == "allowed_ports") return numbers(c.allowed_ports);
  if (k == "mode") return one(to_string(c.mode));
  if (k == "allowed_hosts") return c.allowed_hosts;
  if (k == "workspaces") {
    std::vector<std::string> out;
    for (const auto& w : c.workspaces) out.push_back(w.id + " " + w.cloud);
    return out;
  }
  if (k == "automation_regions") return c.automation_regions;
  if (k == "allowed_client_certificates") return c.allowed_client_certificates;
  if (k == "tls.inspect") return flag(c.tls.inspect);
  if (k == "tls.min_version") return one(to_string(c.tls.min_version));
  if (k == "tls.require_sni_match") return flag(c.tls.require_sni_match);
  if (k == "tls.unverifiable_client_cert") return one(to_string(c.tls.unverifiable_client_cert));
  if (k == "relay_proxy.address") return one(c.relay_proxy.address);
  if (k == "relay_proxy.username") return one(c.relay_proxy.username);
  if (k == "relay_proxy.password_file") return one(c.relay_proxy.password_file);
  if (k == "relay_proxy.fallback") return c.relay_proxy.fallback;
  if (k == "relay_proxy.auth") return one(to_string(c.relay_proxy.auth));
  if (k == "relay_proxy.keytab") return one(c.relay_proxy.keytab);
  if (k == "relay_proxy.ca_file") return one(c.relay_proxy.ca_file);
  if (k == "relay_proxy.bypass") return c.relay_proxy.bypass;
  if (k == "clients.allow") return c.clients.allow;
  if (k == "upstream.resolve") {
    std::vector<std::string> out;
    for (const auto& [host, ip] : c.upstream.resolve) out.push_back(host + " " + ip);
    return out;
  }
  if (k == "upstream.allow_private") return flag(c.upstream.allow_private);
  if (k == "limits.max_connections") return one(std::to_string(c.limits.max_connections));
  if (k == "limits.max_connections_per_client") {
    return one(std::to_string(c.limits.max_connections_per_client));
  }
  if (k == "limits.header_timeout_s") return one(std::to_string(c.limits.header_timeout_s));
  if (k == "limits.handshake_timeout_s") return one(std::to_string(c.limits.handshake_timeout_s));
  if (k == "limits.idle_timeout_s") return one(std::to_string(c.limits.idle_timeout_s));
  if (k == "limits.drain_timeout_s") return one(std::to_string(c.limits.drain_timeout_s));
  if (k == "limits.connect_timeout_s") return one(std::to_string(c.limits.connect_timeout_s));
  if (k == "log.format") return one(to_string(c.log.format));
  if (k == "log.level") return one(c.log.level);
  if (k == "perfmon.csv_file") return one(c.perfmon.csv_file);
  if (k == "perfmon.interval_s") return one(std::to_string(c.perfmon.interval_s));
  return {};
}

std::string setting_yaml_value(const setting& s, std::string_view value) {
  const std::string_view v = trim(value);
  switch (s.kind) {
    case setting_kind::boolean: {
      const std::string l = lower(v);
      if (l == "true" || l == "yes" || l == "on" || l == "1") return "true";
      if (l == "false" || l == "no" || l == "off" || l == "0") return "false";
      return yaml_token(v);
    }
    case setting_kind::choice:
      return yaml_token(lower(v));
    case setting_kind::tls_version: {
      std::string l = lower(v);
      l.erase(std::remove(l.begin(), l.end(), ' '), l.end());
      if (l.rfind("tls", 0) == 0) l.erase(0, 3);
      if (!l.empty() && l[0] == 'v') l.erase(0, 1);
      return double_quoted(l);
    }
    case setting_kind::integer:
      return yaml_token(v);
    case setting_kind::text:
    case setting_kind::list:
    case setting_kind::table:
      break;
  }
  return yaml_string(v);
}

}  // namespace omsgw::config
