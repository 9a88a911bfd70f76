/// \file
/// Pure value checks of the configuration loader (see loader_values.hpp).

#include "config/loader_values.hpp"

#include <algorithm>

#include "config/loader_text.hpp"

namespace omsgw::config::detail {
namespace {

bool is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

}  // namespace

std::optional<std::string> normalise_guid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos ? s[i] != '-' : !is_hex(s[i])) return std::nullopt;
  }
  return lower(s);
}

std::string automation_region_key_form(std::string_view s) {
  std::string key;
  for (char ch : lower(s)) {
    if (ch != ' ' && ch != '-') key += ch;
  }
  return key;
}

std::optional<std::string> automation_region_key(std::string_view s) {
  const std::string key = automation_region_key_form(s);
  for (std::string_view r : k_automation_regions) {
    if (r == key) return key;
  }
  return std::nullopt;
}

}  // namespace omsgw::config::detail
