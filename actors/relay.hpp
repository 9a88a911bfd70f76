#pragma once
/// \file
/// The relay actor: owns the relay (upstream, corporate) proxy in force and hands it
/// out for new tunnels (net::connection::connect_and_relay with a relay target). The
/// config reloader builds each new target -- reading the password file is file I/O, so
/// it happens there (detached) or at start-up, never here -- and sends it as
/// (update_atom, relay_ptr). A new target applies to the next tunnel at once;
/// established tunnels keep the connection they have. A null target means direct
/// connections. An update is answered with the generation in force once published.
///
/// Every target is published with its generation in route_generations, the one route
/// the listener and the sessions read it from; subscribers get it too. The actor is registered under
/// relay_atom (a process-wide service, like the policy store).

#include <caf/all.hpp>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/services.hpp"
#include "config/config.hpp"
#include "metrics/metrics.hpp"
#include "net/relay_handshake.hpp"

namespace omsgw::actors {

using relay_actor = caf::typed_actor<caf::replies_to<caf::get_atom>::with<net::relay_ptr>,
                                     caf::replies_to<update_atom, net::relay_ptr>::with<std::uint64_t>,
                                     caf::reacts_to<subscribe_atom, caf::actor>>;

struct relay_state {
  net::relay_ptr current;  ///< null: direct connections
  std::uint64_t generation = 0;  ///< +1 per update; subscribers get it with the target
  std::shared_ptr<route_generations> generations;  ///< published generation (may be null)
  std::vector<caf::actor> subscribers;  ///< get (update_atom, relay_ptr, generation)
  static inline const char* name = "omsgw.relay";
};

/// generations, if given, gets the relay generation in force. Subscribers (the
/// listener) get (update_atom, relay_ptr, generation) at once and on every update.
relay_actor::behavior_type relay(relay_actor::stateful_pointer<relay_state> self,
                                 net::relay_ptr initial,
                                 std::shared_ptr<route_generations> generations = nullptr);

/// Makes the relay actor findable (find_relay) by the listener, and by sessions after a
/// relay swap.
void register_relay(caf::actor_system& sys, const relay_actor& r);
/// The registered relay actor, or an invalid handle (then: direct connections).
relay_actor find_relay(caf::actor_system& sys);
/// Removes the registration (teardown).
void unregister_relay(caf::actor_system& sys);

/// relay_proxy read into a target, or why not.
struct relay_load_result {
  net::relay_ptr target;  ///< null with ok(): no relay (address empty)
  std::string key;        ///< the key at fault, for event 401
  std::string error;      ///< empty = ok; names files and modes, never the password
  bool ok() const { return error.empty(); }
};

/// Builds the relay target of relay_proxy: parses the address and, with a username,
/// reads the password with config::read_relay_password (the one check of the password
/// file, which every configuration load also runs: config/config_file). The encoded
/// credentials are kept; the password's transient copies are wiped. Also: the keytab
/// must be a private regular file (relay_proxy.keytab), an https:// relay gets its
/// verifying TLS context from ca_file (which must hold PEM certificates) or the system
/// store, and the fallback relays are chained behind the first (bypass on the first).
/// Blocking file I/O: call it at start-up or in the detached config reloader only.
relay_load_result load_relay_target(const config::relay_proxy_config& cfg);

/// True when both are null or both name the same relay with the same credentials.
bool same_relay(const net::relay_ptr& a, const net::relay_ptr& b);

/// omsgw_relay_up{relay} for every relay of the chain (1, or 0 while relay_health skips
/// it) and none for relays no longer configured (start-up, every relay change).
void relays_configured(metrics::gateway_metrics& m, const net::relay_ptr& head);

/// "127.0.0.1:3128" or "direct": how logs and /status name the relay (no secrets).
std::string relay_display(const net::relay_ptr& r);

}  // namespace omsgw::actors
