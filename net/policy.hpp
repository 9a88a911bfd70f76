#pragma once
/// \file
/// The immutable policy snapshot the policy store hands out, and the pure decisions
/// made against it. A reload builds a new snapshot; sessions keep the one they were
/// admitted under, so a reload never disturbs a live tunnel.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/address.hpp"

namespace omsgw::net {

/// Refusal reasons; the names are the `reason` label values of SPEC.md's
/// omsgw_rejections_total.
enum class deny_reason {
  none,
  host,
  port,
  client,
  limit,
  tls_version,
  sni_mismatch,
  client_cert,
  not_tls,
  tls_parse,
};
const char* to_string(deny_reason r);

/// Where an allowed-host entry came from (allowed-host list --all).
enum class host_origin { configured, workspace, automation_region };

struct allowed_host {
  std::string pattern;  ///< normalised: exact host or "*.suffix"
  host_origin origin = host_origin::configured;
  std::string source;   ///< e.g. the workspace id or region key; empty for configured
};

struct policy_snapshot {
  std::uint64_t version = 0;  ///< increases with every applied reload
  std::string config_hash;    ///< hash of the file the snapshot came from
  std::shared_ptr<const config::gateway_config> config;  ///< everything else (limits, tls, ...)
  std::vector<allowed_host> hosts;  ///< configured + derived, normalised
  std::vector<std::uint16_t> ports;
  std::vector<cidr> clients;
  std::map<std::string, ip_address> resolve;  ///< normalised host -> address
  bool allow_private = false;
  bool report_mode = false;
};

using policy_ptr = std::shared_ptr<const policy_snapshot>;

/// Builds a snapshot from a config. Its entries are parsed with the grammar the loader
/// validated them with (net/grammar), so a loaded config never has one that fails; in
/// a config built by hand such an entry is left out, which only narrows the policy
/// (fewer hosts, fewer clients, no pin).
policy_ptr make_policy(std::shared_ptr<const config::gateway_config> cfg, std::uint64_t version,
                       std::string config_hash = {});

/// The event a refusal is logged with (SPEC "Events"; the values are the event ids).
enum class verdict_event : int {
  not_allowed = 105,        ///< destination/port/client/certificate not allowed
  tls_rejected = 106,
  application_error = 400,  ///< limits
  tls_parse_error = 402,
};

/// One policy decision (net/decision.hpp makes them all): whether the request is
/// refused, with the omsgw_rejections_total reason label and the event to log, and
/// whether the refusal is enforced or, in mode: report, only reported (would_deny).
struct verdict {
  deny_reason reason = deny_reason::none;  ///< none = allowed by policy
  bool enforce = true;  ///< false in report mode: a reason is only a would-deny
  verdict_event event = verdict_event::not_allowed;
  bool allowed() const { return reason == deny_reason::none || !enforce; }
  bool refused() const { return !allowed(); }
  bool reported() const { return reason != deny_reason::none && !enforce; }
};
using destination_verdict = verdict;

/// The destination decision before resolution (see decide_destination).
destination_verdict check_destination(const policy_snapshot& p, std::string_view host,
                                      std::uint16_t port);

/// True when the client address is inside clients.allow.
bool client_allowed(const policy_snapshot& p, const ip_address& client);

/// A static override from upstream.resolve for host, if any.
const ip_address* resolve_override(const policy_snapshot& p, std::string_view host);

/// True when connecting to addr is permitted: public unicast, or a special-purpose
/// address (classify_address) with allow_private or from an upstream.resolve override
/// (from_override); never multicast, "this host"/broadcast, nor a cloud metadata
/// endpoint (SPEC "special-purpose destinations").
bool destination_address_allowed(const policy_snapshot& p, const ip_address& addr,
                                 bool from_override);

}  // namespace omsgw::net
