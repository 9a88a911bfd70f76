#pragma once
// Counters and latency histograms of one worker process, their merge across
// processes, and the JSON result line.

#include <array>
#include <cstdint>
#include <string>

#include "options.hpp"

namespace omsgw::loadgen {

/// Log-linear histogram of microsecond values: 16 sub-buckets per power of two, so a
/// percentile is within 6.25% of the true value; fixed size, so merging is addition.
class histogram {
 public:
  static constexpr int sub_bits = 4;
  static constexpr int size = 64 << sub_bits;

  void record(std::uint64_t us);
  void merge(const histogram& other);
  std::uint64_t count() const { return n_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return n_ ? static_cast<double>(sum_) / static_cast<double>(n_) : 0; }
  /// Upper bound of the bucket holding the p-th percentile (0 < p <= 100), capped at max().
  std::uint64_t percentile(double p) const;

  std::string serialize() const;
  bool parse(const std::string& text);

 private:
  static int index_of(std::uint64_t v);
  static std::uint64_t upper_of(int index);

  std::array<std::uint64_t, size> counts_{};
  std::uint64_t n_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

/// Why a set-up or request failed.
enum class error_kind { connect, proxy, tls, http, closed, timeout, count_ };
const char* to_string(error_kind k);

/// Everything one worker measured; summed over workers by merge().
struct stats {
  std::uint64_t connections = 0;  ///< tunnels this worker was asked to run
  std::uint64_t established = 0;  ///< tunnels up when the window opened (agents/idle/bulk)
  std::uint64_t tunnels = 0;      ///< tunnel set-ups completed (rate: within the window)
  std::uint64_t handshakes = 0;   ///< TLS handshakes completed
  std::uint64_t resumed = 0;      ///< of which resumed a session
  std::uint64_t requests = 0;     ///< requests answered 2xx
  std::uint64_t bytes = 0;        ///< request bytes written inside the tunnels (window)
  std::array<std::uint64_t, static_cast<int>(error_kind::count_)> errors{};
  double window_s = 0;  ///< measurement window actually run
  histogram setup;      ///< connect() to tunnel usable (after TLS when on), us
  histogram latency;    ///< scheduled send time to full response, us

  std::uint64_t error_total() const;
  void merge(const stats& other);
  std::string serialize() const;
  bool parse(const std::string& text);
};

/// The result line: one JSON object (keys documented in README "Performance").
std::string to_json(const options& opts, unsigned procs, const stats& s);

/// A one-line human summary for stderr.
std::string summary(const options& opts, unsigned procs, const stats& s);

}  // namespace omsgw::loadgen
