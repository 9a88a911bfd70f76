#include "config/derived_hosts.hpp"

#include "net/grammar/text.hpp"

#include <algorithm>

namespace omsgw::config {
namespace {

/// One readable spelling of a region besides its key and display name.
struct region_alias {
  std::string_view alias;  ///< already in compare form
  std::string_view key;
};

/// The documentation's names that differ from the Azure region key, and the
/// host-name prefixes the tables use ("we-jobruntimedata-..."), in compare form.
constexpr region_alias k_region_aliases[] = {
    {"centralcanada", "canadacentral"},
    {"japan", "japaneast"},
    {"australia", "australiasoutheast"},
    {"ncus", "northcentralus"},
    {"we", "westeurope"},
    {"scus", "southcentralus"},
    {"eus2", "eastus2"},
    {"cc", "canadacentral"},
    {"ne", "northeurope"},
    {"sea", "southeastasia"},
    {"cid", "centralindia"},
    {"jpe", "japaneast"},
    {"ase", "australiasoutheast"},
};

/// Lower case without spaces, '-' and '_': "West Europe" -> "westeurope".
std::string compare_form(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == ' ' || ch == '-' || ch == '_' || ch == '\t') continue;
    out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  return out;
}

struct cloud_suffixes {
  std::string_view cloud;
  std::string_view opinsights;  ///< ods./oms. suffix
  std::string_view automation;  ///< agentsvc. suffix
};

constexpr cloud_suffixes k_clouds[] = {
    {"AzureCloud", "opinsights.azure.com", "azure-automation.net"},
    {"AzureUSGovernment", "opinsights.azure.us", "azure-automation.us"},
    {"AzureChinaCloud", "opinsights.azure.cn", "azure-automation.cn"},
};

using grammar::lower;

}  // namespace

const std::vector<automation_region_hosts>& automation_region_table() {
  // "Configure for Automation Hybrid Runbook Workers" in the Log Analytics gateway
  // documentation: the Job Runtime Data service and Agent service URL of each region.
  static const std::vector<automation_region_hosts> table = {
      {"northcentralus", "North Central US", "ncus-jobruntimedata-prod-su1.azure-automation.net",
       "ncus-agentservice-prod-1.azure-automation.net"},
      {"westeurope", "West Europe", "we-jobruntimedata-prod-su1.azure-automation.net",
       "we-agentservice-prod-1.azure-automation.net"},
      {"southcentralus", "South Central US", "scus-jobruntimedata-prod-su1.azure-automation.net",
       "scus-agentservice-prod-1.azure-automation.net"},
      {"eastus2", "East US 2", "eus2-jobruntimedata-prod-su1.azure-automation.net",
       "eus2-agentservice-prod-1.azure-automation.net"},
      {"canadacentral", "Central Canada", "cc-jobruntimedata-prod-su1.azure-automation.net",
       "cc-agentservice-prod-1.azure-automation.net"},
      {"northeurope", "North Europe", "ne-jobruntimedata-prod-su1.azure-automation.net",
       "ne-agentservice-prod-1.azure-automation.net"},
      {"southeastasia", "South East Asia", "sea-jobruntimedata-prod-su1.azure-automation.net",
       "sea-agentservice-prod-1.azure-automation.net"},
      {"centralindia", "Central India", "cid-jobruntimedata-prod-su1.azure-automation.net",
       "cid-agentservice-prod-1.azure-automation.net"},
      {"japaneast", "Japan", "jpe-jobruntimedata-prod-su1.azure-automation.net",
       "jpe-agentservice-prod-1.azure-automation.net"},
      {"australiasoutheast", "Australia", "ase-jobruntimedata-prod-su1.azure-automation.net",
       "ase-agentservice-prod-1.azure-automation.net"},
  };
  return table;
}

const automation_region_hosts* find_automation_region(std::string_view name) {
  std::string key = compare_form(name);
  for (const auto& a : k_region_aliases) {
    if (a.alias == key) key = std::string(a.key);
  }
  for (const auto& row : automation_region_table()) {
    if (row.key == key || compare_form(row.display_name) == key) return &row;
  }
  return nullptr;
}

std::vector<std::string> workspace_hosts(const workspace& ws) {
  const std::string cloud = lower(ws.cloud);
  const std::string id = lower(ws.id);
  for (const auto& c : k_clouds) {
    if (lower(c.cloud) != cloud) continue;
    return {id + ".ods." + std::string(c.opinsights), id + ".oms." + std::string(c.opinsights),
            id + ".agentsvc." + std::string(c.automation)};
  }
  return {};
}

std::vector<derived_host> derived_hosts(const gateway_config& cfg) {
  std::vector<derived_host> out;
  const auto add = [&out](std::string host, derived_origin origin, const std::string& source) {
    const bool seen =
        std::any_of(out.begin(), out.end(), [&](const derived_host& h) { return h.host == host; });
    if (!seen) out.push_back({std::move(host), origin, source});
  };
  for (const auto& ws : cfg.workspaces) {
    for (auto& h : workspace_hosts(ws)) add(std::move(h), derived_origin::workspace, lower(ws.id));
  }
  for (const auto& region : cfg.automation_regions) {
    if (const auto* row = find_automation_region(region)) {
      add(std::string(row->job_runtime_data), derived_origin::automation_region,
          std::string(row->key));
      add(std::string(row->agent_service), derived_origin::automation_region,
          std::string(row->key));
    }
  }
  return out;
}

const char* to_string(derived_origin o) {
  return o == derived_origin::workspace ? "workspace" : "automation_region";
}

}  // namespace omsgw::config
