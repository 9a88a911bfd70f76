#pragma once
/// \file
/// The splicer of the comment-preserving editor: for one edit, the byte ranges of the
/// text to replace (a scalar's characters, one `- item` line, one flow-list item, or a
/// new `key: value` line or section), computed from yaml-cpp's marks and the scanner
/// (config/yaml_text), then applied in one pass. Used by config/editor.cpp only, which
/// re-parses every result and refuses it unless exactly the intended change was made.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/editor.hpp"
#include "config/yaml_text.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::config::splicing {

using namespace yaml_text;
using grammar::trim;

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

inline std::string flow_text(const new_value& v) {
  if (!v.is_list) return v.scalar;
  std::string out = "[";
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    if (i) out += ", ";
    out += v.items[i];
  }
  return out + "]";
}

inline YAML::Node value_node(const new_value& v) {
  if (!v.is_list) return YAML::Load(v.scalar);
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& item : v.items) seq.push_back(YAML::Load(item));
  return seq;
}

/// One edit's splices over one text: finds (or creates) the node at a key path and
/// records non-overlapping replacements of its exact span; apply() writes them.
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

}  // namespace omsgw::config::splicing
