#pragma once
/// \file
/// Pure checks and normalisers for configuration values the grammar does not know
/// (GUIDs, Automation regions), and the ranges the loader accepts. Addresses, host
/// patterns, CIDRs and relay URLs are parsed by the one grammar net/ uses too
/// (net/grammar). Internal to config/.

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

/// 8-4-4-4-12 hex digits; returns the lower-case form.
std::optional<std::string> normalise_guid(std::string_view s);

/// "West Europe", "west-europe" -> "westeurope": how region names are compared.
std::string automation_region_key_form(std::string_view s);

/// The table key of a region name, or nullopt when the region is unknown.
std::optional<std::string> automation_region_key(std::string_view s);

}  // namespace omsgw::config::detail
