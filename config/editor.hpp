#pragma once
/// \file
/// Comment-preserving edits of omsgw's YAML configuration text. Pure: text in, text
/// out, no files. The pieces: config/yaml_text (where a node's text starts and ends),
/// config/yaml_splicer (the splices of one edit), this file (the edits, their re-parse
/// guard, and YAML quoting); the settings table is config/settings_table.
///
/// An edit never re-serialises the document. It locates the node with yaml-cpp's
/// marks, scans the exact span of that node in the text, and splices only that span:
/// a scalar's characters, one `- item` line of a block list, one item of a flow list,
/// or one new `key: value` line (a new section is appended as a block). Everything
/// else -- comments, blank lines, quoting, key order, indentation -- stays byte for
/// byte. Each edit is then checked: the new text is parsed again and must equal the
/// old document with exactly the intended change applied; when it does not (a layout
/// the splicer does not understand), the edit is refused instead of guessed.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/grammar/message.hpp"

namespace omsgw::config {

/// A key path such as {"limits", "idle_timeout_s"}.
using key_path = std::vector<std::string>;

/// "limits.idle_timeout_s" -> {"limits", "idle_timeout_s"}.
key_path split_key(std::string_view dotted);
std::string join_key(const key_path& path);

/// The outcome of an edit: the new text, or why the edit was refused (then `text`
/// is the input unchanged).
struct edit_result {
  std::string text;
  std::string error;     ///< English; empty when the edit worked
  grammar::message why;  ///< the same, for translation (the CLI)
  bool changed = false;  ///< false when the text already had the value
  bool ok() const { return error.empty(); }
};

/// Sets the value at `path` to one scalar (`yaml_scalar` is YAML text, already quoted
/// as needed, e.g. `9090` or `"1.3"`). Missing keys and sections are created.
edit_result set_scalar(std::string_view text, const key_path& path, std::string_view yaml_scalar);

/// Replaces the list at `path` with `yaml_items` (each YAML scalar text). A block list
/// keeps block style and its indentation, a flow list becomes `[a, b]`.
edit_result set_list(std::string_view text, const key_path& path,
                     const std::vector<std::string>& yaml_items);

/// Appends one item to the list at `path`: one new `- item` line in a block list,
/// `, item` before the `]` of a flow list. When the key is absent, the list is
/// created holding `absent_items` (the embedded default the file was relying on)
/// followed by the new item.
edit_result add_list_item(std::string_view text, const key_path& path, std::string_view yaml_item,
                          const std::vector<std::string>& absent_items = {});

/// Removes every item of the list at `path` whose scalar value satisfies `match`
/// (one line per block item, the item and one comma in a flow list). An emptied list
/// becomes `[]`. When the key is absent, the list is created from `absent_items`
/// minus the matching ones. `changed` is false when nothing matched.
edit_result remove_list_items(std::string_view text, const key_path& path,
                              const std::function<bool(const std::string&)>& match,
                              const std::vector<std::string>& absent_items = {});

/// True when the document spells out `path` (as opposed to relying on the default).
bool has_key(std::string_view text, const key_path& path);

/// YAML text of a string value: plain when that reads back as the same string,
/// else double-quoted ("*.example.com", "1.2", "true", "a: b", "").
std::string yaml_string(std::string_view value);

/// `value` as a plain scalar when it is a safe plain token (numbers, booleans), else
/// double-quoted -- so a wrong type reaches the loader, which names key and line.
std::string yaml_token(std::string_view value);

}  // namespace omsgw::config
