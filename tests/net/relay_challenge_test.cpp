// Proxy-Authenticate fields as RFC 9110 11.6.1 writes them and as libcurl reads them:
// several challenges per field, commas inside quoted strings, several fields.
#include "net/relay_challenge.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <string>

namespace omsgw::net {
namespace {

// ntlm_fake_auth's type-2 with extended session security, and without it (NTLMv1).
const std::string v2 = "TlRMTVNTUAACAAAACQAJAK6qqqoGgggA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";
const std::string v1 = "TlRMTVNTUAACAAAACQAJAK6qqqoGggAA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";

TEST(Challenges, OneSchemeWithAToken68) {
  const auto c = parse_challenges("NTLM " + v1);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 1u);
  EXPECT_TRUE((*c)[0].is("ntlm"));
  EXPECT_EQ((*c)[0].token68, v1);
  EXPECT_TRUE((*c)[0].params.empty());
}

TEST(Challenges, SeveralOnOneLineWithQuotedCommas) {
  const auto c = parse_challenges(R"(Basic realm="a, NTLM b", Digest realm = "x\"y, z" ,)"
                                  R"( nonce=n1, qop="auth", stale=TRUE, NTLM )" +
                                  v1 + ", Negotiate");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 4u);
  EXPECT_TRUE((*c)[0].is("basic"));
  EXPECT_EQ(*(*c)[0].param("realm"), "a, NTLM b");
  EXPECT_TRUE((*c)[1].is("Digest"));
  ASSERT_EQ((*c)[1].params.size(), 4u);
  EXPECT_EQ(*(*c)[1].param("realm"), "x\"y, z");
  EXPECT_EQ(*(*c)[1].param("nonce"), "n1");
  EXPECT_EQ(*(*c)[1].param("stale"), "TRUE");
  EXPECT_EQ((*c)[1].param("opaque"), nullptr);
  EXPECT_TRUE((*c)[2].is("NTLM"));
  EXPECT_EQ((*c)[2].token68, v1);
  EXPECT_TRUE((*c)[3].is("negotiate"));
  EXPECT_TRUE((*c)[3].token68.empty());
}

TEST(Challenges, EmptyListElementsAndBareSchemes) {
  const auto c = parse_challenges(" , NTLM,,Negotiate ,  Basic realm=x ,");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 3u);
  EXPECT_TRUE((*c)[0].is("ntlm"));
  EXPECT_TRUE((*c)[1].is("negotiate"));
  EXPECT_EQ(*(*c)[2].param("realm"), "x");
  EXPECT_EQ(parse_challenges("")->size(), 0u);
}

TEST(Challenges, MalformedValuesAreRefused) {
  EXPECT_FALSE(parse_challenges(R"(Basic realm="unterminated, NTLM )" + v1));
  EXPECT_FALSE(parse_challenges("realm=x"));                             // no scheme
  EXPECT_FALSE(parse_challenges("Basic a=b=c"));                         // junk after a value
  EXPECT_EQ(parse_challenges("Basic realm=")->at(0).token68, "realm=");  // token68 *"="
  EXPECT_FALSE(parse_challenges("NTLM\v" + v1));                         // no SP after the scheme
  EXPECT_FALSE(parse_challenges("Basic a=b c"));  // neither token68 nor auth-params
  EXPECT_FALSE(parse_challenges("Basic realm=\"\x01\""));
}

TEST(Challenges, CurlLooksForASchemeAfterEveryComma) {
  const auto t = curl_challenge_texts(R"(  Basic realm="a, NTLM b",	Digest x=1)");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], R"(Basic realm="a, NTLM b",	Digest x=1)");
  EXPECT_EQ(t[1], R"(NTLM b",	Digest x=1)");
  EXPECT_EQ(t[2], "Digest x=1");
}

relay_offer offer_of(std::initializer_list<std::string> fields) {
  relay_offer o;
  for (const auto& f : fields) o.add(f);
  return o;
}

TEST(RelayOffer, NtlmV1ChallengeAfterAnotherOnTheSameLine) {
  const relay_offer o = offer_of({R"( Basic realm="x", NTLM )" + v1 + "\r\n"});
  EXPECT_TRUE(o.ntlm_v1);
  EXPECT_TRUE(o.ntlm_type2);
  EXPECT_EQ(o.schemes, CURLAUTH_BASIC | CURLAUTH_NTLM);
}

TEST(RelayOffer, NtlmV1ChallengeFirstOrLastOrOnAnotherLine) {
  EXPECT_TRUE(offer_of({"NTLM " + v1 + R"(, Basic realm="x")"}).ntlm_v1);
  EXPECT_TRUE(offer_of({R"(Digest realm="a, b", nonce="n", NTLM )" + v1}).ntlm_v1);
  EXPECT_TRUE(offer_of({R"(Basic realm="x")", "Negotiate, NTLM " + v1}).ntlm_v1);
  EXPECT_FALSE(offer_of({R"(Basic realm="x", NTLM )" + v2}).ntlm_v1);
  EXPECT_FALSE(offer_of({R"(Basic realm="x", NTLM)"}).ntlm_v1);
}

TEST(RelayOffer, WhatOnlyCurlsLooserReadingFindsCountsToo) {
  // A quoted NTLM challenge that curl decodes once the line is malformed, and one after
  // a vertical tab, which curl takes as white space and the grammar does not.
  const relay_offer quoted = offer_of({R"(Basic realm="x, NTLM )" + v1});
  EXPECT_TRUE(quoted.ntlm_v1);
  EXPECT_TRUE(quoted.schemes & CURLAUTH_NTLM);
  EXPECT_TRUE(offer_of({"NTLM\v" + v1 + "\v"}).ntlm_v1);
  // Curl_copy_header_value ends the value at a CR inside the line, or a NUL (which 7.88
  // refuses earlier, in Curl_headers_push).
  EXPECT_TRUE(offer_of({"NTLM " + v1 + std::string("\0junk", 5)}).ntlm_v1);
  EXPECT_TRUE(offer_of({"Basic realm=x, NTLM " + v1 + "\rjunk\r\n"}).ntlm_v1);
}

TEST(RelayOffer, DigestStaleAndSchemes) {
  EXPECT_TRUE(offer_of({R"(Digest realm="x", nonce="n2", stale=true)"}).digest_stale);
  EXPECT_TRUE(offer_of({R"(Digest realm="x", stale="TRUE", nonce="n2")"}).digest_stale);
  EXPECT_FALSE(offer_of({R"(Digest realm="stale=true", nonce="n2")"}).digest_stale);
  EXPECT_FALSE(offer_of({R"(Basic realm="x", Digest realm="y", nonce="n")"}).digest_stale);
  const relay_offer all = offer_of({"Negotiate", R"(Digest realm="x", nonce="n")", "NTLM"});
  EXPECT_EQ(all.schemes, CURLAUTH_NEGOTIATE | CURLAUTH_DIGEST | CURLAUTH_NTLM);
  EXPECT_FALSE(all.ntlm_type2);
  EXPECT_EQ(offer_of({"Bearer realm=x", "NTLMv2 abc", "Newauth"}).schemes, 0u);
}

}  // namespace
}  // namespace omsgw::net
