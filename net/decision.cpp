#include "net/decision.hpp"

#include <algorithm>

namespace omsgw::net {
namespace {

deny_reason reason_for(tls::reject_reason r) {
  switch (r) {
    case tls::reject_reason::not_tls:
      return deny_reason::not_tls;
    case tls::reject_reason::ssl_version:
    case tls::reject_reason::version_too_low:
      return deny_reason::tls_version;
    case tls::reject_reason::sni_mismatch:
      return deny_reason::sni_mismatch;
    case tls::reject_reason::client_cert:
    case tls::reject_reason::cert_unverifiable:
      return deny_reason::client_cert;
    case tls::reject_reason::too_large:
      return deny_reason::tls_parse;
    case tls::reject_reason::budget:
      return deny_reason::limit;
    case tls::reject_reason::none:
      break;
  }
  return deny_reason::tls_parse;
}

verdict refusal(deny_reason reason, bool enforce, verdict_event event) {
  verdict v;
  v.reason = reason;
  v.enforce = enforce;
  v.event = event;
  return v;
}

}  // namespace

verdict decide_proxy_peer(const policy_snapshot& p, const ip_address& peer) {
  const auto& trusted = p.config->listen.proxy_protocol_trusted;
  const bool ok =
      std::any_of(trusted.begin(), trusted.end(), [&](const cidr& c) { return c.contains(peer); });
  return ok ? verdict{} : refusal(deny_reason::client, true, verdict_event::not_allowed);
}

verdict decide_client(const policy_snapshot& p, const ip_address& client) {
  if (client_allowed(p, client)) return {};
  return refusal(deny_reason::client, !p.report_mode, verdict_event::not_allowed);
}

std::uint64_t effective_capacity(const policy_snapshot& p, std::uint64_t derived_capacity) {
  // A configured limit above what the descriptors allow cannot be kept: past it,
  // admitted tunnels would fail with EMFILE instead of new ones getting 503.
  const auto configured = p.config->limits.max_connections;
  return configured ? std::min<std::uint64_t>(configured, derived_capacity) : derived_capacity;
}

verdict decide_limits(const policy_snapshot& p, const connection_load& load,
                      std::uint64_t derived_capacity) {
  if (load.active >= effective_capacity(p, derived_capacity) ||
      load.from_client >= p.config->limits.max_connections_per_client) {
    return refusal(deny_reason::limit, true, verdict_event::application_error);
  }
  return {};
}

verdict decide_destination(const policy_snapshot& p, std::string_view host, std::uint16_t port) {
  return check_destination(p, host, port);
}

verdict decide_address(const policy_snapshot&) {
  return refusal(deny_reason::host, true, verdict_event::not_allowed);
}

verdict decide_out_of_descriptors() {
  return refusal(deny_reason::limit, true, verdict_event::application_error);
}

verdict decide_tls(bool report_mode, const tls::inspection_result& r) {
  if (r.kind == tls::verdict::verified || r.kind == tls::verdict::need_more) return {};
  const bool parse_error = r.kind == tls::verdict::parse_error;
  const deny_reason reason = parse_error ? deny_reason::tls_parse : reason_for(r.reason);
  const verdict_event event = parse_error                          ? verdict_event::tls_parse_error
                              : reason == deny_reason::client_cert ? verdict_event::not_allowed
                              : reason == deny_reason::limit ? verdict_event::application_error
                                                             : verdict_event::tls_rejected;
  // Malformed input is refused even in mode: report (the connection cannot go on).
  return refusal(reason, !report_mode || tls::refused_in_every_mode(r), event);
}

}  // namespace omsgw::net
