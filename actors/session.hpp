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
#include "actors/services.hpp"

namespace omsgw::actors {

struct session_state {
  std::shared_ptr<net::connection> conn;
  services_ptr svc;
  route_view route;          ///< as admitted by the listener, refreshed at the CONNECT
  net::policy_ptr snapshot;  ///< the policy this session was admitted/checked under
  net::relay_ptr relay;      ///< the relay this tunnel goes through (null: direct)
  std::string client;        ///< "addr:port" for log lines
  std::string dest;          ///< "host:port" once known
  std::string host;
  std::uint16_t port = 0;
  static inline const char* name = "omsgw.session";
};

/// admitted: the snapshot and relay the listener admitted the client under. The
/// session decides the CONNECT with them while they are still in force, else with the
/// route in force (route_generations: the one route, no actor is asked).
caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, services_ptr svc,
                      route_view admitted);

/// The TLS rules of a snapshot for one destination host (pure).
net::tls::inspection_policy make_inspection_policy(const config::gateway_config& cfg,
                                                   const std::string& host);

}  // namespace omsgw::actors
