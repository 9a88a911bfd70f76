#pragma once
/// \file
/// Every "is this allowed?" of the gateway, as pure functions of the admitted policy
/// snapshot and the request, each returning a verdict that already says enforced or
/// reported (mode: report), with the rejections_total reason and the event id. The
/// listener, the session and the data plane act on verdicts; none re-derives one.
/// Bookkeeping (counting, event line, would_deny) is actors/refusal.hpp's.
///
///   peer (PROXY mode)  -> decide_proxy_peer    reason client, 105, always enforced
///   client address     -> decide_client        reason client, 105, reportable
///   connection counts  -> decide_limits        reason limit,  400, always enforced
///   CONNECT host:port  -> decide_destination   reason host|port, 105, reportable
///   resolved address   -> decide_address       reason host, 105, always enforced
///   TLS handshake      -> decide_tls           reason tls_*|not_tls|client_cert,
///                                              106|105|402, reportable unless malformed;
///                                              reason limit, 400 (inspection budget)

#include <cstdint>
#include <string_view>

#include "net/address.hpp"
#include "net/policy.hpp"
#include "net/tls_inspector.hpp"

namespace omsgw::net {

/// listen.proxy_protocol: only peers inside listen.proxy_protocol_trusted (the load
/// balancers) may send a PROXY header. Enforced in report mode too: believing a header
/// from anyone would let anyone claim any client address.
verdict decide_proxy_peer(const policy_snapshot& p, const ip_address& peer);

/// clients.allow, for the client address (carried by a PROXY header, or the peer).
verdict decide_client(const policy_snapshot& p, const ip_address& client);

/// Live connection counts a new connection would join.
struct connection_load {
  std::uint64_t active = 0;       ///< connections admitted or waiting for their header
  std::uint64_t from_client = 0;  ///< of those, from the same address
};

/// limits.max_connections (0 or above it: derived_capacity, from the open-files limit) and
/// limits.max_connections_per_client, from the snapshot in force (so they apply at
/// reload). Never reportable: limits protect the gateway itself.
verdict decide_limits(const policy_snapshot& p, const connection_load& load,
                      std::uint64_t derived_capacity);

/// The capacity decide_limits applies: limits.max_connections, at most derived_capacity
/// (the open-files limit's), or derived_capacity when it is 0.
std::uint64_t effective_capacity(const policy_snapshot& p, std::uint64_t derived_capacity);

/// allowed_ports and allowed_hosts (configured + derived) for a CONNECT target.
verdict decide_destination(const policy_snapshot& p, std::string_view host, std::uint16_t port);

/// The address guard's refusal (every address of the destination special-purpose,
/// destination_address_allowed): reason host. Enforced: no tunnel can be opened to it.
verdict decide_address(const policy_snapshot& p);

/// The gateway itself out of descriptors for the destination's socket (EMFILE): the
/// limit refusal (503, event 400, reason limit), as for a connection over
/// max_connections; never a network error: nothing is wrong with the destination.
verdict decide_out_of_descriptors();

/// The TLS inspector's result: verified and need_more (an alert ended the handshake)
/// are no refusal; a rule refusal is reportable; malformed input (not TLS, parse error,
/// too large) is refused in report mode too. The data plane closes the tunnel when
/// refused(); the session records the same verdict.
verdict decide_tls(bool report_mode, const tls::inspection_result& r);
inline verdict decide_tls(const policy_snapshot& p, const tls::inspection_result& r) {
  return decide_tls(p.report_mode, r);
}

}  // namespace omsgw::net
