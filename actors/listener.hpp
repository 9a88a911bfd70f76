#pragma once
/// \file
/// The listener actor: owns the acceptor and the admission (actors/admission, which
/// admits each accepted connection on the accepting thread and spawns its session),
/// answers the live-connection figures (/status, PerfMon), and runs the drain: stop
/// accepting, wait for the live sessions up to drain_timeout_s, then stop the rest.

#include <caf/all.hpp>
#include <functional>
#include <memory>

#include "actors/admission.hpp"
#include "actors/messages.hpp"
#include "net/acceptor.hpp"

namespace omsgw::actors {

struct listener_state {
  std::shared_ptr<net::acceptor> acceptor;
  std::shared_ptr<admission> gate;
  bool draining = false;
  bool accept_stopped = false;  ///< draining and the acceptor has handed on its last connection
  std::function<void()> on_drained;  ///< called once when draining and no session is left
  static inline const char* name = "omsgw.listener";
};

/// on_drained runs (once) on an actor thread when a drain has finished.
caf::behavior listener(caf::stateful_actor<listener_state>* self,
                       std::shared_ptr<net::acceptor> acceptor, std::shared_ptr<admission> gate,
                       std::function<void()> on_drained);

}  // namespace omsgw::actors
