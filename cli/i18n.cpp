/// \file
/// Locale and catalog binding (see i18n.hpp).
#include "cli/i18n.hpp"

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <cwchar>
#include <vector>

#ifndef OMSGW_LOCALEDIR
#define OMSGW_LOCALEDIR "/usr/share/locale"
#endif

namespace omsgw::cli {

void init_i18n() {
  std::setlocale(LC_CTYPE, "");
  std::setlocale(LC_MESSAGES, "");
  const char* dir = std::getenv("OMSGW_LOCALEDIR");
  bindtextdomain(k_text_domain, dir && *dir ? dir : OMSGW_LOCALEDIR);
  bind_textdomain_codeset(k_text_domain, "UTF-8");
}

namespace {

/// The terminal columns `text` takes; its byte count when the locale cannot tell.
std::size_t display_width(const std::string& text) {
  std::vector<wchar_t> wide(text.size() + 1);
  const std::size_t n = std::mbstowcs(wide.data(), text.c_str(), wide.size());
  if (n == static_cast<std::size_t>(-1)) return text.size();
  const int w = ::wcswidth(wide.data(), n);
  return w >= 0 ? static_cast<std::size_t>(w) : text.size();
}

}  // namespace

std::string pad_to_width(const std::string& text, std::size_t columns) {
  const std::size_t shown = display_width(text);
  return shown >= columns ? text : text + std::string(columns - shown, ' ');
}

std::string label_table(const std::vector<std::pair<std::string, std::string>>& rows,
                        std::size_t min_columns) {
  std::size_t columns = min_columns;
  for (const auto& r : rows) columns = std::max(columns, display_width(r.first) + 1);
  std::string out;
  for (const auto& [label, value] : rows) out += pad_to_width(label, columns) + value + "\n";
  return out;
}

}  // namespace omsgw::cli
