#pragma once
/// \file
/// The listener actor: admits accepted connections (clients.allow, max_connections,
/// max_connections_per_client, and in PROXY mode the trusted balancers; decisions from
/// net/decision.hpp, bookkeeping by record_refusal), spawns one session per connection,
/// tracks the live ones (Active Client Connection, Connected Client) and those waiting
/// for their PROXY header, and runs the drain on shutdown.

#include <caf/all.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/messages.hpp"
#include "actors/policy_store.hpp"
#include "actors/services.hpp"
#include "actors/session.hpp"
#include "net/acceptor.hpp"

namespace omsgw::actors {

struct listener_state {
  std::shared_ptr<net::acceptor> acceptor;
  policy_store_actor policy;
  services_ptr svc;
  route_view route;          ///< the route in force, as last read (refreshed per accept)
  net::policy_ptr snapshot;  ///< route.policy: what admissions are decided under
  std::unordered_map<std::string, std::uint32_t> per_client;  ///< client address -> live count
  std::unordered_map<caf::actor_addr, std::string> sessions;  ///< session -> client address
  std::uint64_t active = 0;
  bool draining = false;
  bool accept_stopped = false;  ///< draining and the acceptor has handed on its last connection
  /// listen.proxy_protocol: accepted from a trusted peer, PROXY header not yet read.
  /// They count against max_connections and the peer's per-client limit.
  struct waiting_conn {
    std::shared_ptr<net::connection> conn;
    std::string peer;  ///< the balancer's address (display form)
  };
  std::unordered_map<std::uint64_t, waiting_conn> waiting;   ///< connection id -> entry
  std::unordered_map<std::string, std::uint32_t> waiting_per_peer;
  std::function<void()> on_drained;         ///< called once when draining and no session is left
  static inline const char* name = "omsgw.listener";
};

/// on_drained runs (once) on an actor thread when a drain has finished.
caf::behavior listener(caf::stateful_actor<listener_state>* self,
                       std::shared_ptr<net::acceptor> acceptor, policy_store_actor policy,
                       services_ptr svc, net::policy_ptr initial, std::function<void()> on_drained);

}  // namespace omsgw::actors
