#include "net/policy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace omsgw::net {
namespace {

ip_address ip(const std::string& text) { return parse_ip_literal(text).value(); }

policy_ptr policy_from(const config::gateway_config& cfg, std::uint64_t version = 1) {
  return make_policy(std::make_shared<const config::gateway_config>(cfg), version, "hash");
}

config::gateway_config small_config() {
  config::gateway_config cfg;
  cfg.allowed_hosts = {"*.ods.opinsights.azure.com", "Exact.Example.COM."};
  cfg.allowed_ports = {443, 8443};
  return cfg;
}

TEST(Policy, NamesDenyReasonsAsTheRejectionLabels) {
  EXPECT_STREQ(to_string(deny_reason::none), "none");
  EXPECT_STREQ(to_string(deny_reason::host), "host");
  EXPECT_STREQ(to_string(deny_reason::port), "port");
  EXPECT_STREQ(to_string(deny_reason::client), "client");
  EXPECT_STREQ(to_string(deny_reason::limit), "limit");
  EXPECT_STREQ(to_string(deny_reason::tls_version), "tls_version");
  EXPECT_STREQ(to_string(deny_reason::sni_mismatch), "sni_mismatch");
  EXPECT_STREQ(to_string(deny_reason::client_cert), "client_cert");
  EXPECT_STREQ(to_string(deny_reason::not_tls), "not_tls");
  EXPECT_STREQ(to_string(deny_reason::tls_parse), "tls_parse");
}

TEST(Policy, BuildsASnapshotFromTheConfig) {
  auto cfg = small_config();
  cfg.upstream.allow_private = true;
  const auto p = make_policy(std::make_shared<const config::gateway_config>(cfg), 7, "abc");
  EXPECT_EQ(p->version, 7u);
  EXPECT_EQ(p->config_hash, "abc");
  ASSERT_TRUE(p->config);
  EXPECT_EQ(p->config->allowed_hosts, cfg.allowed_hosts);
  EXPECT_EQ(p->ports, (std::vector<std::uint16_t>{443, 8443}));
  EXPECT_TRUE(p->allow_private);
  EXPECT_FALSE(p->report_mode);
}

TEST(Policy, NormalisesConfiguredHostsAndMarksTheirOrigin) {
  auto cfg = small_config();
  cfg.allowed_hosts.push_back("*.ODS.opinsights.azure.com");  // duplicate once normalised
  const auto p = policy_from(cfg);
  ASSERT_EQ(p->hosts.size(), 2u);
  EXPECT_EQ(p->hosts[0].pattern, "*.ods.opinsights.azure.com");
  EXPECT_EQ(p->hosts[1].pattern, "exact.example.com");
  for (const auto& h : p->hosts) {
    EXPECT_EQ(h.origin, host_origin::configured);
    EXPECT_TRUE(h.source.empty());
  }
}

TEST(Policy, SkipsEntriesThatDoNotNormalise) {
  auto cfg = small_config();
  cfg.allowed_hosts = {"*", "*.com", "bad host", "ok.example.com"};
  cfg.clients.allow = {"10.0.0.0/8", "garbage", "10.0.0.0/33"};
  cfg.upstream.resolve = {{"a.example.com", "not-an-ip"}, {"bad host", "192.0.2.1"}};
  const auto p = policy_from(cfg);
  ASSERT_EQ(p->hosts.size(), 1u);
  EXPECT_EQ(p->hosts[0].pattern, "ok.example.com");
  EXPECT_EQ(p->clients.size(), 1u);
  EXPECT_TRUE(p->resolve.empty());
}

TEST(Policy, BuildsFromTheEmbeddedDefaults) {
  const auto p = policy_from(config::gateway_config{});
  EXPECT_EQ(p->hosts.size(), 7u);
  EXPECT_EQ(p->ports, (std::vector<std::uint16_t>{443}));
  EXPECT_EQ(p->clients.size(), 2u);
  EXPECT_TRUE(check_destination(*p, "ws.ods.opinsights.azure.com", 443).allowed());
  EXPECT_TRUE(check_destination(*p, "x.blob.core.windows.net", 443).allowed());
  EXPECT_FALSE(check_destination(*p, "example.com", 443).allowed());
}

TEST(Policy, AllowsListedHostsOnListedPorts) {
  const auto p = policy_from(small_config());
  for (const char* host : {"ws1.ods.opinsights.azure.com", "a.b.ods.opinsights.azure.com",
                           "exact.example.com", "EXACT.example.com."}) {
    const auto v = check_destination(*p, host, 443);
    EXPECT_EQ(v.reason, deny_reason::none) << host;
    EXPECT_TRUE(v.allowed()) << host;
  }
  EXPECT_TRUE(check_destination(*p, "exact.example.com", 8443).allowed());
}

TEST(Policy, DeniesAPortNotInTheList) {
  const auto p = policy_from(small_config());
  const auto v = check_destination(*p, "exact.example.com", 80);
  EXPECT_EQ(v.reason, deny_reason::port);
  EXPECT_TRUE(v.enforce);
  EXPECT_FALSE(v.allowed());
}

TEST(Policy, DeniesAHostMatchingNoPattern) {
  const auto p = policy_from(small_config());
  for (const char* host : {"ods.opinsights.azure.com", "evil.com", "exact.example.com.evil.com",
                           "sub.exact.example.com", "192.0.2.1", "", "bad host"}) {
    const auto v = check_destination(*p, host, 443);
    EXPECT_EQ(v.reason, deny_reason::host) << host;
    EXPECT_FALSE(v.allowed()) << host;
  }
}

TEST(Policy, ReportModeTurnsDenialsIntoWouldDenies) {
  auto cfg = small_config();
  cfg.mode = config::run_mode::report;
  const auto p = policy_from(cfg);
  EXPECT_TRUE(p->report_mode);
  auto v = check_destination(*p, "evil.com", 443);
  EXPECT_EQ(v.reason, deny_reason::host);
  EXPECT_FALSE(v.enforce);
  EXPECT_TRUE(v.allowed());
  v = check_destination(*p, "exact.example.com", 22);
  EXPECT_EQ(v.reason, deny_reason::port);
  EXPECT_TRUE(v.allowed());
}

TEST(Policy, AllowsClientsInsideTheConfiguredCidrs) {
  auto cfg = small_config();
  cfg.clients.allow = {"10.0.0.0/8", "2001:db8::/32"};
  const auto p = policy_from(cfg);
  EXPECT_TRUE(client_allowed(*p, ip("10.1.2.3")));
  EXPECT_TRUE(client_allowed(*p, ip("::ffff:10.1.2.3")));  // dual-stack listener
  EXPECT_TRUE(client_allowed(*p, ip("2001:db8::5")));
  EXPECT_FALSE(client_allowed(*p, ip("192.168.1.1")));
  EXPECT_FALSE(client_allowed(*p, ip("::ffff:192.168.1.1")));
  EXPECT_FALSE(client_allowed(*p, ip("2001:db9::5")));
}

TEST(Policy, DefaultClientListAllowsEveryone) {
  const auto p = policy_from(config::gateway_config{});
  EXPECT_TRUE(client_allowed(*p, ip("203.0.113.5")));
  EXPECT_TRUE(client_allowed(*p, ip("::ffff:203.0.113.5")));
  EXPECT_TRUE(client_allowed(*p, ip("2001:db8::1")));
}

TEST(Policy, EmptyClientListAllowsNoOne) {
  auto cfg = small_config();
  cfg.clients.allow.clear();
  EXPECT_FALSE(client_allowed(*policy_from(cfg), ip("10.0.0.1")));
}

TEST(Policy, FindsResolveOverridesByNormalisedHost) {
  auto cfg = small_config();
  cfg.upstream.resolve = {{"Exact.Example.com", "10.0.0.5"}, {"v6.example.com", "[2001:db8::9]"}};
  const auto p = policy_from(cfg);
  const auto* a = resolve_override(*p, "exact.example.com");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a, ip("10.0.0.5"));
  a = resolve_override(*p, "EXACT.example.com.");
  ASSERT_NE(a, nullptr);
  a = resolve_override(*p, "v6.example.com");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a, ip("2001:db8::9"));
  EXPECT_EQ(resolve_override(*p, "other.example.com"), nullptr);
  EXPECT_EQ(resolve_override(*p, ""), nullptr);
}

TEST(Policy, RefusesNonPublicDestinationsByDefault) {
  const auto p = policy_from(small_config());
  EXPECT_TRUE(destination_address_allowed(*p, ip("20.50.60.70"), false));
  EXPECT_TRUE(destination_address_allowed(*p, ip("2603:1000::1"), false));
  for (const char* addr :
       {"127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1", "169.254.169.254",
        "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::10.0.0.1",
        "224.0.0.1", "0.0.0.0", "255.255.255.255", "::"}) {
    EXPECT_FALSE(destination_address_allowed(*p, ip(addr), false)) << addr;
  }
}

TEST(Policy, AllowPrivateAdmitsLoopbackPrivateAndLinkLocalOnly) {
  auto cfg = small_config();
  cfg.upstream.allow_private = true;
  const auto p = policy_from(cfg);
  for (const char* addr : {"127.0.0.1", "10.0.0.1", "169.254.1.1", "fd00::1", "fe80::1"}) {
    EXPECT_TRUE(destination_address_allowed(*p, ip(addr), false)) << addr;
  }
  // Multicast, broadcast and "this host" are never TCP destinations.
  for (const char* addr : {"224.0.0.1", "ff02::1", "0.0.0.0", "255.255.255.255", "::"}) {
    EXPECT_FALSE(destination_address_allowed(*p, ip(addr), false)) << addr;
  }
}

TEST(Policy, TrustsAddressesFromResolveOverrides) {
  const auto p = policy_from(small_config());
  EXPECT_TRUE(destination_address_allowed(*p, ip("10.0.0.5"), true));
  EXPECT_TRUE(destination_address_allowed(*p, ip("127.0.0.1"), true));
}

TEST(Policy, AllowsAnIpLiteralOnlyWhenAnEntryNamesThatLiteral) {
  auto cfg = small_config();
  cfg.allowed_hosts = {"*.example.com", "192.0.2.1", "[2001:DB8::1]"};
  const auto p = policy_from(cfg);
  // The same address in any spelling normalize_host accepts.
  for (const char* host : {"192.0.2.1", "2001:db8::1", "[2001:db8::1]", "2001:DB8:0:0:0:0:0:1",
                           "[2001:db8:0::1]"}) {
    EXPECT_EQ(check_destination(*p, host, 443).reason, deny_reason::none) << host;
  }
  // Other addresses, the listed one mapped into IPv6 or spelled the inet_aton ways, and
  // names under a wildcard that merely look numeric.
  for (const char* host :
       {"192.0.2.2", "::ffff:192.0.2.1", "[::ffff:192.0.2.1]", "3221225985", "0xc0.0.2.1",
        "0300.0.2.1", "192.000.002.001", "192.0.2.1.", "[192.0.2.1]", "2001:db8::2",
        "2001:db8::1%eth0", "192.0.2.1:443", "1.2.3.4.example"}) {
    EXPECT_EQ(check_destination(*p, host, 443).reason, deny_reason::host) << host;
  }
  // A wildcard entry never reaches an address, only names under its suffix.
  EXPECT_EQ(check_destination(*p, "192.0.2.1.example.com", 443).reason, deny_reason::none);
  cfg.allowed_hosts = {"*.example.com"};
  const auto wildcard_only = policy_from(cfg);
  for (const char* host : {"192.0.2.1", "2001:db8::1", "127.0.0.1", "::1"}) {
    EXPECT_EQ(check_destination(*wildcard_only, host, 443).reason, deny_reason::host) << host;
  }
}

TEST(Policy, ValidatesAndNormalisesHostNamesBeforeMatching) {
  auto cfg = small_config();
  cfg.allowed_hosts = {"*.example.com"};
  const auto p = policy_from(cfg);
  const std::string label63(63, 'a');
  // Trailing dot and case are normalised; the limits are RFC 1035's.
  for (const std::string& host : {std::string("A.Example.COM."), label63 + ".example.com",
                                 label63 + "." + label63 + "." + label63 + "." +
                                     std::string(61 - 12, 'b') + ".example.com"}) {
    EXPECT_EQ(check_destination(*p, host, 443).reason, deny_reason::none) << host;
  }
  for (const std::string& host :
       {std::string(64, 'a') + ".example.com", label63 + "." + label63 + "." + label63 + "." +
                                                   std::string(62 - 12, 'b') + ".example.com",
        std::string("a.example.com.."), std::string("a..example.com"), std::string("-a.example.com"),
        std::string("a b.example.com"), std::string("a\0.example.com", 15),
        std::string("caf\xc3\xa9.example.com"), std::string("a%2e.example.com"),
        std::string("*.example.com"), std::string("user@a.example.com")}) {
    EXPECT_EQ(check_destination(*p, host, 443).reason, deny_reason::host) << host;
  }
}

TEST(Policy, ToleratesAMissingConfig) {
  const auto p = make_policy(nullptr, 3);
  ASSERT_TRUE(p->config);
  EXPECT_EQ(p->version, 3u);
  EXPECT_EQ(p->hosts.size(), 7u);
}

}  // namespace
}  // namespace omsgw::net
