#include "net/policy.hpp"

#include <algorithm>

#include "config/derived_hosts.hpp"
#include "net/host_match.hpp"

namespace omsgw::net {

const char* to_string(deny_reason r) {
  switch (r) {
    case deny_reason::none:
      return "none";
    case deny_reason::host:
      return "host";
    case deny_reason::port:
      return "port";
    case deny_reason::client:
      return "client";
    case deny_reason::limit:
      return "limit";
    case deny_reason::tls_version:
      return "tls_version";
    case deny_reason::sni_mismatch:
      return "sni_mismatch";
    case deny_reason::client_cert:
      return "client_cert";
    case deny_reason::not_tls:
      return "not_tls";
    case deny_reason::tls_parse:
      return "tls_parse";
  }
  return "unknown";
}

namespace {

std::vector<allowed_host> configured_hosts(const config::gateway_config& cfg) {
  std::vector<allowed_host> hosts;
  for (const auto& entry : cfg.allowed_hosts) {
    auto pattern = normalize_host_pattern(entry);
    if (!pattern) continue;
    const bool duplicate = std::any_of(
        hosts.begin(), hosts.end(), [&](const allowed_host& h) { return h.pattern == *pattern; });
    if (!duplicate) hosts.push_back(allowed_host{std::move(*pattern), host_origin::configured, {}});
  }
  return hosts;
}

/// Appends the hosts derived from workspaces and automation_regions, marked with
/// their origin; an entry already allowed (e.g. configured) keeps its first origin.
void add_derived_hosts(const config::gateway_config& cfg, std::vector<allowed_host>& hosts) {
  for (auto& d : config::derived_hosts(cfg)) {
    auto pattern = normalize_host_pattern(d.host);
    if (!pattern) continue;
    const bool duplicate = std::any_of(
        hosts.begin(), hosts.end(), [&](const allowed_host& h) { return h.pattern == *pattern; });
    if (duplicate) continue;
    const host_origin origin = d.origin == config::derived_origin::workspace
                                   ? host_origin::workspace
                                   : host_origin::automation_region;
    hosts.push_back(allowed_host{std::move(*pattern), origin, std::move(d.source)});
  }
}

}  // namespace

policy_ptr make_policy(std::shared_ptr<const config::gateway_config> cfg, std::uint64_t version,
                       std::string config_hash) {
  if (!cfg) cfg = std::make_shared<const config::gateway_config>();
  auto p = std::make_shared<policy_snapshot>();
  p->version = version;
  p->config_hash = std::move(config_hash);
  p->hosts = configured_hosts(*cfg);
  add_derived_hosts(*cfg, p->hosts);
  p->ports = cfg->allowed_ports;
  for (const auto& entry : cfg->clients.allow) {
    if (auto c = parse_cidr(entry)) p->clients.push_back(*c);
  }
  for (const auto& [name, ip] : cfg->upstream.resolve) {
    auto host = normalize_host(name);
    auto addr = parse_ip_literal(ip);
    if (host && addr) p->resolve.emplace(std::move(*host), *addr);
  }
  p->allow_private = cfg->upstream.allow_private;
  p->report_mode = cfg->mode == config::run_mode::report;
  p->config = std::move(cfg);
  return p;
}

destination_verdict check_destination(const policy_snapshot& p, std::string_view host,
                                      std::uint16_t port) {
  destination_verdict verdict;
  verdict.enforce = !p.report_mode;
  if (std::find(p.ports.begin(), p.ports.end(), port) == p.ports.end()) {
    verdict.reason = deny_reason::port;
    return verdict;
  }
  // The session hands us a normalised host; normalising again keeps the decision
  // correct for any other caller (case, trailing dot, brackets).
  const auto normalised = normalize_host(host);
  const bool listed =
      normalised && std::any_of(p.hosts.begin(), p.hosts.end(), [&](const allowed_host& h) {
        return host_matches(h.pattern, *normalised);
      });
  if (!listed) verdict.reason = deny_reason::host;
  return verdict;
}

bool client_allowed(const policy_snapshot& p, const ip_address& client) {
  return std::any_of(p.clients.begin(), p.clients.end(),
                     [&](const cidr& c) { return cidr_contains(c, client); });
}

const ip_address* resolve_override(const policy_snapshot& p, std::string_view host) {
  const auto normalised = normalize_host(host);
  if (!normalised) return nullptr;
  const auto it = p.resolve.find(*normalised);
  return it == p.resolve.end() ? nullptr : &it->second;
}

bool destination_address_allowed(const policy_snapshot& p, const ip_address& addr,
                                 bool from_override) {
  const address_class cls = classify_address(addr);
  // Never a TCP destination, even pinned: multicast/broadcast cannot be connected to,
  // and 0.0.0.0 / :: reach the gateway host itself on Linux (a pin to them would make
  // the name a route to the host's own services). SPEC: the cloud platform endpoints
  // are refused even with allow_private or a pin: agents have no business there.
  if (cls == address_class::cloud_metadata || cls == address_class::unspecified ||
      cls == address_class::multicast) {
    return false;
  }
  if (from_override) return true;  // the operator named this address explicitly
  switch (cls) {
    case address_class::public_unicast:
      return true;
    case address_class::loopback:
    case address_class::private_net:
    case address_class::link_local:
    case address_class::documentation:
    case address_class::benchmarking:
    case address_class::special:
      return p.allow_private;
    case address_class::multicast:
    case address_class::unspecified:
    case address_class::cloud_metadata:
      return false;
  }
  return false;
}

}  // namespace omsgw::net
