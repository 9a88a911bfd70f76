#include "actors/telemetry.hpp"

#include <algorithm>
#include <spdlog/fmt/fmt.h>

#include "actors/perfmon_writer.hpp"
#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

using steady = std::chrono::steady_clock;

std::uint64_t whole(double v) { return v > 0 ? static_cast<std::uint64_t>(v) : 0; }

/// Sends one sample to the writer and schedules the next tick on a fixed grid
/// (started + k * interval), so rows do not drift by the scheduling delay; a tick
/// that comes too late to catch its slot skips it rather than writing rows in a burst.
void sample_and_schedule(caf::stateful_actor<telemetry_state>* self) {
  auto& s = self->state;
  self->send(s.perfmon, sample_atom::value,
             perfmon_sample_msg{read_oms_counters(*s.svc->metrics),
                                std::chrono::system_clock::now()});
  const auto interval = std::chrono::seconds(std::max<std::uint32_t>(1, s.perfmon_interval_s));
  const auto now = steady::now();
  s.next_sample += interval;
  if (s.next_sample <= now) s.next_sample = now + interval;
  self->delayed_send(self, s.next_sample - now, tick_atom::value, s.perfmon_generation);
}

/// Brings the PerfMon writer and ticks in line with the snapshot's perfmon settings:
/// a new csv_file gets a new writer (the old one finishes its row and ends), a new
/// interval a new tick schedule; both take a first sample at once.
void apply_perfmon(caf::stateful_actor<telemetry_state>* self) {
  auto& s = self->state;
  const auto& pc = s.snapshot->config->perfmon;
  if (pc.csv_file == s.perfmon_file && pc.interval_s == s.perfmon_interval_s) return;
  if (pc.csv_file != s.perfmon_file && s.perfmon) {
    self->unlink_from(s.perfmon);  // its exit must not take telemetry down with it
    self->send_exit(s.perfmon, caf::exit_reason::user_shutdown);
    s.perfmon = nullptr;
  }
  const bool was_on = !s.perfmon_file.empty();
  s.perfmon_file = pc.csv_file;
  s.perfmon_interval_s = pc.interval_s;
  ++s.perfmon_generation;  // orphans the pending tick of the old schedule
  if (s.perfmon_file.empty()) {
    if (was_on) OMSGW_EVENT(info, info, events::context{}, "perfmon: counter log off");
    return;
  }
  if (!s.perfmon) {
    s.perfmon = self->spawn<caf::detached + caf::linked>(perfmon_writer, s.perfmon_file, s.svc);
  }
  OMSGW_EVENT_F(info, info, events::context{},
                ({{"file", s.perfmon_file}, {"interval_s", std::to_string(s.perfmon_interval_s)}}),
                "perfmon: appending the OMS counters to the counter log");
  s.next_sample = steady::now();
  sample_and_schedule(self);
}

}  // namespace


metrics::perfmon_sample read_oms_counters(const metrics::gateway_metrics& m) {
  metrics::perfmon_sample sample;
  sample.active_client_connections = m.active_client_connections.Value();
  sample.error_count = m.errors.Value();
  sample.connected_clients = m.connected_clients.Value();
  sample.rejection_count = m.rejections_total();
  return sample;
}

std::string status_json(const services& svc, const listener_status& ls,
                        const net::policy_snapshot& p, double uptime_s) {
  const auto& m = *svc.metrics;
  const auto& cfg = *p.config;
  return fmt::format(
      "{{\"version\":{},\"uptime_seconds\":{:.3f},\"config_version\":{},"
      "\"config_hash\":{},\"mode\":{},\"draining\":{},\"capacity\":{},"
      "\"active_client_connections\":{},\"connected_clients\":{},\"error_count\":{},"
      "\"rejection_count\":{},\"connect_requests\":{},\"relay_proxy\":{},"
      "\"perfmon\":{{\"csv_file\":{},\"interval_s\":{}}}}}",
      json_quote(svc.version), uptime_s, p.version, json_quote(p.config_hash),
      json_quote(p.report_mode ? "report" : "enforce"), ls.draining ? "true" : "false",
      ls.capacity, ls.active, ls.clients, whole(m.errors.Value()), whole(m.rejections_total()),
      whole(m.connect_requests.Value()),
      json_quote(cfg.relay_proxy.address.empty() ? "direct" : cfg.relay_proxy.address),
      json_quote(cfg.perfmon.csv_file), cfg.perfmon.interval_s);
}

caf::behavior telemetry(caf::stateful_actor<telemetry_state>* self, services_ptr svc,
                        caf::actor listener, caf::actor policy_store) {
  self->state.svc = std::move(svc);
  self->state.listener = std::move(listener);
  self->state.started = steady::now();
  self->send(policy_store, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  return {
      [=](update_atom, net::policy_ptr p) {
        self->state.snapshot = std::move(p);
        apply_perfmon(self);
      },
      [=](tick_atom, std::uint64_t generation) {
        auto& s = self->state;
        if (generation == s.perfmon_generation && s.perfmon) sample_and_schedule(self);
      },
      [=](status_atom) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        self->request(self->state.listener, std::chrono::seconds(2), status_atom::value)
            .then(
                [=](const listener_status& ls) mutable {
                  auto& s = self->state;
                  if (!s.snapshot) {  // the policy store's first snapshot is not in yet
                    rp.deliver(caf::make_error(caf::sec::runtime_error, "starting"));
                    return;
                  }
                  const double up =
                      std::chrono::duration<double>(steady::now() - s.started).count();
                  rp.deliver(status_json(*s.svc, ls, *s.snapshot, up));
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

}  // namespace omsgw::actors
