/// \file
/// The admin endpoint's questions to the actors (see gateway_admin.hpp).

#include "actors/gateway_admin.hpp"

#include "actors/config_reloader.hpp"
#include "actors/messages.hpp"
#include "metrics/events.hpp"

namespace omsgw::actors {

void ask_reload(caf::actor_system& sys, const std::shared_ptr<caf::actor>& reloader_slot,
                std::string trigger, metrics::reply_fn reply) {
  caf::actor reloader = *reloader_slot;
  if (!reloader) {
    return reply(503, "{\"result\":\"failure\",\"errors\":[\"stopping\"]}");
  }
  sys.spawn([reloader, reply, trigger](caf::event_based_actor* self) {
    self->request(reloader, k_reload_timeout, reload_atom::value, trigger)
        .then([=](const reload_result& r) { reply(r.ok ? 200 : 422, to_json(r)); },
              [=](const caf::error& e) {
                reply(500, "{\"result\":\"failure\",\"errors\":[" +
                               events::json_quote(caf::to_string(e)) + "]}");
              });
  });
}

metrics::admin_handlers admin_handlers(caf::actor_system& sys,
                                       std::shared_ptr<prometheus::Registry> registry,
                                       std::shared_ptr<const metrics::admin_token> token,
                                       caf::actor telemetry,
                                       std::shared_ptr<caf::actor> reloader_slot,
                                       std::function<bool()> ready) {
  metrics::admin_handlers h;
  h.registry = std::move(registry);
  h.token = std::move(token);
  h.ready = std::move(ready);
  h.status = [&sys, telemetry](metrics::reply_fn reply) {
    sys.spawn([telemetry, reply](caf::event_based_actor* self) {
      self->request(telemetry, k_actor_request_timeout, status_atom::value)
          .then([=](const std::string& json) { reply(200, json); },
                [=](const caf::error& e) {
                  reply(500, "{\"error\":" + events::json_quote(caf::to_string(e)) + "}");
                });
    });
  };
  h.reload = [&sys, reloader_slot](metrics::reply_fn reply) {
    ask_reload(sys, reloader_slot, "POST /reload", std::move(reply));
  };
  return h;
}

}  // namespace omsgw::actors
