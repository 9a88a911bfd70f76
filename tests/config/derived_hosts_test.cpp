#include "config/derived_hosts.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/loader.hpp"

namespace omsgw::config {
namespace {

constexpr const char* k_id = "01234567-89ab-cdef-0123-456789abcdef";

TEST(DerivedHosts, WorkspaceInAzureCloudGetsItsThreeEndpoints) {
  const auto hosts = workspace_hosts({k_id, "AzureCloud"});
  const std::vector<std::string> expected = {
      std::string(k_id) + ".ods.opinsights.azure.com",
      std::string(k_id) + ".oms.opinsights.azure.com",
      std::string(k_id) + ".agentsvc.azure-automation.net",
  };
  EXPECT_EQ(hosts, expected);
}

TEST(DerivedHosts, SovereignCloudsUseTheirOwnSuffixes) {
  const auto gov = workspace_hosts({k_id, "AzureUSGovernment"});
  ASSERT_EQ(gov.size(), 3u);
  EXPECT_EQ(gov[0], std::string(k_id) + ".ods.opinsights.azure.us");
  EXPECT_EQ(gov[1], std::string(k_id) + ".oms.opinsights.azure.us");
  EXPECT_EQ(gov[2], std::string(k_id) + ".agentsvc.azure-automation.us");
  const auto cn = workspace_hosts({k_id, "azurechinacloud"});
  ASSERT_EQ(cn.size(), 3u);
  EXPECT_EQ(cn[0], std::string(k_id) + ".ods.opinsights.azure.cn");
  EXPECT_EQ(cn[2], std::string(k_id) + ".agentsvc.azure-automation.cn");
  EXPECT_TRUE(workspace_hosts({k_id, "Mars"}).empty());
}

TEST(DerivedHosts, WorkspaceIdIsLowerCased) {
  const auto hosts = workspace_hosts({"01234567-89AB-CDEF-0123-456789ABCDEF", "AzureCloud"});
  ASSERT_FALSE(hosts.empty());
  EXPECT_EQ(hosts[0], std::string(k_id) + ".ods.opinsights.azure.com");
}

TEST(DerivedHosts, RegionTableHasTheDocumentedHosts) {
  const auto* we = find_automation_region("westeurope");
  ASSERT_NE(we, nullptr);
  EXPECT_EQ(we->job_runtime_data, "we-jobruntimedata-prod-su1.azure-automation.net");
  EXPECT_EQ(we->agent_service, "we-agentservice-prod-1.azure-automation.net");
  const auto* au = find_automation_region("australiasoutheast");
  ASSERT_NE(au, nullptr);
  EXPECT_EQ(au->job_runtime_data, "ase-jobruntimedata-prod-su1.azure-automation.net");
  EXPECT_EQ(automation_region_table().size(), 10u);
}

TEST(DerivedHosts, RegionNamesAreReadableInSeveralSpellings) {
  const auto* we = find_automation_region("westeurope");
  EXPECT_EQ(find_automation_region("West Europe"), we);
  EXPECT_EQ(find_automation_region("west-europe"), we);
  EXPECT_EQ(find_automation_region("WEST_EUROPE"), we);
  EXPECT_EQ(find_automation_region("Central Canada"), find_automation_region("canadacentral"));
  EXPECT_EQ(find_automation_region("Japan"), find_automation_region("japaneast"));
  EXPECT_EQ(find_automation_region("Australia"), find_automation_region("australiasoutheast"));
  EXPECT_EQ(find_automation_region("East US 2")->key, "eastus2");
  EXPECT_EQ(find_automation_region("atlantis"), nullptr);
}

TEST(DerivedHosts, EveryRegionTheLoaderAcceptsIsInTheTable) {
  for (const auto& row : automation_region_table()) {
    const auto r = parse_config("automation_regions: [" + std::string(row.key) + "]\n");
    EXPECT_TRUE(r.ok()) << row.key;
  }
}

TEST(DerivedHosts, CombinesWorkspacesAndRegionsWithTheirSources) {
  gateway_config cfg;
  cfg.workspaces = {{k_id, "AzureCloud"}};
  cfg.automation_regions = {"westeurope", "northeurope"};
  const auto hosts = derived_hosts(cfg);
  ASSERT_EQ(hosts.size(), 7u);
  EXPECT_EQ(hosts[0].origin, derived_origin::workspace);
  EXPECT_EQ(hosts[0].source, k_id);
  EXPECT_EQ(hosts[3].host, "we-jobruntimedata-prod-su1.azure-automation.net");
  EXPECT_EQ(hosts[3].origin, derived_origin::automation_region);
  EXPECT_EQ(hosts[3].source, "westeurope");
  EXPECT_EQ(hosts[6].host, "ne-agentservice-prod-1.azure-automation.net");
  EXPECT_STREQ(to_string(derived_origin::automation_region), "automation_region");
}

TEST(DerivedHosts, DuplicatesKeepTheirFirstOrigin) {
  gateway_config cfg;
  cfg.automation_regions = {"westeurope", "westeurope"};
  EXPECT_EQ(derived_hosts(cfg).size(), 2u);
  EXPECT_TRUE(derived_hosts(gateway_config{}).empty());
}

}  // namespace
}  // namespace omsgw::config
