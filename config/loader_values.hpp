#pragma once
/// \file
/// Pure checks and normalisers for single configuration values (addresses, host
/// patterns, CIDRs, the relay address, GUIDs, Automation regions), and the ranges the
/// loader accepts. Kept local to config/ on purpose: net/ is a separate library.
/// Internal to config/.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace omsgw::config::detail {

// Accepted ranges. These bound what an operator may write, they are not defaults.
inline constexpr std::uint32_t k_max_port = 65535;
inline constexpr std::uint32_t k_max_timeout_s = 86400;
inline constexpr std::uint32_t k_max_connections = 10'000'000;
inline constexpr std::uint32_t k_max_perfmon_interval_s = 3600;

/// Azure Automation regions with hybrid-worker host tables (SPEC "automation_regions").
inline constexpr std::array<std::string_view, 10> k_automation_regions = {
    "northcentralus", "westeurope",    "southcentralus", "eastus2",   "canadacentral",
    "northeurope",    "southeastasia", "centralindia",   "japaneast", "australiasoutheast",
};

/// True when `s` is an IPv4 address literal (inet_pton).
bool is_ipv4(const std::string& s);

/// True when `s` is an IPv6 address literal, without brackets (inet_pton).
bool is_ipv6(const std::string& s);

/// True when `s` is an IPv4 or IPv6 address literal.
bool is_ip_literal(const std::string& s);

/// The canonical text form of an IPv6 literal; `s` unchanged when it is not one.
std::string canonical_ipv6(const std::string& s);

/// Validates a lower-case DNS name (RFC 1123 labels; '_' tolerated as in real-world
/// names, matching net/host_match). Returns "" when valid, else why not.
std::string dns_name_problem(std::string_view name);

/// Normalises an allowed_hosts entry or host name: lower-case, one trailing dot removed,
/// IPv6 unbracketed and canonical. Wildcards "*.suffix" need a suffix of >= 2 labels.
bool normalise_host(std::string_view in, bool allow_wildcard, std::string& out, std::string& why);

/// "10.0.0.0/8", "::/0" or a bare address. Returns "" when valid, else why not.
std::string cidr_problem(std::string_view text);

/// relay_proxy.address: "" or "http(s)://HOST:PORT" (HOST a name, IPv4 or [IPv6]).
/// Returns "" when valid, else why not.
std::string relay_address_problem(std::string_view text);

/// 8-4-4-4-12 hex digits; returns the lower-case form.
std::optional<std::string> normalise_guid(std::string_view s);

/// "West Europe", "west-europe" -> "westeurope": how region names are compared.
std::string automation_region_key_form(std::string_view s);

/// The table key of a region name, or nullopt when the region is unknown.
std::optional<std::string> automation_region_key(std::string_view s);

}  // namespace omsgw::config::detail
