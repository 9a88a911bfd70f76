/// \file
/// libFuzzer target for the configuration loader (config::parse_config): the input is
/// the text of a YAML file. Besides memory errors, undefined behaviour and uncaught
/// exceptions it checks the loader's contract: a result is either a config or at least
/// one located error, and every value of an accepted config is one the data plane takes
/// as it is (ports in range, addresses and CIDRs that net/ parses, host entries that
/// net/host_match normalises to themselves), so make_policy never silently drops an
/// entry the loader accepted. Any breach traps.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "config/loader.hpp"
#include "net/address.hpp"
#include "net/host_match.hpp"
#include "net/policy.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
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
  // make_policy also drops duplicates, which the loader already removed.
  check(policy->hosts.size() == cfg.allowed_hosts.size());
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
