// Which relays new tunnels skip (relay_proxy.fallback): an unreachable relay for
// relay_skip_time, never one that answered, even with a refusal.
#include "net/relay_health.hpp"

#include <gtest/gtest.h>

namespace omsgw::net {
namespace {

using clock_type = relay_health::clock;

std::shared_ptr<const relay_target> chain(std::initializer_list<std::uint16_t> ports) {
  std::shared_ptr<const relay_target> next;
  std::vector<std::uint16_t> v(ports);
  for (auto it = v.rbegin(); it != v.rend(); ++it) {
    auto t = std::make_shared<relay_target>();
    t->host = "10.9.9.9";
    t->port = *it;
    t->fallback = next;
    next = t;
  }
  return next;
}

TEST(RelayHealth, UnreachableTimeoutAndTlsFailureSkipTheRelayFor30Seconds) {
  for (auto o : {relay_outcome::unreachable, relay_outcome::timeout, relay_outcome::tls_failed}) {
    relay_health h;
    const auto t0 = clock_type::now();
    EXPECT_TRUE(h.report("r:1", o, t0));
    EXPECT_TRUE(h.skipped("r:1", t0 + std::chrono::seconds(29)));
    EXPECT_FALSE(h.skipped("r:1", t0 + relay_skip_time));
    EXPECT_FALSE(h.skipped("r:2", t0));
  }
}

TEST(RelayHealth, AnAnswerEvenARefusalOrAnAuthFailureKeepsTheRelayUp) {
  for (auto o : {relay_outcome::ok, relay_outcome::refused, relay_outcome::auth_failed}) {
    relay_health h;
    const auto t0 = clock_type::now();
    h.report("r:1", relay_outcome::unreachable, t0);
    EXPECT_FALSE(h.report("r:1", o, t0));
    EXPECT_FALSE(h.skipped("r:1", t0));
    EXPECT_FALSE(skips_relay(o));
  }
}

TEST(RelayHealth, ARefusalFallsBackButAnAuthFailureNeverDoes) {
  EXPECT_TRUE(tries_fallback(relay_outcome::refused));
  EXPECT_FALSE(tries_fallback(relay_outcome::auth_failed));
  EXPECT_FALSE(tries_fallback(relay_outcome::ok));
  for (auto o : {relay_outcome::unreachable, relay_outcome::timeout, relay_outcome::tls_failed}) {
    EXPECT_TRUE(tries_fallback(o));
    EXPECT_TRUE(skips_relay(o));
  }
}

TEST(RelayHealth, PickTakesTheFirstRelayNotSkippedAndTheHeadWhenAllAre) {
  relay_health h;
  const auto head = chain({1, 2, 3});
  const auto t0 = clock_type::now();
  EXPECT_EQ(h.pick(head, t0)->port, 1);
  h.report("10.9.9.9:1", relay_outcome::unreachable, t0);
  EXPECT_EQ(h.pick(head, t0)->port, 2);
  h.report("10.9.9.9:2", relay_outcome::timeout, t0);
  EXPECT_EQ(h.pick(head, t0)->port, 3);
  h.report("10.9.9.9:3", relay_outcome::tls_failed, t0);
  EXPECT_EQ(h.pick(head, t0)->port, 1);
  EXPECT_EQ(h.pick(head, t0 + relay_skip_time)->port, 1);
}

}  // namespace
}  // namespace omsgw::net
