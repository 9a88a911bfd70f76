/// \file
/// Text helpers of the configuration loader (see loader_text.hpp).

#include "config/loader_text.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace omsgw::config::detail {
namespace {

/// Optimal-string-alignment distance: a swapped pair of letters counts as one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

message did_you_mean(std::string_view got, const std::vector<std::string_view>& candidates) {
  if (got.size() > 64) return {};  // not a typo, and the distance table would be large
  const std::string g = lower(got);
  std::string_view best;
  std::size_t best_d = SIZE_MAX;
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(g, lower(c));
    const std::size_t allowed = c.size() >= 6 ? 2 : 1;
    if (d <= allowed && d < c.size() && d < best_d) {
      best = c;
      best_d = d;
    }
  }
  return best.empty() ? message() : message(N_("; did you mean '%1%'?"), std::string(best));
}

std::string join(const std::vector<std::string_view>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace omsgw::config::detail
