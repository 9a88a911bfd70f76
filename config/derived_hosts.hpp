#pragma once
/// \file
/// Allowed hosts derived from `workspaces` and `automation_regions` (SPEC.md
/// "Configuration (YAML)"). Pure: a config in, host names out. The tables follow
/// Microsoft's "Log Analytics gateway" documentation (the Hybrid Runbook Worker
/// "Job Runtime Data service URLs" / "Agent service URLs" tables) and the
/// per-workspace endpoints of the Log Analytics agent firewall requirements.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace omsgw::config {

/// One row of the built-in Azure Automation table.
struct automation_region_hosts {
  std::string_view key;               ///< the automation_regions spelling, e.g. "westeurope"
  std::string_view display_name;      ///< as the OMS Gateway documentation writes it
  std::string_view job_runtime_data;  ///< e.g. "we-jobruntimedata-prod-su1.azure-automation.net"
  std::string_view agent_service;     ///< e.g. "we-agentservice-prod-1.azure-automation.net"
};

/// Every region of the table, in the documentation's order.
const std::vector<automation_region_hosts>& automation_region_table();

/// Looks a region up by key or by a readable name, ignoring case, spaces, '-' and '_':
/// "westeurope", "West Europe", "west-europe" and the documentation's own names
/// ("Central Canada", "Japan", "Australia") all resolve. nullptr when unknown.
const automation_region_hosts* find_automation_region(std::string_view name);

/// The hosts one workspace's agents talk to in its cloud:
/// <id>.ods.opinsights.<suffix>, <id>.oms.opinsights.<suffix>,
/// <id>.agentsvc.azure-automation.<tld>. Empty when the cloud is unknown.
std::vector<std::string> workspace_hosts(const workspace& ws);

/// Where a derived host came from.
enum class derived_origin { workspace, automation_region };

struct derived_host {
  std::string host;  ///< lower-case exact host name
  derived_origin origin;
  std::string source;  ///< the workspace id or the region key
};

/// All hosts derived from cfg.workspaces and cfg.automation_regions, in config order,
/// without duplicates (the first origin wins).
std::vector<derived_host> derived_hosts(const gateway_config& cfg);

/// "workspace" | "automation_region".
const char* to_string(derived_origin o);

}  // namespace omsgw::config
