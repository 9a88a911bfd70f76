#pragma once
/// \file
/// The text helpers every parser (and config/, cli/) shares: ASCII case folding,
/// trimming, decimal numbers. Locale-independent on purpose: configuration and
/// protocol text are ASCII.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace omsgw::grammar {

/// ASCII lower-case copy of `s` (other octets unchanged).
std::string lower(std::string_view s);

/// ASCII case-insensitive equality (header names, auth schemes, host names).
bool iequals(std::string_view a, std::string_view b);

/// True when `s` starts with `prefix`, compared as iequals does.
bool istarts_with(std::string_view s, std::string_view prefix);

/// `s` without leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view s);

/// True when `s` is non-empty and only ASCII digits.
bool all_digits(std::string_view s);

/// Decimal without sign or leading zeros ("0" itself is fine), at most `hi`.
std::optional<std::uint32_t> parse_decimal(std::string_view s, std::uint32_t hi);

}  // namespace omsgw::grammar
