#include "metrics/metrics.hpp"

namespace omsgw::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// CONNECT received -> 200 sent: sub-millisecond on a LAN, seconds when a relay is slow.
prometheus::Histogram::BucketBoundaries connect_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
// Agents keep tunnels from seconds to hours.
prometheus::Histogram::BucketBoundaries tunnel_buckets() {
  return {0.01, 0.1, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 14400, 86400};
}

// Cache misses only: a local resolver answers in well under a millisecond, a far one in
// tens of milliseconds, a dead one at the lookup timeout.
prometheus::Histogram::BucketBoundaries dns_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// A counter family registered once even when several members look it up.
prometheus::Family<prometheus::Counter>& family(const std::shared_ptr<prometheus::Registry>& reg,
                                                const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(*reg);
}

}  // namespace

gateway_metrics::gateway_metrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      active_client_connections(BuildGauge()
                                    .Name("omsgw_active_client_connections")
                                    .Help("Client connections open now (OMS: Active Client Connection)")
                                    .Register(*registry_)
                                    .Add({})),
      connected_clients(BuildGauge()
                            .Name("omsgw_connected_clients")
                            .Help("Distinct client addresses with a live connection (OMS: Connected Client)")
                            .Register(*registry_)
                            .Add({})),
      errors(BuildCounter()
                 .Name("omsgw_errors_total")
                 .Help("Application and network errors (OMS: Error Count)")
                 .Register(*registry_)
                 .Add({})),
      connect_requests(BuildCounter()
                           .Name("omsgw_connect_requests_total")
                           .Help("CONNECT requests received")
                           .Register(*registry_)
                           .Add({})),
      bytes_to_upstream(family(registry_, "omsgw_bytes_total", "Bytes relayed through tunnels")
                            .Add({{"direction", "to_upstream"}})),
      bytes_to_client(family(registry_, "omsgw_bytes_total", "Bytes relayed through tunnels")
                          .Add({{"direction", "to_client"}})),
      connect_duration(BuildHistogram()
                           .Name("omsgw_connect_duration_seconds")
                           .Help("Time from CONNECT received to 200 sent")
                           .Register(*registry_)
                           .Add({}, connect_buckets())),
      tunnel_duration(BuildHistogram()
                          .Name("omsgw_tunnel_duration_seconds")
                          .Help("Lifetime of established tunnels")
                          .Register(*registry_)
                          .Add({}, tunnel_buckets())),
      reloads_success(family(registry_, "omsgw_config_reloads_total",
                             "Configuration reloads by result")
                          .Add({{"result", "success"}})),
      reloads_failure(family(registry_, "omsgw_config_reloads_total",
                             "Configuration reloads by result")
                          .Add({{"result", "failure"}})),
      reloads_unchanged(family(registry_, "omsgw_config_reloads_total",
                               "Configuration reloads by result")
                            .Add({{"result", "unchanged"}})),
      build_info(BuildGauge()
                     .Name("omsgw_build_info")
                     .Help("Build information; the value is always 1")
                     .Register(*registry_)
                     .Add({{"version", version}})),
      dns_lookup_duration(BuildHistogram()
                              .Name("omsgw_dns_lookup_seconds")
                              .Help("Time to a DNS answer (lookups not answered from the cache)")
                              .Register(*registry_)
                              .Add({}, dns_buckets())) {
  build_info.Set(1);
  auto& rejections = BuildCounter()
                         .Name("omsgw_rejections_total")
                         .Help("Refused connections and tunnels by reason (OMS: Rejection Count)")
                         .Register(*registry_);
  auto& would_deny = BuildCounter()
                         .Name("omsgw_report_would_deny_total")
                         .Help("In mode: report, refusals that were let through, by reason")
                         .Register(*registry_);
  relay_connects_ = &BuildCounter()
                         .Name("omsgw_relay_connects_total")
                         .Help("Tunnel set-ups through a relay proxy, by relay and result")
                         .Register(*registry_);
  relay_up_ = &BuildGauge()
                   .Name("omsgw_relay_up")
                   .Help("1 for a configured relay proxy, 0 while it is skipped as unreachable")
                   .Register(*registry_);
  for (std::size_t i = 1; i < reason_names.size(); ++i) {
    const std::string name(reason_names[i]);
    rejections_[i] = &rejections.Add({{"reason", name}});
    would_deny_[i] = &would_deny.Add({{"reason", name}});
  }
  auto& lookups = family(registry_, "omsgw_dns_lookups_total", "DNS lookups of destinations by result");
  for (std::size_t i = 0; i < dns_result_names.size(); ++i) {
    dns_lookups_[i] = &lookups.Add({{"result", std::string(dns_result_names[i])}});
  }
}

void gateway_metrics::count_dns_lookup(std::size_t result, double seconds) {
  if (result >= dns_lookups_.size()) return;
  dns_lookups_[result]->Increment();
  if (dns_result_names[result] != "cached" && dns_result_names[result] != "busy") {
    dns_lookup_duration.Observe(seconds);
  }
}

void gateway_metrics::count_rejection(std::size_t reason) {
  if (reason > 0 && reason < rejections_.size()) rejections_[reason]->Increment();
}

void gateway_metrics::count_would_deny(std::size_t reason) {
  if (reason > 0 && reason < would_deny_.size()) would_deny_[reason]->Increment();
}

void gateway_metrics::count_relay_attempt(const std::string& relay, std::string_view result,
                                          bool skipped) {
  relay_connects_->Add({{"relay", relay}, {"result", std::string(result)}}).Increment();
  std::lock_guard<std::mutex> lock(relay_up_mutex_);
  if (auto it = relay_up_series_.find(relay); it != relay_up_series_.end()) {
    it->second->Set(skipped ? 0 : 1);
  }
}

void gateway_metrics::configure_relays(const std::map<std::string, bool>& up) {
  std::lock_guard<std::mutex> lock(relay_up_mutex_);
  std::map<std::string, prometheus::Gauge*> kept;
  for (const auto& [relay, is_up] : up) {
    auto known = relay_up_series_.extract(relay);
    prometheus::Gauge* g = known ? known.mapped() : &relay_up_->Add({{"relay", relay}});
    g->Set(is_up ? 1 : 0);
    kept.emplace(relay, g);
  }
  for (const auto& gone : relay_up_series_) relay_up_->Remove(gone.second);  // not configured now
  relay_up_series_ = std::move(kept);
}

double gateway_metrics::rejections_total() const {
  double sum = 0;
  for (std::size_t i = 1; i < rejections_.size(); ++i) sum += rejections_[i]->Value();
  return sum;
}

}  // namespace omsgw::metrics
