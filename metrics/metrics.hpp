#pragma once
/// \file
/// Every metric of SPEC.md "Counters", declared once. Hot paths hold references and
/// only increment (prometheus-cpp counters and gauges are lock-free atomics; the
/// histograms take a short lock, and are observed once per tunnel, never per byte).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace omsgw::metrics {

/// The `reason` label values of omsgw_rejections_total, in net::deny_reason order
/// (index 0, "none", is never counted).
inline constexpr std::array<std::string_view, 10> reason_names = {
    "none",        "host",    "port",    "client",    "limit",
    "tls_version", "sni_mismatch", "client_cert", "not_tls", "tls_parse"};

class gateway_metrics {
  // Declared first: every reference below points into it.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  explicit gateway_metrics(const std::string& version);
  gateway_metrics(const gateway_metrics&) = delete;
  gateway_metrics& operator=(const gateway_metrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  /// Counts a refusal (reason index as in reason_names) in the rejections counter.
  void count_rejection(std::size_t reason);
  /// Counts a would-be refusal in report mode.
  void count_would_deny(std::size_t reason);
  double rejections_total() const;

  prometheus::Gauge& active_client_connections;
  prometheus::Gauge& connected_clients;
  prometheus::Counter& errors;
  prometheus::Counter& connect_requests;
  prometheus::Counter& bytes_to_upstream;
  prometheus::Counter& bytes_to_client;
  prometheus::Histogram& connect_duration;
  prometheus::Histogram& tunnel_duration;
  prometheus::Counter& reloads_success;
  prometheus::Counter& reloads_failure;
  prometheus::Counter& reloads_unchanged;  ///< a request that found nothing new to apply
  prometheus::Gauge& build_info;

 private:
  std::array<prometheus::Counter*, reason_names.size()> rejections_{};
  std::array<prometheus::Counter*, reason_names.size()> would_deny_{};
};

}  // namespace omsgw::metrics
