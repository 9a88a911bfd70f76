// Tests for net/inspection_budget and the TLS inspector's use of it: every byte a
// handshake buffer holds is taken from the shared budget first and given back when the
// buffer empties, at the verdict and when the inspector goes; growth that finds the
// budget spent is refused as reject_reason::budget. (Real handshakes through a budget:
// tls_inspector_test, GivesEveryByteOfTheBudgetBack*.)

#include "net/inspection_budget.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/decision.hpp"
#include "net/tls_inspector.hpp"

namespace {

namespace tls = omsgw::net::tls;
using bytes = std::vector<std::uint8_t>;

/// A handshake record (type 22) whose body is `body`.
bytes handshake_record(const bytes& body) {
  bytes b(5 + body.size());
  b[0] = 22;
  b[1] = 0x03;
  b[2] = 0x01;
  b[3] = static_cast<std::uint8_t>(body.size() >> 8);
  b[4] = static_cast<std::uint8_t>(body.size());
  std::copy(body.begin(), body.end(), b.begin() + 5);
  return b;
}

/// The start of a ClientHello declaring `declared` body bytes, `sent` of them present:
/// a client that trickles a large hello and stalls.
bytes stalled_hello(std::size_t declared, std::size_t sent) {
  bytes body{1, static_cast<std::uint8_t>(declared >> 16), static_cast<std::uint8_t>(declared >> 8),
             static_cast<std::uint8_t>(declared)};
  body.resize(4 + sent, 0);
  return handshake_record(body);
}

tls::inspection_policy policy_with(tls::inspection_budget& pool, std::size_t limit) {
  tls::inspection_policy p;
  p.connect_host = "agent.example.com";
  p.budget = {&pool, limit};
  return p;
}

const tls::inspection_result& feed(tls::handshake_inspector& in, const bytes& b) {
  return in.feed_client(b.data(), b.size());
}

TEST(InspectionBudget, TakesWithinTheLimitOnly) {
  tls::inspection_budget pool;
  EXPECT_TRUE(pool.take(600, 1000));
  EXPECT_FALSE(pool.take(401, 1000));
  EXPECT_EQ(pool.held(), 600u);
  EXPECT_TRUE(pool.take(400, 1000));
  EXPECT_FALSE(pool.take(1, 1000));
  pool.give_back(1000);
  EXPECT_EQ(pool.held(), 0u);
  EXPECT_FALSE(pool.take(2000, 1000));  // larger than the whole limit
}

TEST(InspectionBudget, ScalesWithCapacityUpToTheCeiling) {
  EXPECT_EQ(tls::budget_for(100), 100 * tls::budget_per_tunnel);
  EXPECT_EQ(tls::budget_for(9920), 9920 * tls::budget_per_tunnel);
  EXPECT_EQ(tls::budget_for(32688), tls::max_budget);
}

TEST(InspectionBudget, AStalledHelloHoldsWhatItBufferedUntilItsInspectorGoes) {
  tls::inspection_budget pool;
  {
    tls::handshake_inspector in(policy_with(pool, 1 << 20));
    EXPECT_EQ(feed(in, stalled_hello(30000, 10000)).kind, tls::verdict::need_more);
    EXPECT_GE(pool.held(), 10004u);
    EXPECT_LE(pool.held(), 2 * 10004u);
  }
  EXPECT_EQ(pool.held(), 0u);
}

TEST(InspectionBudget, RefusesTheTunnelWhoseGrowthFindsTheBudgetSpent) {
  tls::inspection_budget pool;
  const std::size_t limit = 40000;
  tls::handshake_inspector first(policy_with(pool, limit));
  tls::handshake_inspector second(policy_with(pool, limit));
  feed(first, stalled_hello(60000, 15000));
  feed(second, stalled_hello(60000, 15000));
  const std::size_t held = pool.held();
  ASSERT_LE(held, limit);

  tls::handshake_inspector third(policy_with(pool, limit));
  const auto& r = feed(third, stalled_hello(60000, 15000));
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::budget);
  EXPECT_NE(r.detail.find("40000"), std::string::npos) << r.detail;
  EXPECT_EQ(pool.held(), held) << "the refused tunnel holds nothing";
  EXPECT_EQ(third.taken(), 5u) << "nothing of the refused record is taken";

  // Limits apply in every mode: report mode does not let it through, and it is a
  // limit (event 400, reason limit), not a TLS rule.
  EXPECT_TRUE(tls::refused_in_every_mode(r));
  const auto v = omsgw::net::decide_tls(true, r);
  EXPECT_TRUE(v.enforce);
  EXPECT_EQ(v.reason, omsgw::net::deny_reason::limit);
  EXPECT_EQ(v.event, omsgw::net::verdict_event::application_error);
}

TEST(InspectionBudget, AGrowingBufferStopsAtTheBudget) {
  tls::inspection_budget pool;
  tls::handshake_inspector in(policy_with(pool, 20000));
  feed(in, stalled_hello(60000, 1000));
  tls::inspection_result r;
  for (int i = 0; i < 60 && !in.done(); ++i) r = feed(in, handshake_record(bytes(1000, 0)));
  EXPECT_EQ(r.reason, tls::reject_reason::budget);
  EXPECT_LE(pool.held(), 20000u);
}

TEST(InspectionBudget, ABufferThatEmptiesGivesItsMemoryBack) {
  // A ClientHello that is refused only at its end still frees its buffer; here the
  // first message is whole but not a ClientHello (not_tls), ending inspection.
  tls::inspection_budget pool;
  tls::handshake_inspector in(policy_with(pool, 1 << 20));
  bytes body{2, 0, 0, 8};  // a ServerHello from the client
  body.resize(12, 0);
  EXPECT_EQ(feed(in, handshake_record(body)).reason, tls::reject_reason::not_tls);
  EXPECT_EQ(pool.held(), 0u);
}

TEST(InspectionBudget, WithoutAPoolNothingIsBounded) {
  tls::inspection_policy p;
  p.connect_host = "agent.example.com";
  tls::handshake_inspector in(p);
  EXPECT_EQ(feed(in, stalled_hello(60000, 16000)).kind, tls::verdict::need_more);
}

}  // namespace
