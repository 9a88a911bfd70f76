#pragma once
/// \file
/// One session actor per client connection. The connection runs its set-up on its own
/// strand with the session's link (actors/session_link: the policy decision, events
/// and counters of each step, no thread hand-off); the session owns the connection's
/// life: it closes it when it is stopped (drain deadline, shutdown), hears once that it
/// ended (the link has logged a tunnel's close line: a tunnel cut at shutdown ends
/// after its session), and ends, which frees its admission. The bytes themselves never
/// pass through it.

#include <caf/all.hpp>
#include <memory>
#include <string>

#include "actors/admission_release.hpp"
#include "actors/lean_clock.hpp"
#include "actors/messages.hpp"

namespace omsgw::actors {

/// Spawned lazily (caf::lazy_init) from the accepting thread: it first runs when its
/// connection ends or it is stopped, so a set-up wakes no actor thread. Told of the end
/// by its link, it runs on its connection's I/O thread (actors/thread_unit); stopped
/// by the listener, on CAF's. A class, not a function with state: CAF constructs it
/// with its arguments, with no bound copy of them and no separate state to build. It
/// sets no timeout, so its end wakes no clock thread either (actors/lean_clock).
class session final : public caf::event_based_actor, public rare_timeouts {
 public:
  session(caf::actor_config& cfg, std::shared_ptr<net::connection> conn, std::string client,
          admission_release release);

  caf::behavior make_behavior() override;
  /// Whatever ends it (its connection's end, a stop, shutdown; CAF calls this once):
  /// closes the connection (a no-op once it has ended) and frees the admission place,
  /// unless its link already did (told an end).
  void on_exit() override;
  const char* name() const override { return "omsgw.session"; }

 private:
  void on_end(const session_end& end);

  std::shared_ptr<net::connection> conn_;
  std::string client_;  ///< "addr:port" for log lines
  admission_release release_;
};

}  // namespace omsgw::actors
