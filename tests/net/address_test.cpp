#include "net/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace omsgw::net {
namespace {

ip_address ip(const std::string& text) {
  auto addr = parse_ip_literal(text);
  EXPECT_TRUE(addr) << text;
  return addr.value_or(ip_address{});
}

cidr net(const std::string& text) {
  auto c = parse_cidr(text);
  EXPECT_TRUE(c) << text;
  return c.value_or(cidr{});
}

TEST(Address, ParsesIpv4AndIpv6Literals) {
  EXPECT_TRUE(ip("192.0.2.1").is_v4());
  EXPECT_TRUE(ip("2001:db8::1").is_v6());
  EXPECT_EQ(ip("[2001:DB8::1]").to_string(), "2001:db8::1");
  EXPECT_EQ(ip("::ffff:10.1.2.3").to_string(), "::ffff:10.1.2.3");
}

TEST(Address, RejectsMalformedLiterals) {
  for (const char* bad :
       {"", "[]", "[", "[::1", "::1]", "[192.0.2.1]", "192.0.2", "192.0.2.1.", "256.1.1.1",
        "010.0.0.1", "0x7f.0.0.1", "127.1", "1.2.3.4 ", " 1.2.3.4", "fe80::1%eth0",
        "[fe80::1%25eth0]", "example.com", "::g", "1:2:3:4:5:6:7:8:9"}) {
    EXPECT_FALSE(parse_ip_literal(bad)) << bad;
  }
}

TEST(Address, RejectsLiteralsWithEmbeddedNul) {
  EXPECT_FALSE(parse_ip_literal(std::string("1.2.3.4\0x", 9)));
  EXPECT_FALSE(parse_ip_literal(std::string("::1\0", 4)));
}

TEST(Address, ParsesCidrAndClearsHostBits) {
  const auto c = net("10.1.2.3/8");
  EXPECT_EQ(c.network.to_string(), "10.0.0.0");
  EXPECT_EQ(c.prefix, 8u);
  EXPECT_EQ(net("2001:db8:ffff::1/32").network.to_string(), "2001:db8::");
  EXPECT_EQ(net("172.31.255.255/12").network.to_string(), "172.16.0.0");
  EXPECT_EQ(net("192.168.1.77/25").network.to_string(), "192.168.1.0");
}

TEST(Address, TreatsABareAddressAsAHostPrefix) {
  EXPECT_EQ(net("192.0.2.7").prefix, 32u);
  EXPECT_EQ(net("2001:db8::7").prefix, 128u);
  EXPECT_EQ(net("0.0.0.0/0").prefix, 0u);
  EXPECT_EQ(net("::/0").prefix, 0u);
}

TEST(Address, RejectsMalformedCidr) {
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8/8",
                          "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0.0 /8",
                          "[::1]/128", "10.0.0.0/0008", "example.com/8"}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
}

TEST(Address, CidrContainsAddressesInsideThePrefixOnly) {
  const auto c = net("172.16.0.0/12");
  EXPECT_TRUE(cidr_contains(c, ip("172.16.0.0")));
  EXPECT_TRUE(cidr_contains(c, ip("172.31.255.255")));
  EXPECT_FALSE(cidr_contains(c, ip("172.32.0.0")));
  EXPECT_FALSE(cidr_contains(c, ip("172.15.255.255")));
  const auto v6 = net("2001:db8::/33");
  EXPECT_TRUE(cidr_contains(v6, ip("2001:db8:7fff::1")));
  EXPECT_FALSE(cidr_contains(v6, ip("2001:db8:8000::1")));
  EXPECT_TRUE(cidr_contains(net("0.0.0.0/0"), ip("203.0.113.9")));
  EXPECT_TRUE(cidr_contains(net("::/0"), ip("2001:db8::1")));
  EXPECT_TRUE(cidr_contains(net("192.0.2.7"), ip("192.0.2.7")));
  EXPECT_FALSE(cidr_contains(net("192.0.2.7"), ip("192.0.2.8")));
}

TEST(Address, CidrComparesIpv4MappedAddressesAsIpv4) {
  EXPECT_TRUE(cidr_contains(net("10.0.0.0/8"), ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(cidr_contains(net("10.0.0.0/8"), ip("::ffff:11.1.2.3")));
  EXPECT_TRUE(cidr_contains(net("0.0.0.0/0"), ip("::ffff:203.0.113.9")));
  // A v4-mapped rule is the IPv4 rule it carries.
  EXPECT_TRUE(cidr_contains(net("::ffff:10.0.0.0/104"), ip("10.9.9.9")));
  EXPECT_TRUE(cidr_contains(net("::ffff:10.0.0.0/104"), ip("::ffff:10.9.9.9")));
  EXPECT_FALSE(cidr_contains(net("::ffff:10.0.0.0/104"), ip("11.0.0.1")));
}

TEST(Address, CidrNeverMatchesAcrossFamilies) {
  // "::/0" is every IPv6 address; an IPv4 client (plain or mapped) is IPv4.
  EXPECT_FALSE(cidr_contains(net("::/0"), ip("10.0.0.1")));
  EXPECT_FALSE(cidr_contains(net("::/0"), ip("::ffff:10.0.0.1")));
  EXPECT_FALSE(cidr_contains(net("0.0.0.0/0"), ip("2001:db8::1")));
}

using classified = std::vector<std::pair<const char*, address_class>>;

void expect_classes(const classified& cases) {
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(classify_address(ip(text)), expected) << text << " is " << to_string(expected);
  }
}

TEST(Address, ClassifiesIpv4Loopback) {
  expect_classes({{"127.0.0.1", address_class::loopback},
                  {"127.255.255.254", address_class::loopback},
                  {"126.255.255.255", address_class::public_unicast},
                  {"128.0.0.0", address_class::public_unicast}});
}

TEST(Address, ClassifiesIpv4PrivateRanges) {
  expect_classes({{"10.0.0.0", address_class::private_net},
                  {"10.255.255.255", address_class::private_net},
                  {"9.255.255.255", address_class::public_unicast},
                  {"11.0.0.0", address_class::public_unicast},
                  {"172.16.0.0", address_class::private_net},
                  {"172.31.255.255", address_class::private_net},
                  {"172.15.255.255", address_class::public_unicast},
                  {"172.32.0.0", address_class::public_unicast},
                  {"192.168.0.0", address_class::private_net},
                  {"192.168.255.255", address_class::private_net},
                  {"192.169.0.0", address_class::public_unicast},
                  {"192.167.255.255", address_class::public_unicast},
                  {"100.64.0.0", address_class::private_net},
                  {"100.127.255.255", address_class::private_net},
                  {"100.63.255.255", address_class::public_unicast},
                  {"100.128.0.0", address_class::public_unicast}});
}

TEST(Address, ClassifiesIpv4LinkLocalMulticastAndReserved) {
  expect_classes({{"169.254.0.0", address_class::link_local},
                  {"169.254.169.253", address_class::link_local},
                  {"169.253.255.255", address_class::public_unicast},
                  {"169.255.0.0", address_class::public_unicast},
                  {"224.0.0.0", address_class::multicast},
                  {"239.255.255.255", address_class::multicast},
                  {"223.255.255.255", address_class::public_unicast},
                  {"240.0.0.0", address_class::unspecified},
                  {"255.255.255.254", address_class::unspecified},
                  {"255.255.255.255", address_class::unspecified},
                  {"0.0.0.0", address_class::unspecified},
                  {"0.255.255.255", address_class::unspecified},
                  {"1.0.0.0", address_class::public_unicast}});
}

TEST(Address, CountsPublicRangesAsPublic) {
  // Issue 15 defect 7: the documentation ranges (192.0.2/24, 198.51.100/24,
  // 203.0.113/24, 2001:db8::/32) used to count as public here; they are special-purpose
  // (see SpecialPurposeRegistries below).
  expect_classes({{"8.8.8.8", address_class::public_unicast},
                  {"2606:4700::1111", address_class::public_unicast}});
}

TEST(Address, ClassifiesIpv6Ranges) {
  expect_classes({{"::1", address_class::loopback},
                  {"::", address_class::unspecified},
                  {"fc00::", address_class::private_net},
                  {"fdff:ffff::1", address_class::private_net},
                  {"fbff:ffff::1", address_class::public_unicast},
                  {"fe80::", address_class::link_local},
                  {"febf:ffff::1", address_class::link_local},
                  {"fec0::1", address_class::private_net},
                  {"ff00::", address_class::multicast},
                  {"ff02::1", address_class::multicast},
                  {"feff::1", address_class::private_net},
                  {"100::1", address_class::unspecified}});
}

TEST(Address, ClassifiesIpv4MappedIpv6AsTheEmbeddedIpv4) {
  expect_classes({{"::ffff:127.0.0.1", address_class::loopback},
                  {"::ffff:10.1.2.3", address_class::private_net},
                  {"::ffff:172.16.0.1", address_class::private_net},
                  {"::ffff:192.168.1.1", address_class::private_net},
                  {"::ffff:100.64.0.1", address_class::private_net},
                  {"::ffff:169.254.1.1", address_class::link_local},
                  {"::ffff:224.0.0.1", address_class::multicast},
                  {"::ffff:0.0.0.0", address_class::unspecified},
                  {"::ffff:255.255.255.255", address_class::unspecified},
                  {"::ffff:8.8.8.8", address_class::public_unicast},
                  {"::ffff:7f00:1", address_class::loopback}});
}

TEST(Address, ClassifiesIpv4CompatibleIpv6AsTheEmbeddedIpv4) {
  expect_classes({{"::127.0.0.1", address_class::loopback},
                  {"::10.1.2.3", address_class::private_net},
                  {"::169.254.1.1", address_class::link_local},
                  {"::8.8.8.8", address_class::public_unicast}});
}

// ::ffff:0:0:0/96 (SIIT, RFC 2765) reaches its IPv4 address through a translator: it
// used to pass as public, so ::ffff:0:127.0.0.1 got past the private-address guard.
TEST(Address, ClassifiesIpv4TranslatedIpv6AsTheEmbeddedIpv4AndTheRestOfColonColonSlash8AsSpecial) {
  expect_classes({{"::ffff:0:127.0.0.1", address_class::loopback},
                  {"::ffff:0:7f00:1", address_class::loopback},
                  {"::ffff:0:10.0.0.1", address_class::private_net},
                  {"::ffff:0:169.254.169.254", address_class::cloud_metadata},
                  {"::ffff:0:8.8.8.8", address_class::public_unicast},
                  {"::1:0:0:0:1", address_class::special},
                  {"0:ff::1", address_class::special},
                  {"ff:ffff::1", address_class::special},
                  {"100::1", address_class::unspecified}});
}

TEST(Address, ClassifiesNat64AndSixToFourByTheEmbeddedIpv4) {
  expect_classes({{"64:ff9b::127.0.0.1", address_class::loopback},
                  {"64:ff9b::10.0.0.1", address_class::private_net},
                  {"64:ff9b::a9fe:101", address_class::link_local},
                  {"64:ff9b::8.8.8.8", address_class::public_unicast},
                  {"64:ff9b:1::1", address_class::private_net},
                  {"2002:7f00:1::1", address_class::loopback},
                  {"2002:a00:1::1", address_class::private_net},
                  {"2002:808:808::1", address_class::public_unicast}});
}

TEST(Address, NamesClassesForLogs) {
  EXPECT_STREQ(to_string(address_class::public_unicast), "public");
  EXPECT_STREQ(to_string(address_class::loopback), "loopback");
  EXPECT_STREQ(to_string(address_class::private_net), "private");
  EXPECT_STREQ(to_string(address_class::link_local), "link_local");
  EXPECT_STREQ(to_string(address_class::multicast), "multicast");
  EXPECT_STREQ(to_string(address_class::unspecified), "unspecified");
}

TEST(Address, DisplaysIpv4MappedAddressesAsPlainIpv4) {
  EXPECT_EQ(display_address(ip("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(display_address(ip("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(display_address(ip("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(display_address(ip("255.255.255.255")), "255.255.255.255");
  EXPECT_EQ(display_address(ip("192.168.100.7")), "192.168.100.7");
  EXPECT_EQ(display_address(ip("2001:DB8:0:0::1")), "2001:db8::1");
  EXPECT_EQ(display_address(ip("::1")), "::1");
}

}  // namespace
}  // namespace omsgw::net
