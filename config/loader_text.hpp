#pragma once
/// \file
/// Small text helpers the configuration loader shares between its parts (loader.cpp,
/// loader_checker.cpp, loader_values.cpp, loader_readers.cpp). Internal to config/.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omsgw::config::detail {

/// ASCII lower-case copy of `s`.
std::string lower(std::string_view s);

/// True when `s` is non-empty and only ASCII digits.
bool all_digits(std::string_view s);

/// `s` without leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view s);

/// Decimal without sign or leading zeros, at most `hi`.
std::optional<std::uint32_t> parse_decimal(std::string_view s, std::uint32_t hi);

/// "; did you mean 'port'?" when one candidate is a likely typo of `got`, else "".
std::string did_you_mean(std::string_view got, const std::vector<std::string_view>& candidates);

/// `items` joined by `sep`.
std::string join(const std::vector<std::string_view>& items, std::string_view sep);

}  // namespace omsgw::config::detail
