#pragma once
/// \file
/// One session actor per client connection. The connection runs its set-up on its own
/// strand with the session's link (actors/session_link: the policy decision, events
/// and counters of each step, no thread hand-off); the session owns the connection's
/// life: it closes it when it is stopped (drain deadline, shutdown), hears once how it
/// ended, logs the close line of a tunnel and ends, which frees its admission. The
/// bytes themselves never pass through it.

#include <caf/all.hpp>
#include <memory>
#include <string>

#include "actors/admission_release.hpp"
#include "actors/messages.hpp"

namespace omsgw::actors {

struct session_state {
  std::shared_ptr<net::connection> conn;
  std::string client;  ///< "addr:port" for log lines
  static inline const char* name = "omsgw.session";
};

/// Spawned lazily (caf::lazy_init) from the accepting thread: it first runs when its
/// connection ends or it is stopped, so a set-up wakes no actor thread. Told of the end
/// by its link, it runs on its connection's I/O thread (actors/thread_unit); stopped
/// by the listener, on CAF's. on_exit runs once when the session ends, whatever ends it
/// (the listener's bookkeeping).
caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, std::string client,
                      admission_release on_exit);

}  // namespace omsgw::actors
