// The session's fast path: it decides a CONNECT with the policy snapshot and relay its
// listener admitted it under only while both are still the ones in force, which the
// policy store and the relay actor publish as generation numbers (actors/services.hpp).
#include "actors/session.hpp"

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/services.hpp"

namespace omsgw::actors {
namespace {

net::policy_ptr policy_version(std::uint64_t v) {
  return net::make_policy(std::make_shared<const config::gateway_config>(), v, "hash");
}

TEST(RouteIsCurrent, OnlyWhileBothThePolicyAndTheRelayAreInForce) {
  route_generations in_force;
  in_force.policy = 3;
  in_force.relay = 1;
  const route_view view{policy_version(3), nullptr, 1};
  EXPECT_TRUE(route_is_current(view, in_force));
  in_force.policy = 4;  // a reload swapped the policy
  EXPECT_FALSE(route_is_current(view, in_force));
  in_force.policy = 3;
  in_force.relay = 2;  // the relay changed
  EXPECT_FALSE(route_is_current(view, in_force));
  in_force.relay = 1;
  EXPECT_FALSE(route_is_current(
      route_view{policy_version(3), nullptr, route_view::unknown_generation}, in_force))
      << "a listener that has not yet heard from the relay actor must make sessions ask";
  EXPECT_FALSE(route_is_current(route_view{nullptr, nullptr, 1}, in_force));
}

TEST(RouteGenerations, HandsOutTheRouteInForceWhenTheHeldOneIsStale) {
  route_generations board;
  const auto v1 = policy_version(1);
  board.publish_policy(v1);
  board.publish_relay(nullptr, 0);
  const route_view held = board.in_force();
  EXPECT_EQ(held.policy, v1);
  EXPECT_EQ(held.relay_generation, 0u);
  EXPECT_TRUE(route_is_current(held, board));
  EXPECT_EQ(current_route(held, board).policy, v1);
  // A reload: the held route is stale, the one in force comes from the board, no actor.
  const auto v2 = policy_version(2);
  const auto relay =
      std::make_shared<const net::relay_target>(*net::parse_relay_address("http://r:1"));
  board.publish_policy(v2);
  board.publish_relay(relay, 1);
  EXPECT_FALSE(route_is_current(held, board));
  const auto now = current_route(held, board);
  EXPECT_EQ(now.policy, v2);
  EXPECT_EQ(now.relay, relay);
  EXPECT_EQ(now.relay_generation, 1u);
  EXPECT_TRUE(route_is_current(now, board));
}

TEST(PolicyStore, PublishesTheVersionInForceBeforeSubscribersHearOfIt) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto gens = std::make_shared<route_generations>();
  auto store = sys.spawn(policy_store, policy_version(1), gens);
  caf::scoped_actor self{sys};
  auto heard = [&] {
    std::uint64_t version = 0;
    self->receive([&](update_atom, const net::policy_ptr& p) { version = p->version; },
                  caf::after(std::chrono::seconds(5)) >> [] { ADD_FAILURE() << "no update"; });
    return version;
  };
  self->send(store, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  EXPECT_EQ(heard(), 1u);
  EXPECT_EQ(gens->policy.load(), 1u);
  // The update is acknowledged with the version once it is in force.
  self->request(store, std::chrono::seconds(5), update_atom::value, policy_version(2))
      .receive([&](std::uint64_t v) { EXPECT_EQ(v, 2u); },
               [&](const caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
  EXPECT_EQ(heard(), 2u);
  // Whoever hears of version 2 also sees it published: a session admitted under
  // version 1 from now on asks the store instead of deciding alone.
  EXPECT_EQ(gens->policy.load(), 2u);
  self->send_exit(store, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace omsgw::actors
