#pragma once
/// \file
/// The telemetry actor: owns the metrics registry's lifetime and answers status
/// queries with the OMS counters (Active Client Connection, Connected Client, Error
/// Count, Rejection Count), uptime and configuration version, as JSON.

#include <caf/all.hpp>
#include <chrono>
#include <string>

#include "actors/messages.hpp"
#include "actors/services.hpp"

namespace omsgw::actors {

struct telemetry_state {
  services_ptr svc;
  caf::actor listener;
  net::policy_ptr snapshot;
  std::chrono::steady_clock::time_point started;
  static inline const char* name = "omsgw.telemetry";
};

/// Replies to (status_atom) with a JSON document (see README "Admin endpoint").
caf::behavior telemetry(caf::stateful_actor<telemetry_state>* self, services_ptr svc,
                        caf::actor listener, caf::actor policy_store);

/// The /status JSON for the given figures (pure).
std::string status_json(const services& svc, const listener_status& ls,
                        const net::policy_snapshot& p, double uptime_s);

}  // namespace omsgw::actors
