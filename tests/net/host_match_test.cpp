#include "net/host_match.hpp"

#include <gtest/gtest.h>

#include <string>

namespace omsgw::net {
namespace {

std::string norm(std::string_view host) { return normalize_host(host).value_or("<invalid>"); }
std::string pattern(std::string_view p) { return normalize_host_pattern(p).value_or("<invalid>"); }

TEST(HostMatch, LowerCasesNamesAndDropsOneTrailingDot) {
  EXPECT_EQ(norm("WS1.ODS.OpInsights.Azure.COM"), "ws1.ods.opinsights.azure.com");
  EXPECT_EQ(norm("example.com."), "example.com");
  EXPECT_EQ(norm("localhost"), "localhost");
  EXPECT_EQ(norm("_dmarc.example.com"), "_dmarc.example.com");
  EXPECT_EQ(norm("a-b.c_d.example"), "a-b.c_d.example");
  EXPECT_EQ(norm("1.example.com"), "1.example.com");
  EXPECT_EQ(norm("0x10.example.com"), "0x10.example.com");
}

TEST(HostMatch, NormalisesIpLiteralsToCanonicalForm) {
  EXPECT_EQ(norm("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(norm("[2001:DB8:0::1]"), "2001:db8::1");
  EXPECT_EQ(norm("2001:db8:0:0:0:0:0:1"), "2001:db8::1");
  EXPECT_EQ(norm("[::ffff:10.0.0.1]"), "::ffff:10.0.0.1");
}

TEST(HostMatch, AcceptsNamesAtTheLengthLimits) {
  const std::string label63(63, 'a');
  EXPECT_EQ(norm(label63 + ".com"), label63 + ".com");
  // 4 * 63 + 3 dots = 255 > 253; 3 * 63 + 61 + 3 dots = 253.
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_EQ(norm(name253), name253);
  EXPECT_EQ(norm(name253 + "."), name253);
}

TEST(HostMatch, RejectsNamesBeyondTheLengthLimits) {
  EXPECT_FALSE(normalize_host(std::string(64, 'a') + ".com"));
  const std::string label63(63, 'a');
  const std::string name254 = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
  EXPECT_FALSE(normalize_host(name254));
}

TEST(HostMatch, RejectsMalformedNames) {
  for (const char* bad :
       {"",          ".",          "..",           "a..com",   ".a.com",
        "a.com..",   "-a.com",     "a-.com",       "a.-b.com", "a b.com",
        "a.com:443", "user@a.com", "a/b.com",      "a%2ecom",  "xn--caf\xc3\xa9.com",
        "*.a.com",   "*",          "a.*.com",      "[a.com]",  "[192.0.2.1]",
        "[::1",      "::1]",       "fe80::1%eth0", "a,b.com",  "a.com/"}) {
    EXPECT_FALSE(normalize_host(bad)) << bad;
  }
}

TEST(HostMatch, RejectsNulBytes) {
  EXPECT_FALSE(normalize_host(std::string("a.com\0.evil.com", 15)));
  EXPECT_FALSE(normalize_host(std::string("192.0.2.1\0", 10)));
  EXPECT_FALSE(normalize_host(std::string("::1\0", 4)));
  EXPECT_FALSE(normalize_host_pattern(std::string("*.a.com\0", 8)));
}

TEST(HostMatch, RejectsNumericNamesTheResolverWouldReadAsIpv4) {
  for (const char* bad : {"127.1", "2130706433", "010.0.0.1", "0x7f.0.0.1", "0x7f000001",
                          "0177.0.0.1", "1.2.3.4.", "1.2.3", "example.123", "256.1.1.1"}) {
    EXPECT_FALSE(normalize_host(bad)) << bad;
  }
}

TEST(HostMatch, NormalisesWildcardPatterns) {
  EXPECT_EQ(pattern("*.ODS.opinsights.azure.com"), "*.ods.opinsights.azure.com");
  EXPECT_EQ(pattern("*.example.com."), "*.example.com");
  EXPECT_EQ(pattern("Exact.Example.com"), "exact.example.com");
  EXPECT_EQ(pattern("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(pattern("[2001:db8::1]"), "2001:db8::1");
}

TEST(HostMatch, RejectsTooBroadOrMalformedPatterns) {
  for (const char* bad :
       {"*", "*.", "*.com", "*.com.", "**.a.com", "*a.com", "a.*.com", "*.*.a.com", "*.a..com",
        ".a.com", "*.192.0.2.1", "*.[::1]", "*.", "", "*.-a.com"}) {
    EXPECT_FALSE(normalize_host_pattern(bad)) << bad;
  }
}

TEST(HostMatch, ExactPatternsMatchOnlyTheSameHost) {
  EXPECT_TRUE(host_matches("a.example.com", "a.example.com"));
  EXPECT_FALSE(host_matches("a.example.com", "b.a.example.com"));
  EXPECT_FALSE(host_matches("a.example.com", "example.com"));
  EXPECT_TRUE(host_matches("192.0.2.1", "192.0.2.1"));
  EXPECT_FALSE(host_matches("192.0.2.1", "192.0.2.10"));
}

TEST(HostMatch, WildcardMatchesOneOrMoreLabelsButNotTheSuffixItself) {
  EXPECT_TRUE(host_matches("*.a.com", "x.a.com"));
  EXPECT_TRUE(host_matches("*.a.com", "y.x.a.com"));
  EXPECT_FALSE(host_matches("*.a.com", "a.com"));
  EXPECT_FALSE(host_matches("*.a.com", "xa.com"));
  EXPECT_FALSE(host_matches("*.a.com", "x.a.com.evil.net"));
  EXPECT_FALSE(host_matches("*.a.com", "x.b.com"));
  EXPECT_FALSE(host_matches("*.a.com", ""));
}

TEST(HostMatch, MatchesCaseInsensitivelyThroughNormalisation) {
  const auto p = normalize_host_pattern("*.OMS.OpInsights.Azure.com");
  const auto h = normalize_host("WorkSpace.oms.OPINSIGHTS.azure.COM.");
  ASSERT_TRUE(p && h);
  EXPECT_TRUE(host_matches(*p, *h));
}

TEST(HostMatch, RecognisesIpLiterals) {
  EXPECT_TRUE(is_ip_literal("192.0.2.1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::1"));
  EXPECT_TRUE(is_ip_literal("[2001:db8::1]"));
  EXPECT_FALSE(is_ip_literal("example.com"));
  EXPECT_FALSE(is_ip_literal("127.1"));
  EXPECT_FALSE(is_ip_literal(""));
}

}  // namespace
}  // namespace omsgw::net
