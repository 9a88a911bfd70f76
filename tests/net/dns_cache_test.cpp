// net::dns_cache: TTL caps, negative entries, the bound on names (pure, time passed in).
#include "net/dns_cache.hpp"

#include <gtest/gtest.h>

namespace omsgw::net {
namespace {

using std::chrono::seconds;
const auto t0 = dns_cache::clock::time_point{} + seconds(1000);
const std::vector<boost::asio::ip::address> one{boost::asio::ip::make_address("192.0.2.1")};

TEST(DnsCache, PositiveTtlIsKeptAndCapped) {
  dns_cache c({16, seconds(300), seconds(30)});
  c.put_positive("a.test", one, seconds(60), t0);
  c.put_positive("b.test", one, seconds(86400), t0);
  ASSERT_TRUE(c.find("a.test", t0 + seconds(59)));
  EXPECT_EQ(c.find("a.test", t0 + seconds(59))->addresses, one);
  EXPECT_FALSE(c.find("a.test", t0 + seconds(60)));
  EXPECT_TRUE(c.find("b.test", t0 + seconds(299)));
  EXPECT_FALSE(c.find("b.test", t0 + seconds(300)));  // capped at 300 s, not a day
}

TEST(DnsCache, ZeroTtlOrNoAddressKeepsNothing) {
  dns_cache c({16, seconds(300), seconds(30)});
  c.put_positive("a.test", one, seconds(0), t0);
  c.put_positive("b.test", {}, seconds(60), t0);
  EXPECT_FALSE(c.find("a.test", t0));
  EXPECT_FALSE(c.find("b.test", t0));
  EXPECT_EQ(c.size(), 0u);
}

TEST(DnsCache, NegativeAnswerKeptForTheNegativeTtl) {
  dns_cache c({16, seconds(300), seconds(30)});
  c.put_negative("nx.test", t0);
  auto hit = c.find("nx.test", t0 + seconds(29));
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->addresses.empty());
  EXPECT_FALSE(c.find("nx.test", t0 + seconds(30)));
}

TEST(DnsCache, BoundedLeastRecentlyUsedGoesFirst) {
  dns_cache c({2, seconds(300), seconds(30)});
  c.put_positive("a.test", one, seconds(60), t0);
  c.put_positive("b.test", one, seconds(60), t0);
  ASSERT_TRUE(c.find("a.test", t0));  // a is now the most recently used
  c.put_positive("c.test", one, seconds(60), t0);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.find("a.test", t0));
  EXPECT_FALSE(c.find("b.test", t0));
  EXPECT_TRUE(c.find("c.test", t0));
}

TEST(DnsCache, ANewAnswerReplacesTheOld) {
  dns_cache c({2, seconds(300), seconds(30)});
  c.put_negative("a.test", t0);
  c.put_positive("a.test", one, seconds(60), t0);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.find("a.test", t0 + seconds(45))->addresses, one);
}

}  // namespace
}  // namespace omsgw::net
