// The one grammar (net/grammar): each parser's accepted forms, its canonical output and
// the reason it gives for what it refuses, at the split points of each form.

#include <gtest/gtest.h>

#include <string>

#include "net/grammar/authority.hpp"
#include "net/grammar/host.hpp"
#include "net/grammar/ip.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::grammar {
namespace {

bool mentions(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

TEST(GrammarText, LowerCasesAsciiOnlyAndTrimsBlanks) {
  EXPECT_EQ(lower("AbC-\xC3\x84"), "abc-\xC3\x84");
  EXPECT_EQ(trim(" \t a b \r\n"), "a b");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(parse_decimal("0", 10), 0u);
  EXPECT_EQ(parse_decimal("10", 10), 10u);
  EXPECT_FALSE(parse_decimal("11", 10));
  EXPECT_FALSE(parse_decimal("01", 10));
  EXPECT_FALSE(parse_decimal("-1", 10));
  EXPECT_FALSE(parse_decimal("", 10));
}

TEST(GrammarText, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("NTLM", "ntlm"));
  EXPECT_FALSE(iequals("NTLM", "ntl"));
  EXPECT_FALSE(iequals("\xC4", "\xE4"));  // only ASCII letters fold
  EXPECT_TRUE(istarts_with("Proxy-Authenticate: NTLM", "proxy-authenticate:"));
  EXPECT_FALSE(istarts_with("Proxy", "proxy-authenticate:"));
}

TEST(GrammarIp, ParsesBareLiteralsAndBracketedIpv6) {
  EXPECT_EQ(parse_ip("192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_ip("2001:DB8:0::1")->to_string(), "2001:db8::1");
  EXPECT_FALSE(parse_ip("[::1]"));
  EXPECT_EQ(parse_ip_literal("[::1]")->to_string(), "::1");
  EXPECT_FALSE(parse_ip_literal("[192.0.2.1]"));
  EXPECT_TRUE(mentions(parse_ip_literal("[192.0.2.1]").error(), "not a valid IPv6"));
  EXPECT_TRUE(mentions(parse_ip_literal("[::1").error(), "unclosed"));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "010.0.0.1", "1.2.3.256", "fe80::1%eth0",
                          "::1 ", "localhost", "0x7f.0.0.1"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
    EXPECT_FALSE(parse_ip(bad).error().empty()) << bad;
  }
  EXPECT_FALSE(parse_ip(std::string("1.2.3.4\0", 8)));
}

TEST(GrammarIp, ParsesCidrsAndClearsHostBits) {
  EXPECT_EQ(parse_cidr("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(parse_cidr("192.0.2.1")->to_string(), "192.0.2.1/32");
  EXPECT_EQ(parse_cidr("::/0")->to_string(), "::/0");
  EXPECT_EQ(parse_cidr("2001:db8::1/32")->to_string(), "2001:db8::/32");
  EXPECT_TRUE(mentions(parse_cidr("10.0.0.0/33").error(), "expected 0..32 for IPv4"));
  EXPECT_TRUE(mentions(parse_cidr("::/129").error(), "expected 0..128 for IPv6"));
  EXPECT_TRUE(mentions(parse_cidr("10.0.0.0/08").error(), "prefix length"));
  EXPECT_TRUE(mentions(parse_cidr("10.0.0.0/").error(), "prefix length"));
  EXPECT_TRUE(mentions(parse_cidr("[::1]/128").error(), "not an IP address or CIDR"));
  EXPECT_TRUE(mentions(parse_cidr("example.com/8").error(), "not an IP address or CIDR"));
}

TEST(GrammarIp, CidrMatchesMappedAddressesAsIpv4) {
  const auto v4 = *parse_cidr("10.0.0.0/8");
  EXPECT_TRUE(v4.contains(*parse_ip("10.255.0.1")));
  EXPECT_TRUE(v4.contains(*parse_ip("::ffff:10.0.0.1")));
  EXPECT_FALSE(v4.contains(*parse_ip("11.0.0.0")));
  EXPECT_FALSE(v4.contains(*parse_ip("2001:db8::1")));
  const auto mapped = *parse_cidr("::ffff:127.0.0.0/104");
  EXPECT_TRUE(mapped.contains(*parse_ip("127.0.0.1")));
  EXPECT_FALSE(mapped.contains(*parse_ip("128.0.0.1")));
}

TEST(GrammarHost, NormalisesNamesAndLiterals) {
  EXPECT_EQ(*normalize_host("WS1.Example.COM."), "ws1.example.com");
  EXPECT_EQ(*normalize_host("[2001:DB8:0::1]"), "2001:db8::1");
  EXPECT_EQ(*normalize_host("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(*normalize_host("192.0.2.1"), "192.0.2.1");
  EXPECT_FALSE(normalize_host("192.0.2.1."));
  EXPECT_EQ(*normalize_host("under_score.example.com"), "under_score.example.com");
}

TEST(GrammarHost, SaysWhyAHostIsRefused) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "must not be empty"},
      {"example.com:443", "must not include a port"},
      {"-a.example.com", "starts or ends with '-'"},
      {"a..example.com", "empty label"},
      {"a/b.example.com", "contains '/'"},
      {"10.0.0.256", "neither a valid IP address nor a host name"},
      {"127.1", "neither a valid IP address nor a host name"},
      {"0x7f.1", "neither a valid IP address nor a host name"},
      {"[example.com]", "not a valid IPv6 address"},
      {"*", "would allow every host"},
      {"a.*.example.com", "whole first label"},
      {"*.example.com", "whole first label"},
  };
  for (const auto& [host, why] : bad) {
    const auto r = normalize_host(host);
    EXPECT_FALSE(r) << host;
    EXPECT_TRUE(mentions(r.error(), why)) << host << ": " << r.error();
  }
  EXPECT_FALSE(normalize_host(std::string(64, 'a') + ".com"));
  EXPECT_FALSE(normalize_host(std::string("a\0b.com", 7)));
}

TEST(GrammarHost, NormalisesWildcardPatternsWithTwoLabels) {
  EXPECT_EQ(*normalize_host_pattern("*.ODS.Example.com."), "*.ods.example.com");
  EXPECT_EQ(*normalize_host_pattern("Exact.Example.com"), "exact.example.com");
  EXPECT_TRUE(mentions(normalize_host_pattern("*.com").error(), "two labels after '*.'"));
  EXPECT_TRUE(mentions(normalize_host_pattern("*.a..com").error(), "the suffix has an empty"));
  EXPECT_TRUE(is_wildcard("*.a.com"));
  EXPECT_FALSE(is_wildcard("a.com"));
}

TEST(GrammarHost, MatchesSubdomainsOfWildcardsButNotIpLiterals) {
  EXPECT_TRUE(host_matches("*.a.com", "x.a.com"));
  EXPECT_TRUE(host_matches("*.a.com", "y.x.a.com"));
  EXPECT_FALSE(host_matches("*.a.com", "a.com"));
  EXPECT_FALSE(host_matches("*.a.com", "xa.com"));
  EXPECT_FALSE(host_matches("*.0.1", "10.0.0.1"));
  EXPECT_TRUE(host_matches("a.com", "a.com"));
}

TEST(GrammarAuthority, SplitsHostAndPortAtEveryForm) {
  EXPECT_EQ(*parse_authority("Example.COM:443"), (authority{"example.com", 443}));
  EXPECT_EQ(*parse_authority("[::1]:8443"), (authority{"::1", 8443}));
  EXPECT_EQ(*parse_authority("a.example.com:00443"), (authority{"a.example.com", 443}));
  const std::pair<const char*, const char*> bad[] = {
      {"", "needs a port"},
      {"a.example.com", "needs a port"},
      {"a.example.com:", "invalid port"},
      {"a.example.com:0", "invalid port"},
      {"a.example.com:65536", "invalid port"},
      {"a.example.com:44x", "invalid port"},
      {"[::1]", "needs a port"},
      {"[::1:443", "unclosed"},
      {"2001:db8::1:443", "not written in brackets"},
      {"bad_-.com_:443", "invalid host"},
      {"[1.2.3.4]:443", "invalid host"},
  };
  for (const auto& [text, why] : bad) {
    const auto r = parse_authority(text);
    EXPECT_FALSE(r) << text;
    EXPECT_TRUE(mentions(r.error(), why)) << text << ": " << r.error();
  }
}

TEST(GrammarRelayUrl, ParsesHttpAndHttpsAndRefusesUserinfo) {
  auto u = parse_relay_url("HTTP://Proxy.Corp:3128/");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "proxy.corp");
  EXPECT_EQ(u->port, 3128);
  u = parse_relay_url("https://[2001:db8::1]:443");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "2001:db8::1");
  const std::pair<const char*, const char*> bad[] = {
      {"proxy.corp:3128", "is not of the form http://HOST:PORT"},
      {"ftp://proxy.corp:21", "is not of the form"},
      {"http://user:pw@proxy.corp:3128", "must not contain credentials"},
      {"http://@proxy.corp:3128", "must not contain credentials"},
      {"http://proxy.corp:3128/path", "must not contain a path"},
      {"http://proxy.corp:3128?x", "must not contain a path"},
      {"http://proxy.corp", "needs a port"},
      {"http://proxy.corp:0", "invalid port: expected 1..65535"},
      {"http://2001:db8::1:3128", "in brackets"},
      {"http://bad_host!:3128", "invalid host: it contains '!'"},
  };
  for (const auto& [text, why] : bad) {
    const auto r = parse_relay_url(text);
    EXPECT_FALSE(r) << text;
    EXPECT_TRUE(mentions(r.error(), why)) << text << ": " << r.error();
  }
}

TEST(Grammar, WithoutUserinfoMasksOnlyAUrlsCredentials) {
  EXPECT_EQ(without_userinfo("http://u:pw@proxy.corp:3128"), "http://***@proxy.corp:3128");
  EXPECT_EQ(without_userinfo("HTTPS://a@b:pw@h:1/x@y"), "HTTPS://***@h:1/x@y");
  EXPECT_EQ(without_userinfo("http://proxy.corp:3128/a@b"), "http://proxy.corp:3128/a@b");
  EXPECT_EQ(without_userinfo("user@example.com"), "user@example.com");
  EXPECT_EQ(without_userinfo("http://@h:1"), "http://***@h:1");
  // Without a scheme, a userinfo with a password is still one.
  EXPECT_EQ(without_userinfo("svc:Pw-a1@proxy.corp:3128"), "***@proxy.corp:3128");
  EXPECT_EQ(without_userinfo("http:/svc:Pw@proxy.corp:3128"), "***@proxy.corp:3128");
  EXPECT_EQ(without_userinfo("omsgw@CORP.EXAMPLE"), "omsgw@CORP.EXAMPLE");
}

}  // namespace
}  // namespace omsgw::grammar
