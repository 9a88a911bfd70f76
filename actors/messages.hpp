#pragma once
/// \file
/// Every message type and atom the actors exchange, in one place. Payloads that only
/// ever travel inside this process (shared pointers to the data plane, immutable
/// snapshots) are allowed as unsafe (non-serialisable) message types.

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "metrics/perfmon.hpp"
#include "net/connect_request.hpp"
#include "net/policy.hpp"
#include "net/relay_handshake.hpp"
#include "net/tls_inspector.hpp"
#include "net/tunnel.hpp"

namespace omsgw::actors {

/// How long an actor (or a one-shot helper) waits for another actor's answer: they
/// answer from memory, so only a stopping system is ever this slow.
constexpr auto k_actor_request_timeout = std::chrono::seconds(5);
/// How long a reload may take (it reads files); the CLI's `reload` waits a little more.
constexpr auto k_reload_timeout = std::chrono::seconds(30);

// Listener / data plane
using closed_atom =
    caf::atom_constant<caf::atom("closed")>;  ///< a connection ended (to its session)
using released_atom =
    caf::atom_constant<caf::atom("released")>;  ///< a session ended while draining
// Policy store
using update_atom = caf::atom_constant<caf::atom("update")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
// Relay proxy (the registry name of the relay actor; see actors/relay.hpp)
using relay_atom = caf::atom_constant<caf::atom("relay")>;
// Lifecycle
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using stopped_atom = caf::atom_constant<caf::atom("stopped")>;  ///< the acceptor has closed
using status_atom = caf::atom_constant<caf::atom("status")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using sample_atom = caf::atom_constant<caf::atom("sample")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;
using debounce_atom = caf::atom_constant<caf::atom("debounce")>;

/// A connection ended (answered, refused, the client left, or a tunnel closed, whose
/// close line its session_link logged): told once to its session, which then ends.
struct session_end {};

/// Live-connection figures the listener owns (for /status and PerfMon).
struct listener_status {
  std::uint64_t active = 0;
  std::uint64_t clients = 0;
  std::uint64_t capacity = 0;
  bool draining = false;
};

/// One PerfMon reading for the counter-log writer: the four OMS counters and the
/// wall-clock instant they were read at.
struct perfmon_sample_msg {
  metrics::perfmon_sample sample;
  std::chrono::system_clock::time_point at;
};

/// The answer to (reload_atom, trigger).
struct reload_result {
  bool ok = false;
  bool changed = false;       ///< false when the file was identical (nothing applied)
  std::uint64_t version = 0;  ///< the policy version running after this reload
  std::string hash;
  std::vector<std::string> errors;
};
}  // namespace omsgw::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::net::policy_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::net::relay_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::actors::session_end)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::actors::listener_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::actors::reload_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(omsgw::actors::perfmon_sample_msg)
