/// \file
/// libFuzzer target for the configuration loader (config::parse_config): the input is
/// the text of a YAML file. Besides memory errors, undefined behaviour and uncaught
/// exceptions it checks the loader's contract: a result is either a config or at least
/// one located error, and every value of an accepted config is one the data plane takes
/// as it is (ports in range, addresses and CIDRs that net/ parses, host entries that
/// net/host_match normalises to themselves), so make_policy never silently drops an
/// entry the loader accepted; and the policy allows exactly the configured hosts plus the
/// ones derived from workspaces and automation_regions: each of them, on an allowed
/// port, and nothing else (a probe name is allowed only when one of those patterns
/// matches it). Any breach traps.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "config/derived_hosts.hpp"
#include "config/loader.hpp"
#include "net/address.hpp"
#include "net/host_match.hpp"
#include "net/policy.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

/// A name that `pattern` stands for: the host itself, or one label under a wildcard.
std::string instance_of(const std::string& pattern) {
  return pattern.rfind("*.", 0) == 0 ? "probe" + pattern.substr(1) : pattern;
}

/// The policy holds the configured and derived hosts, each once, and allows exactly
/// what they match.
void check_hosts(const omsgw::config::gateway_config& cfg,
                 const omsgw::net::policy_snapshot& policy) {
  std::set<std::string> expected;
  for (const auto& entry : cfg.allowed_hosts) expected.insert(entry);
  for (const auto& d : omsgw::config::derived_hosts(cfg)) {
    const auto pattern = omsgw::net::normalize_host_pattern(d.host);
    check(pattern.has_value());  // the built-in tables hold only valid names
    expected.insert(*pattern);
  }
  check(policy.hosts.size() == expected.size());
  const std::uint16_t port = cfg.allowed_ports.front();
  const auto allowed = [&](const std::string& host) {
    return omsgw::net::check_destination(policy, host, port).reason == omsgw::net::deny_reason::none;
  };
  for (const auto& pattern : expected) check(allowed(instance_of(pattern)));
  // Nothing else: names under the reserved .invalid TLD (RFC 2606) are allowed only
  // when a pattern covers them.
  for (const std::string probe : {"omsgw-fuzz-probe.invalid", "a.b.omsgw-fuzz-probe.invalid"}) {
    bool covered = false;
    for (const auto& pattern : expected) covered = covered || omsgw::net::host_matches(pattern, probe);
    check(allowed(probe) == covered);
  }
}

void check_accepted(const omsgw::config::gateway_config& cfg) {
  check(cfg.listen.port != 0 && cfg.admin.port != 0);
  check(omsgw::net::parse_ip_literal(cfg.listen.address).has_value());
  check(omsgw::net::parse_ip_literal(cfg.admin.address).has_value());
  check(!cfg.allowed_ports.empty());
  for (auto port : cfg.allowed_ports) check(port != 0);
  for (const auto& entry : cfg.allowed_hosts) {
    check(omsgw::net::normalize_host_pattern(entry) == entry);
  }
  for (const auto& entry : cfg.clients.allow) {
    check(omsgw::net::parse_cidr(entry).has_value());
  }
  for (const auto& [host, ip] : cfg.upstream.resolve) {
    check(omsgw::net::normalize_host(host) == host && !omsgw::net::is_ip_literal(host));
    check(omsgw::net::parse_ip_literal(ip).has_value());
  }
  const auto shared = std::make_shared<const omsgw::config::gateway_config>(cfg);
  const auto policy = omsgw::net::make_policy(shared, 1);
  check(policy->clients.size() == cfg.clients.allow.size());
  check(policy->resolve.size() == cfg.upstream.resolve.size());
  check_hosts(cfg, *policy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Real configuration files are a few KiB; beyond this yaml-cpp's own (uninstrumented)
  // scanner time dominates and finds nothing in our code.
  if (size > 16384) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto result = omsgw::config::parse_config(text);
  check(result.ok() == result.errors.empty());
  for (const auto& e : result.errors) {
    check(!e.message.empty() && e.line >= 0 && e.column >= 0);
    check(!omsgw::config::format_error("f.yaml", e).empty());
  }
  if (result.ok()) check_accepted(*result.config);
  return 0;
}
