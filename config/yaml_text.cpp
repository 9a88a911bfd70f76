/// \file
/// Where a YAML node's text starts and ends (see yaml_text.hpp).

#include "config/yaml_text.hpp"

#include "net/grammar/text.hpp"

namespace omsgw::config::yaml_text {

using grammar::trim;

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

}  // namespace omsgw::config::yaml_text
