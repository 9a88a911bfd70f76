#include <gtest/gtest.h>

#include <string>

#include "net/policy.hpp"

namespace omsgw::net {
namespace {

constexpr const char* k_id = "01234567-89ab-cdef-0123-456789abcdef";

policy_ptr policy_with(const config::gateway_config& cfg) {
  return make_policy(std::make_shared<const config::gateway_config>(cfg), 1, "hash");
}

TEST(PolicyDerivedHosts, WorkspacesAndRegionsAreAllowedWithTheirOrigin) {
  config::gateway_config cfg;
  cfg.allowed_hosts = {"configured.example.com"};
  cfg.workspaces = {{k_id, "AzureUSGovernment"}};
  cfg.automation_regions = {"westeurope"};
  const auto p = policy_with(cfg);
  ASSERT_EQ(p->hosts.size(), 6u);
  EXPECT_EQ(p->hosts[0].origin, host_origin::configured);
  EXPECT_EQ(p->hosts[1].pattern, std::string(k_id) + ".ods.opinsights.azure.us");
  EXPECT_EQ(p->hosts[1].origin, host_origin::workspace);
  EXPECT_EQ(p->hosts[1].source, k_id);
  EXPECT_EQ(p->hosts[4].pattern, "we-jobruntimedata-prod-su1.azure-automation.net");
  EXPECT_EQ(p->hosts[4].origin, host_origin::automation_region);
  EXPECT_EQ(p->hosts[4].source, "westeurope");

  EXPECT_TRUE(
      check_destination(*p, std::string(k_id) + ".agentsvc.azure-automation.us", 443).allowed());
  EXPECT_TRUE(check_destination(*p, "WE-AgentService-Prod-1.azure-automation.net.", 443).allowed());
  EXPECT_FALSE(check_destination(*p, "ne-agentservice-prod-1.azure-automation.net", 443).allowed());
  EXPECT_FALSE(
      check_destination(*p, std::string(k_id) + ".ods.opinsights.azure.com", 443).allowed());
}

TEST(PolicyDerivedHosts, AConfiguredEntryKeepsItsOrigin) {
  config::gateway_config cfg;
  cfg.allowed_hosts = {"we-agentservice-prod-1.azure-automation.net"};
  cfg.automation_regions = {"westeurope"};
  const auto p = policy_with(cfg);
  ASSERT_EQ(p->hosts.size(), 2u);
  EXPECT_EQ(p->hosts[0].origin, host_origin::configured);
  EXPECT_EQ(p->hosts[1].pattern, "we-jobruntimedata-prod-su1.azure-automation.net");
}

}  // namespace
}  // namespace omsgw::net
