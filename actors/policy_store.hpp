#pragma once
/// \file
/// The policy store: holds the current immutable policy snapshot and replaces it on
/// update (a reload), publishing it in route_generations (the one route policy takes
/// to the listener and the sessions). Subscribers (telemetry) receive every snapshot.
/// An update is answered with the version published once it is in force: the config
/// reloader reports a reload only then (event 100, the /reload answer).

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "actors/services.hpp"

namespace omsgw::actors {

using policy_store_actor = caf::typed_actor<
    caf::replies_to<caf::get_atom>::with<net::policy_ptr>,
    caf::replies_to<update_atom, net::policy_ptr>::with<std::uint64_t>,
    caf::reacts_to<subscribe_atom, caf::actor>>;

struct policy_store_state {
  net::policy_ptr current;
  std::shared_ptr<route_generations> generations;  ///< published version (may be null)
  std::vector<caf::actor> subscribers;
  static inline const char* name = "omsgw.policy_store";
};

/// generations, if given, gets every snapshot put in force (publish_policy).
policy_store_actor::behavior_type policy_store(
    policy_store_actor::stateful_pointer<policy_store_state> self, net::policy_ptr initial,
    std::shared_ptr<route_generations> generations = nullptr);

}  // namespace omsgw::actors
