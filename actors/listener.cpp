#include "actors/listener.hpp"

#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

using listener_actor = caf::stateful_actor<listener_state>;

void maybe_drained(listener_state& st) {
  if (st.draining && st.accept_stopped && st.on_drained && st.gate->idle()) {
    auto done = std::move(st.on_drained);
    st.on_drained = nullptr;
    done();
  }
}

/// Stops accepting and waits up to timeout_s for the live connections to end.
void start_drain(listener_actor* self, std::uint32_t timeout_s) {
  auto& s = self->state;
  if (s.draining) return;
  s.draining = true;
  s.gate->start_drain();
  if (s.acceptor) {
    s.acceptor->stop(
        [me = caf::actor_cast<caf::actor>(self)] { caf::anon_send(me, stopped_atom::value); });
  } else {
    s.accept_stopped = true;
  }
  OMSGW_EVENT(info, info, events::context{}, "draining: {} live connection(s), up to {} s",
              s.gate->status().active, timeout_s);
  self->delayed_send(self, std::chrono::seconds(timeout_s), deadline_atom::value);
  maybe_drained(s);
}

/// The drain deadline: every connection still open is closed.
void end_drain(listener_actor* self) {
  auto& s = self->state;
  const auto live = s.gate->status().active;
  if (live > 0) {
    OMSGW_EVENT(warn, info, events::context{},
                "drain_timeout_s reached: closing {} remaining connection(s)", live);
  }
  // Past the deadline nothing else is waited for.
  s.gate->shut();
  s.accept_stopped = true;
  maybe_drained(s);
}

}  // namespace

caf::behavior listener(listener_actor* self, std::shared_ptr<net::acceptor> acceptor,
                       std::shared_ptr<admission> gate, std::function<void()> on_drained) {
  auto& st = self->state;
  st.acceptor = std::move(acceptor);
  st.gate = std::move(gate);
  st.on_drained = std::move(on_drained);

  // Stopping the listener stops every session (each closes its tunnel).
  self->set_exit_handler([=](caf::exit_msg& em) {
    self->state.gate->shut();
    if (self->state.acceptor) self->state.acceptor->stop();
    self->quit(em.reason);
  });

  return {
      [=](drain_atom, std::uint32_t timeout_s) { start_drain(self, timeout_s); },
      [=](stopped_atom) {
        self->state.accept_stopped = true;
        maybe_drained(self->state);
      },
      [=](released_atom) { maybe_drained(self->state); },
      [=](deadline_atom) { end_drain(self); },
      [=](status_atom) {
        auto st = self->state.gate->status();
        st.draining = self->state.draining;
        return st;
      },
  };
}

}  // namespace omsgw::actors
