#pragma once
/// \file
/// Every metric of SPEC.md "Counters", declared once. Hot paths hold references and
/// only increment (prometheus-cpp counters and gauges are lock-free atomics; the
/// histograms take a short lock, and are observed once per tunnel, never per byte).

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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

/// The `result` label values of omsgw_dns_lookups_total, in net::lookup_result order.
inline constexpr std::array<std::string_view, 6> dns_result_names = {
    "ok", "cached", "not_found", "timeout", "busy", "failure"};

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
  /// One attempt through a relay ("host:port") ended: omsgw_relay_connects_total{relay,
  /// result} += 1; omsgw_relay_up{relay} = 0 while it is skipped, else 1 (only for a
  /// relay still configured: a tunnel set up under a replaced relay does not bring its
  /// series back). Relay set-up only (short locks), never per byte.
  void count_relay_attempt(const std::string& relay, std::string_view result, bool skipped);
  /// The relays configured now, each with whether it is up (start-up and every relay
  /// change): omsgw_relay_up{relay} is set for each, and the series of relays no longer
  /// configured are removed (an alert on == 0 must not fire for a relay that is gone).
  void configure_relays(const std::map<std::string, bool>& up);
  /// Counts a finished DNS lookup (result index as in dns_result_names); seconds, the
  /// time to the answer, goes to the latency histogram unless it came from the cache or
  /// was refused as busy (those never waited for a server).
  void count_dns_lookup(std::size_t result, double seconds);

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
  prometheus::Histogram& dns_lookup_duration;

 private:
  std::array<prometheus::Counter*, reason_names.size()> rejections_{};
  std::array<prometheus::Counter*, reason_names.size()> would_deny_{};
  prometheus::Family<prometheus::Counter>* relay_connects_ = nullptr;
  prometheus::Family<prometheus::Gauge>* relay_up_ = nullptr;
  std::mutex relay_up_mutex_;
  std::map<std::string, prometheus::Gauge*> relay_up_series_;  ///< the configured relays'
  std::array<prometheus::Counter*, dns_result_names.size()> dns_lookups_{};
};

}  // namespace omsgw::metrics
