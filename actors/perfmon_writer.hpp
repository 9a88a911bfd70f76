#pragma once
/// \file
/// The PerfMon counter-log writer (SPEC.md "Counters", PerfMon): appends the rows the
/// telemetry actor samples to the PDH-CSV file of `perfmon.csv_file`.
///
/// It runs detached (its own thread): every append is blocking file I/O (open,
/// pread, write, rename at rotation), which must never run on a cooperative
/// scheduler thread -- with the default of one actor thread on two cores, a stalled
/// disk (NFS, a full volume, a slow USB stick) would otherwise stall every session.
/// A detached actor rather than a hand-made thread: it brings its own mailbox and
/// lifecycle (telemetry spawns it linked, so it ends with telemetry, and the
/// gateway's await_all_actors_done waits for it) without a queue, condition variable
/// or join to write. It exists only while csv_file is set, and gets one small message
/// per interval, so its mailbox cannot grow meaningfully even on a hung disk.

#include <caf/all.hpp>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "actors/services.hpp"
#include "metrics/perfmon.hpp"

namespace omsgw::actors {

struct perfmon_writer_state {
  services_ptr svc;
  std::optional<metrics::perfmon_log> log;
  /// The failure last logged; empty while rows are being written. An error is logged
  /// (event 400) and counted once when it first appears, not at every interval.
  std::string last_error;
  static inline const char* name = "omsgw.perfmon_writer";
};

/// Messages: (sample_atom, perfmon_sample_msg) appends one row to `path`.
caf::behavior perfmon_writer(caf::stateful_actor<perfmon_writer_state>* self, std::string path,
                             services_ptr svc);

/// True when a failed append's `error_text` differs from the failure last logged, so
/// it must be logged (pure; the once-per-distinct-error rule).
bool perfmon_error_is_new(const std::string& last_error, const std::string& error_text);

}  // namespace omsgw::actors
