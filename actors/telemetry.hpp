#pragma once
/// \file
/// The telemetry actor: answers status queries with the OMS counters (Active Client
/// Connection, Connected Client, Error Count, Rejection Count), uptime and
/// configuration version, as JSON; and, while `perfmon.csv_file` is set, samples the
/// four counters every `perfmon.interval_s` for the PerfMon counter log (written by
/// the detached perfmon_writer, see actors/perfmon_writer.hpp). It follows policy
/// snapshots, so a reload that changes csv_file or interval_s applies at once.

#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/messages.hpp"
#include "actors/services.hpp"
#include "metrics/events.hpp"
#include "metrics/perfmon.hpp"

namespace omsgw::actors {

struct telemetry_state {
  services_ptr svc;
  caf::actor listener;
  net::policy_ptr snapshot;
  std::chrono::steady_clock::time_point started;
  // PerfMon counter log
  caf::actor perfmon;                  ///< the writer, while perfmon.csv_file is set
  std::string perfmon_file;            ///< the settings the writer and ticks run on
  std::uint32_t perfmon_interval_s = 0;
  std::uint64_t perfmon_generation = 0;  ///< ticks scheduled under older settings are dropped
  std::chrono::steady_clock::time_point next_sample;
  static inline const char* name = "omsgw.telemetry";
};

/// Replies to (status_atom) with a JSON document (see README "Admin endpoint");
/// handles (update_atom, policy) from the policy store and its own (tick_atom, n).
caf::behavior telemetry(caf::stateful_actor<telemetry_state>* self, services_ptr svc,
                        caf::actor listener, caf::actor policy_store);

/// The /status JSON for the given figures (pure).
std::string status_json(const services& svc, const listener_status& ls,
                        const net::policy_snapshot& p, double uptime_s);

using events::json_quote;

/// The four OMS counters as the metrics hold them now (Rejection Count is the sum of
/// omsgw_rejections_total over every reason).
metrics::perfmon_sample read_oms_counters(const metrics::gateway_metrics& m);

}  // namespace omsgw::actors
