#include "actors/telemetry.hpp"

#include <spdlog/fmt/fmt.h>

namespace omsgw::actors {

std::string status_json(const services& svc, const listener_status& ls,
                        const net::policy_snapshot& p, double uptime_s) {
  const auto& m = *svc.metrics;
  return fmt::format(
      "{{\"version\":\"{}\",\"uptime_seconds\":{:.3f},\"config_version\":{},"
      "\"config_hash\":\"{}\",\"mode\":\"{}\",\"draining\":{},\"capacity\":{},"
      "\"active_client_connections\":{},\"connected_clients\":{},\"error_count\":{},"
      "\"rejection_count\":{},\"connect_requests\":{},\"relay_proxy\":\"{}\"}}",
      svc.version, uptime_s, p.version, p.config_hash, p.report_mode ? "report" : "enforce",
      ls.draining ? "true" : "false", ls.capacity, ls.active, ls.clients,
      static_cast<std::uint64_t>(m.errors.Value()),
      static_cast<std::uint64_t>(m.rejections_total()),
      static_cast<std::uint64_t>(m.connect_requests.Value()),
      p.config->relay_proxy.address.empty() ? "direct" : "configured");
}

caf::behavior telemetry(caf::stateful_actor<telemetry_state>* self, services_ptr svc,
                        caf::actor listener, caf::actor policy_store) {
  self->state.svc = std::move(svc);
  self->state.listener = std::move(listener);
  self->state.started = std::chrono::steady_clock::now();
  self->send(policy_store, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  return {
      [=](update_atom, net::policy_ptr p) { self->state.snapshot = std::move(p); },
      [=](status_atom) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        self->request(self->state.listener, std::chrono::seconds(2), status_atom::value)
            .then(
                [=](const listener_status& ls) mutable {
                  auto& s = self->state;
                  const double up =
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started)
                          .count();
                  rp.deliver(status_json(*s.svc, ls, *s.snapshot, up));
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

}  // namespace omsgw::actors
