#pragma once
/// \file
/// The scanner of the comment-preserving editor: where a YAML node's text starts and
/// ends in the file, as byte offsets. yaml-cpp gives each node's start mark; these find
/// the end of scalars (plain, quoted, block), flow collections, block lists and map
/// entries, and the lines around them. Pure functions of the text; anything they do
/// not understand is caught by the editor's re-parse guard (config/editor.cpp).

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace omsgw::config::yaml_text {

inline constexpr std::size_t npos = std::string::npos;

bool is_space(char c);
bool is_break(char c);
std::size_t line_start(std::string_view t, std::size_t pos);
/// Position of the line break ending pos's line ('\r' of a CRLF), or t.size().
std::size_t line_end(std::string_view t, std::size_t pos);
/// Position just after the line break ending pos's line.
std::size_t next_line(std::string_view t, std::size_t pos);
std::size_t quoted_end(std::string_view t, std::size_t start);
/// End of a plain scalar (trailing blanks excluded): at a comment, a line break,
/// a ": " (key context) or a flow indicator (flow context).
std::size_t plain_end(std::string_view t, std::size_t start, bool flow);
std::size_t indent_of_line(std::string_view t, std::size_t pos);
/// End of a literal/folded block scalar: its last line indented deeper than the
/// line holding the `|` / `>` header.
std::size_t block_scalar_end(std::string_view t, std::size_t start);
/// End of a flow collection starting at '[' or '{'.
std::size_t flow_end(std::string_view t, std::size_t start);
bool is_flow(std::string_view t, const YAML::Node& n);
std::size_t scalar_end(std::string_view t, std::size_t start, bool flow);
/// Position just after the ':' that follows a mapping key.
std::size_t colon_after_key(std::string_view t, const YAML::Node& key, bool flow);
/// A [begin, end) range of the text.
struct span {
  std::size_t begin = npos;
  std::size_t end = npos;
  bool empty() const { return begin == end; }
};

/// The text of a null value after its key's colon: "~" / "null", or an empty span.
span null_span(std::string_view t, std::size_t colon);
/// End of a map entry's value; for a null value the end of its "~" or of the colon.
std::size_t entry_end(std::string_view t, const YAML::Node& key, const YAML::Node& value,
                      bool flow);
/// End offset of a node's text (after its last character, before any comment).
std::size_t node_end(std::string_view t, const YAML::Node& n, bool flow);

}  // namespace omsgw::config::yaml_text
