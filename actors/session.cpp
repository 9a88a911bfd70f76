#include "actors/session.hpp"

#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

using session_actor = caf::stateful_actor<session_state>;

void on_end(session_actor* self, const session_end& end) {
  if (end.tunnel) {
    const auto& stats = end.stats;
    const events::context ctx{self->state.conn->id(), self->state.client, end.dest};
    OMSGW_EVENT_F(info, info, ctx,
                  ({{"reason", net::to_string(stats.reason)},
                    {"bytes_up", std::to_string(stats.bytes_to_upstream)},
                    {"bytes_down", std::to_string(stats.bytes_to_client)},
                    {"seconds", fmt::format("{:.3f}", stats.seconds)}}),
                  "tunnel closed{}{}", stats.detail.empty() ? "" : ": ", stats.detail);
  }
  self->quit();
}

}  // namespace

caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, std::string client,
                      admission_release on_exit) {
  self->state.conn = conn;
  self->state.client = std::move(client);
  // Whatever ends this actor (its connection's end, a stop, shutdown) closes the
  // connection (a no-op once it has ended) and frees the admission.
  self->attach_functor([conn, on_exit = std::move(on_exit)](const caf::error&) {
    conn->close();
    on_exit();
  });
  return {
      [=](closed_atom, const session_end& end) { on_end(self, end); },
  };
}

}  // namespace omsgw::actors
