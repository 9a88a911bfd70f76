#pragma once
/// \file
/// What the admin endpoint (metrics/admin_server) asks of the actors: /status from the
/// telemetry actor, /reload from the config reloader. The admin server runs on an I/O
/// thread and must not block it, so each question is a one-shot actor that waits for
/// the answer and hands it to the server's reply function.

#include <caf/all.hpp>
#include <functional>
#include <memory>
#include <string>

#include "metrics/admin_auth.hpp"
#include "metrics/admin_server.hpp"

namespace omsgw::actors {

/// Asks the reloader in `reloader_slot` to reload (trigger names who asked: "SIGHUP",
/// "POST /reload"); replies 200 (success, unchanged), 422 (refused), 500/503.
void ask_reload(caf::actor_system& sys, const std::shared_ptr<caf::actor>& reloader_slot,
                std::string trigger, metrics::reply_fn reply);

/// The admin server's handlers over these actors. `ready` is false while draining.
metrics::admin_handlers admin_handlers(caf::actor_system& sys,
                                       std::shared_ptr<prometheus::Registry> registry,
                                       std::shared_ptr<const metrics::admin_token> token,
                                       caf::actor telemetry,
                                       std::shared_ptr<caf::actor> reloader_slot,
                                       std::function<bool()> ready);

}  // namespace omsgw::actors
