// Issue 15 defect 7: every block of the IANA IPv4 and IPv6 special-purpose registries
// (RFC 6890 and updates), the translation forms that carry an IPv4 address, and the
// cloud metadata endpoints, each with an address inside and one just outside.

#include <gtest/gtest.h>

#include "net/address.hpp"
#include "net/policy.hpp"

namespace omsgw::net {
namespace {

using ac = address_class;

struct row {
  const char* range;
  const char* inside;
  ac expected;
  const char* outside;  ///< nullptr where "just outside" is not meaningful
  ac outside_class = ac::public_unicast;
};

const row k_rows[] = {
    {"0.0.0.0/8", "0.255.255.255", ac::unspecified, "1.0.0.0"},
    {"10.0.0.0/8", "10.255.255.255", ac::private_net, "11.0.0.0"},
    {"100.64.0.0/10", "100.127.255.255", ac::private_net, "100.128.0.0"},
    {"127.0.0.0/8", "127.255.255.255", ac::loopback, "128.0.0.0"},
    {"169.254.0.0/16", "169.254.255.255", ac::link_local, "169.255.0.0"},
    {"172.16.0.0/12", "172.31.255.255", ac::private_net, "172.32.0.0"},
    {"192.0.0.0/24", "192.0.0.9", ac::special, "192.0.1.0"},
    {"192.0.0.0/24 low", "192.0.0.0", ac::special, "191.255.255.255"},
    {"192.0.2.0/24", "192.0.2.255", ac::documentation, "192.0.3.0"},
    {"192.31.196.0/24", "192.31.196.1", ac::special, "192.31.197.0"},
    {"192.52.193.0/24", "192.52.193.1", ac::special, "192.52.194.0"},
    {"192.88.99.0/24", "192.88.99.1", ac::special, "192.88.100.0"},
    {"192.168.0.0/16", "192.168.255.255", ac::private_net, "192.169.0.0"},
    {"192.175.48.0/24", "192.175.48.1", ac::special, "192.175.49.0"},
    {"198.18.0.0/15", "198.19.255.255", ac::benchmarking, "198.20.0.0"},
    {"198.18.0.0/15 low", "198.18.0.0", ac::benchmarking, "198.17.255.255"},
    {"198.51.100.0/24", "198.51.100.1", ac::documentation, "198.51.101.0"},
    {"203.0.113.0/24", "203.0.113.1", ac::documentation, "203.0.114.0"},
    {"224.0.0.0/4", "239.255.255.255", ac::multicast, "223.255.255.255"},
    {"240.0.0.0/4", "240.0.0.0", ac::unspecified, nullptr},
    {"255.255.255.255/32", "255.255.255.255", ac::unspecified, nullptr},
    {"168.63.129.16 Azure", "168.63.129.16", ac::cloud_metadata, "168.63.129.17"},
    {"169.254.169.254 IMDS", "169.254.169.254", ac::cloud_metadata, "169.254.169.253",
     ac::link_local},
    {"::/128", "::", ac::unspecified, nullptr},
    {"::1/128", "::1", ac::loopback, nullptr},
    {"::ffff:0:0/96 mapped", "::ffff:192.0.2.1", ac::documentation, "::ffff:8.8.8.8"},
    {"::ffff:0:0/96 metadata", "::ffff:169.254.169.254", ac::cloud_metadata, nullptr},
    {"64:ff9b::/96 NAT64", "64:ff9b::a83f:8110", ac::cloud_metadata, "64:ff9b::808:808"},
    // Just outside the NAT64 blocks is still ::/8, reserved by the IETF (RFC 4291 2.4).
    {"64:ff9b::/96 NAT64 private", "64:ff9b::c0a8:1", ac::private_net,
     "64:ff9b:0:0:1::", ac::special},
    {"64:ff9b:1::/48 local NAT64", "64:ff9b:1::1", ac::private_net, "64:ff9b:2::1", ac::special},
    {"::/8 reserved", "::1:0:0:0:1", ac::special, "100:1::1", ac::public_unicast},
    {"::ffff:0:0:0/96 IPv4-translated", "::ffff:0:7f00:1", ac::loopback, "::ffff:1:7f00:1",
     ac::special},
    {"64:ff9b:1::/48 /96 metadata", "64:ff9b:1::a9fe:a9fe", ac::cloud_metadata, nullptr},
    {"64:ff9b:1::/48 /48 metadata", "64:ff9b:1:a9fe:a9:fe00::", ac::cloud_metadata, nullptr},
    {"100::/64", "100::ffff", ac::unspecified, "100:0:0:2::", ac::public_unicast},
    {"100:0:0:1::/64", "100:0:0:1::1", ac::special, nullptr},
    {"2001::/23", "2001:1ff:ffff::1", ac::special, "2001:200::1"},
    {"2001::/32 Teredo", "2001:0:4136:e378::1", ac::special, nullptr},
    {"2001:2::/48", "2001:2:0:ffff::1", ac::benchmarking, "2001:2:1::1", ac::special},
    {"2001:db8::/32", "2001:db8:ffff::1", ac::documentation, "2001:db9::1"},
    {"2002::/16 6to4", "2002:c0a8:101::1", ac::private_net, "2002:808:808::1"},
    {"2002::/16 6to4 metadata", "2002:a83f:8110::1", ac::cloud_metadata, "2003::1"},
    {"2620:4f:8000::/48", "2620:4f:8000::1", ac::special, "2620:4f:8001::1"},
    {"3fff::/20", "3fff:fff::1", ac::documentation, "3fff:1000::1"},
    {"5f00::/16", "5f00:1::1", ac::special, "5f01::1"},
    {"fc00::/7", "fdff:ffff::1", ac::private_net, "fbff:ffff::1"},
    {"fe80::/10", "febf:ffff::1", ac::link_local, "fe7f:ffff::1"},
    {"fec0::/10 site-local", "feff::1", ac::private_net, nullptr},
    {"ff00::/8", "ff02::1", ac::multicast, nullptr},
    {"fd00:ec2::254 AWS", "fd00:ec2::254", ac::cloud_metadata, "fd00:ec2::253", ac::private_net},
};

ip_address ip(const char* text) { return *parse_ip_literal(text); }

TEST(SpecialPurpose, ClassifiesEveryRegistryBlockInsideAndJustOutside) {
  for (const auto& r : k_rows) {
    SCOPED_TRACE(r.range);
    EXPECT_EQ(classify_address(ip(r.inside)), r.expected)
        << r.inside << " is " << to_string(classify_address(ip(r.inside)));
    if (r.outside) {
      EXPECT_EQ(classify_address(ip(r.outside)), r.outside_class)
          << r.outside << " is " << to_string(classify_address(ip(r.outside)));
    }
  }
}

policy_ptr policy(bool allow_private) {
  config::gateway_config cfg;
  cfg.upstream.allow_private = allow_private;
  return make_policy(std::make_shared<const config::gateway_config>(cfg), 1);
}

TEST(SpecialPurpose, RefusesEverySpecialBlockByDefault) {
  const auto p = policy(false);
  for (const auto& r : k_rows) {
    EXPECT_FALSE(destination_address_allowed(*p, ip(r.inside), false)) << r.inside;
  }
  EXPECT_TRUE(destination_address_allowed(*p, ip("20.50.60.70"), false));
}

TEST(SpecialPurpose, AllowPrivateAndPinsNeverReachCloudMetadata) {
  const auto open = policy(true);
  for (const char* addr : {"168.63.129.16", "169.254.169.254", "::ffff:169.254.169.254",
                           "64:ff9b::a83f:8110", "2002:a9fe:a9fe::1", "fd00:ec2::254"}) {
    EXPECT_FALSE(destination_address_allowed(*open, ip(addr), false)) << addr;
    EXPECT_FALSE(destination_address_allowed(*open, ip(addr), true)) << addr << " (pinned)";
  }
  // The rest of the special space is what allow_private and pins exist for.
  for (const char* addr : {"192.0.2.1", "198.18.0.1", "192.0.0.9", "2001:db8::1", "169.254.1.1"}) {
    EXPECT_TRUE(destination_address_allowed(*open, ip(addr), false)) << addr;
    EXPECT_TRUE(destination_address_allowed(*policy(false), ip(addr), true)) << addr;
  }
}

}  // namespace
}  // namespace omsgw::net
