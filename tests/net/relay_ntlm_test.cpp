// SPEC "NTLM is NTLMv2 only": which relay challenges libcurl would answer with NTLMv1.
#include "net/relay_ntlm.hpp"

#include <gtest/gtest.h>

#include <string>

namespace omsgw::net {
namespace {

// The type-2 challenge Squid's ntlm_fake_auth sends (flags 0x00088206: extended
// session security set), captured from a real exchange.
const std::string fake_auth_v2 =
    "NTLM TlRMTVNTUAACAAAACQAJAK6qqqoGgggA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";
// The same challenge with flags 0x00008206: no extended session security.
const std::string fake_auth_v1 =
    "NTLM TlRMTVNTUAACAAAACQAJAK6qqqoGggAA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";

TEST(NtlmChallenge, ExtendedSessionSecurityMeansNtlmV2) {
  EXPECT_FALSE(ntlm_challenge_wants_v1(fake_auth_v2));
  EXPECT_FALSE(ntlm_challenge_wants_v1(fake_auth_v2 + "\r\n"));
}

TEST(NtlmChallenge, WithoutExtendedSessionSecurityCurlWouldSendNtlmV1) {
  EXPECT_TRUE(ntlm_challenge_wants_v1(fake_auth_v1));
  EXPECT_TRUE(ntlm_challenge_wants_v1(" ntlm  " + fake_auth_v1.substr(5) + "\r\n"));
}

TEST(NtlmChallenge, ALongChallengeIsJudgedByItsFlags) {
  // libcurl accepts a type-2 of any length: padding (a long target info) must not hide
  // the missing extended session security.
  const std::string padding(8000, 'A');
  EXPECT_TRUE(ntlm_challenge_wants_v1(fake_auth_v1.substr(0, 69) + padding));
  EXPECT_FALSE(ntlm_challenge_wants_v1(fake_auth_v2.substr(0, 69) + padding));
}

TEST(NtlmChallenge, OffersOtherSchemesAndBrokenValuesAreNotJudged) {
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLM"));
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLM\r\n"));
  EXPECT_FALSE(ntlm_challenge_wants_v1("Negotiate " + fake_auth_v1.substr(5)));
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLMX " + fake_auth_v1.substr(5)));
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLM TlRMTVNTUAA="));  // too short
  // A type-1 (negotiate) message is not a challenge.
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLM TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA="));
  EXPECT_FALSE(ntlm_challenge_wants_v1("NTLM " + std::string(44, '!')));
}

}  // namespace
}  // namespace omsgw::net
