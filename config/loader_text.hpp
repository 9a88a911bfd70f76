#pragma once
/// \file
/// Small text helpers the configuration loader shares between its parts (loader.cpp,
/// loader_checker.cpp, loader_values.cpp, loader_readers.cpp). Internal to config/.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/grammar/message.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::config::detail {

// The one lower/trim/decimal parser of the project (net/grammar/text.hpp).
using grammar::all_digits;
using grammar::lower;
using grammar::message;
using grammar::parse_decimal;
using grammar::trim;

/// "; did you mean 'port'?" when one candidate is a likely typo of `got`, else empty.
message did_you_mean(std::string_view got, const std::vector<std::string_view>& candidates);

/// `items` joined by `sep`.
std::string join(const std::vector<std::string_view>& items, std::string_view sep);

}  // namespace omsgw::config::detail
