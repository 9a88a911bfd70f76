#pragma once
/// \file
/// One session actor per client connection. It owns the connection's control flow:
/// request -> policy check -> connect and relay -> close, logging the events and
/// counting the metrics of each step. The bytes themselves never pass through it.

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/services.hpp"

namespace omsgw::actors {

/// What the listener knew when it admitted a connection: the policy snapshot and the
/// relay target in force (with the relay actor's generation for it), so the session
/// can decide on its own while they are still the ones in force (route_generations).
struct route_view {
  static constexpr std::uint64_t unknown_generation = ~std::uint64_t{0};
  net::policy_ptr policy;
  net::relay_ptr relay;
  std::uint64_t relay_generation = unknown_generation;  ///< unknown: always ask
};

/// True while view's policy and relay are the ones the policy store and the relay
/// actor have in force (two atomic loads): then a destination check against
/// view.policy and view.relay give what asking them would.
bool route_is_current(const route_view& view, const route_generations& in_force);

struct session_state {
  std::shared_ptr<net::connection> conn;
  policy_store_actor policy;
  services_ptr svc;
  route_view route;          ///< as admitted by the listener
  net::policy_ptr snapshot;  ///< the policy this session was admitted/checked under
  net::relay_ptr relay;      ///< the relay this tunnel goes through (null: direct)
  std::string client;        ///< "addr:port" for log lines
  std::string dest;          ///< "host:port" once known
  std::string host;
  std::uint16_t port = 0;
  static inline const char* name = "omsgw.session";
};

/// admitted: the snapshot and relay the listener admitted the client under. While they
/// are still in force the session checks the destination itself; after a reload it
/// asks the policy store and the relay actor (found in the registry) instead.
caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, policy_store_actor policy,
                      services_ptr svc, route_view admitted);

/// The TLS rules of a snapshot for one destination host (pure).
net::tls::inspection_policy make_inspection_policy(const config::gateway_config& cfg,
                                                   const std::string& host);

}  // namespace omsgw::actors
