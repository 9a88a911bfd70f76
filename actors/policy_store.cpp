#include "actors/policy_store.hpp"

namespace omsgw::actors {

policy_store_actor::behavior_type policy_store(
    policy_store_actor::stateful_pointer<policy_store_state> self, net::policy_ptr initial,
    std::shared_ptr<route_generations> generations) {
  self->state.current = std::move(initial);
  self->state.generations = std::move(generations);
  if (self->state.generations) self->state.generations->publish_policy(self->state.current);
  return {
      [=](caf::get_atom) { return self->state.current; },
      [=](update_atom, net::policy_ptr next) {
        self->state.current = std::move(next);
        // Published before the subscribers hear of it: a session holding the old
        // snapshot sees the mismatch and asks here.
        if (self->state.generations) self->state.generations->publish_policy(self->state.current);
        for (auto& s : self->state.subscribers)
          caf::anon_send(s, update_atom::value, self->state.current);
        return self->state.current ? self->state.current->version : std::uint64_t{0};
      },
      [=](subscribe_atom, caf::actor who) {
        self->state.subscribers.push_back(who);
        caf::anon_send(who, update_atom::value, self->state.current);
      },
  };
}

}  // namespace omsgw::actors
