// net/decision: every "is this allowed?" as a verdict that already says enforced or
// reported, with the reason label and the event id.

#include "net/decision.hpp"

#include <gtest/gtest.h>

namespace omsgw::net {
namespace {

ip_address ip(const char* text) { return *parse_ip_literal(text); }

policy_ptr policy(void (*edit)(config::gateway_config&)) {
  config::gateway_config cfg;
  cfg.allowed_hosts = {"*.example.com"};
  cfg.clients.allow = {"10.0.0.0/8"};
  cfg.listen.proxy_protocol_trusted = {*grammar::parse_cidr("192.0.2.0/24")};
  cfg.limits.max_connections = 10;
  cfg.limits.max_connections_per_client = 3;
  if (edit) edit(cfg);
  return make_policy(std::make_shared<const config::gateway_config>(cfg), 1);
}

void report(config::gateway_config& c) { c.mode = config::run_mode::report; }

TEST(Decision, ProxyPeerOutsideTheTrustedListIsRefusedEvenInReportMode) {
  for (auto edit : {static_cast<void (*)(config::gateway_config&)>(nullptr), &report}) {
    const auto p = policy(edit);
    EXPECT_TRUE(decide_proxy_peer(*p, ip("192.0.2.9")).allowed());
    const auto v = decide_proxy_peer(*p, ip("198.51.100.1"));
    EXPECT_TRUE(v.refused());
    EXPECT_EQ(v.reason, deny_reason::client);
    EXPECT_EQ(v.event, verdict_event::not_allowed);
  }
}

TEST(Decision, ClientOutsideClientsAllowIsRefusedOrReported) {
  EXPECT_TRUE(decide_client(*policy(nullptr), ip("10.1.1.1")).allowed());
  auto v = decide_client(*policy(nullptr), ip("11.1.1.1"));
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::client);
  v = decide_client(*policy(&report), ip("11.1.1.1"));
  EXPECT_FALSE(v.refused());
  EXPECT_TRUE(v.reported());
}

TEST(Decision, LimitsCountEveryConnectionAndAreNeverOnlyReported) {
  const auto p = policy(&report);
  EXPECT_TRUE(decide_limits(*p, {9, 2}, 1000).allowed());
  auto v = decide_limits(*p, {10, 0}, 1000);
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::limit);
  EXPECT_EQ(v.event, verdict_event::application_error);
  EXPECT_TRUE(decide_limits(*p, {0, 3}, 1000).refused());
  // max_connections: 0 takes the derived capacity.
  const auto derived = policy([](config::gateway_config& c) { c.limits.max_connections = 0; });
  EXPECT_EQ(effective_capacity(*derived, 50), 50u);
  EXPECT_TRUE(decide_limits(*derived, {49, 0}, 50).allowed());
  EXPECT_TRUE(decide_limits(*derived, {50, 0}, 50).refused());
  // A configured limit above what the descriptors allow is cut to it (it used to be
  // kept: max_connections 5000 under ulimit -n 256 ran into EMFILE, not 503).
  EXPECT_EQ(effective_capacity(*p, 5), 5u);
  EXPECT_TRUE(decide_limits(*p, {5, 0}, 5).refused());
  // The gateway's own EMFILE is its limit, in report mode too.
  v = decide_out_of_descriptors();
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::limit);
  EXPECT_EQ(v.event, verdict_event::application_error);
}

TEST(Decision, DestinationAndAddressRefusalsAreHostOrPort) {
  const auto p = policy(nullptr);
  EXPECT_TRUE(decide_destination(*p, "a.example.com", 443).allowed());
  EXPECT_EQ(decide_destination(*p, "a.example.org", 443).reason, deny_reason::host);
  EXPECT_EQ(decide_destination(*p, "a.example.com", 22).reason, deny_reason::port);
  EXPECT_TRUE(decide_destination(*policy(&report), "a.example.org", 443).reported());
  const auto v = decide_address(*policy(&report));
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::host);
}

TEST(Decision, TlsRuleRefusalsAreReportableMalformedInputIsNot) {
  tls::inspection_result r;
  r.kind = tls::verdict::verified;
  EXPECT_EQ(decide_tls(false, r).reason, deny_reason::none);
  r.kind = tls::verdict::need_more;
  EXPECT_EQ(decide_tls(false, r).reason, deny_reason::none);
  r.kind = tls::verdict::reject;
  r.reason = tls::reject_reason::sni_mismatch;
  auto v = decide_tls(false, r);
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::sni_mismatch);
  EXPECT_EQ(v.event, verdict_event::tls_rejected);
  EXPECT_TRUE(decide_tls(true, r).reported());
  r.reason = tls::reject_reason::client_cert;
  EXPECT_EQ(decide_tls(false, r).event, verdict_event::not_allowed);
  r.reason = tls::reject_reason::not_tls;
  v = decide_tls(true, r);
  EXPECT_TRUE(v.reported());  // plain bytes are a rule (tls.inspect), reportable
  EXPECT_EQ(v.reason, deny_reason::not_tls);
  r.reason = tls::reject_reason::too_large;
  v = decide_tls(true, r);
  EXPECT_TRUE(v.refused());  // malformed: refused in report mode too
  EXPECT_EQ(v.reason, deny_reason::tls_parse);
  r.kind = tls::verdict::parse_error;
  v = decide_tls(true, r);
  EXPECT_TRUE(v.refused());
  EXPECT_EQ(v.reason, deny_reason::tls_parse);
  EXPECT_EQ(v.event, verdict_event::tls_parse_error);
}

}  // namespace
}  // namespace omsgw::net
