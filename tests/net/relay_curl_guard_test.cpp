// The relay's answers to libcurl's CONNECT, fed line by line as curl's header callback
// gets them: where the guard stops curl (NTLMv1, rounds, broken answers, SPEC's order).
#include "net/relay_curl_guard.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omsgw::net {
namespace {

using stop = curl_answer_guard::stop;

const std::string v2 = "TlRMTVNTUAACAAAACQAJAK6qqqoGgggA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";
const std::string v1 = "TlRMTVNTUAACAAAACQAJAK6qqqoGggAA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA==";

std::vector<std::string> answer_407(std::vector<std::string> offers) {
  std::vector<std::string> lines{"HTTP/1.1 407 Proxy Authentication Required\r\n"};
  for (auto& o : offers) lines.push_back("Proxy-Authenticate: " + o + "\r\n");
  lines.push_back("Content-Length: 0\r\n");
  lines.push_back("\r\n");
  return lines;
}

/// Feeds every line of answer; false when the guard stopped the transfer in it.
bool feed(curl_answer_guard& g, const std::vector<std::string>& answer) {
  for (const auto& line : answer) {
    if (!g.feed(line)) return false;
  }
  return true;
}

TEST(CurlGuard, NtlmRelayThatChallengesEveryType3GetsOneType3) {
  curl_answer_guard g(CURLAUTH_NTLM, false);         // the type-1 goes with the first CONNECT
  EXPECT_TRUE(feed(g, answer_407({"NTLM " + v2})));  // answered by the type-3
  EXPECT_FALSE(feed(g, answer_407({"NTLM " + v2})));
  EXPECT_EQ(g.why(), stop::too_many_rounds);
  EXPECT_EQ(g.answers(), 2);
  EXPECT_STREQ(g.scheme(), "ntlm");
  EXPECT_FALSE(g.feed("\r\n"));  // stays stopped
}

TEST(CurlGuard, AutoNtlmCountsTheType1AnsweringTheBareOffer) {
  curl_answer_guard g(CURLAUTH_NTLM | CURLAUTH_DIGEST | CURLAUTH_BASIC, true);
  EXPECT_TRUE(feed(g, answer_407({"NTLM"})));
  EXPECT_TRUE(feed(g, answer_407({"NTLM " + v2})));
  EXPECT_FALSE(feed(g, answer_407({"NTLM " + v2})));
  EXPECT_EQ(g.why(), stop::too_many_rounds);
  EXPECT_EQ(g.answers(), 2);
}

TEST(CurlGuard, RefusalsCurlGivesUpOnAreLeftToCurl) {
  curl_answer_guard ntlm(CURLAUTH_NTLM, false);
  EXPECT_TRUE(feed(ntlm, answer_407({"NTLM " + v2})));
  EXPECT_TRUE(feed(ntlm, answer_407({"NTLM"})));  // wrong password: curl says refused
  EXPECT_EQ(ntlm.why(), stop::none);
  curl_answer_guard digest(CURLAUTH_DIGEST, false);
  EXPECT_TRUE(feed(digest, answer_407({R"(Digest realm="x", nonce="1")"})));
  EXPECT_TRUE(feed(digest, answer_407({R"(Digest realm="x", nonce="2")"})));
  EXPECT_EQ(digest.why(), stop::none);
  curl_answer_guard basic(CURLAUTH_BASIC, false);
  EXPECT_TRUE(feed(basic, answer_407({R"(Basic realm="x")"})));
  EXPECT_EQ(basic.why(), stop::none);
}

TEST(CurlGuard, DigestGetsOneRetryAfterStale) {
  curl_answer_guard g(CURLAUTH_DIGEST, false);
  const std::string stale = R"(Digest realm="x", nonce="n", qop="auth", stale=true)";
  EXPECT_TRUE(feed(g, answer_407({stale})));  // answer 1
  EXPECT_TRUE(feed(g, answer_407({stale})));  // answer 2, after stale
  EXPECT_FALSE(feed(g, answer_407({stale})));
  EXPECT_EQ(g.why(), stop::too_many_rounds);
  EXPECT_EQ(g.answers(), 2);
  EXPECT_STREQ(g.scheme(), "digest");
}

TEST(CurlGuard, NegotiateGetsThreeLegs) {
  curl_answer_guard g(CURLAUTH_NEGOTIATE, false);  // the first token with the CONNECT
  EXPECT_TRUE(feed(g, answer_407({"Negotiate YIIB"})));
  EXPECT_TRUE(feed(g, answer_407({"Negotiate YIIC"})));
  EXPECT_FALSE(feed(g, answer_407({"Negotiate YIID"})));
  EXPECT_EQ(g.why(), stop::too_many_rounds);
  EXPECT_EQ(g.answers(), 3);
}

TEST(CurlGuard, EveryNtlmV1ChallengeStopsBeforeAnyAnswer) {
  for (const std::vector<std::string>& offers :
       {std::vector<std::string>{R"(Basic realm="x", NTLM )" + v1},
        std::vector<std::string>{R"(Basic realm="a, b")", "Negotiate, NTLM " + v1},
        std::vector<std::string>{"NTLM " + v1}}) {
    curl_answer_guard g(CURLAUTH_NTLM | CURLAUTH_BASIC, true);
    EXPECT_TRUE(feed(g, answer_407({"NTLM"})));
    EXPECT_FALSE(feed(g, answer_407(offers))) << offers[0];
    EXPECT_EQ(g.why(), stop::ntlm_v1) << offers[0];
  }
  curl_answer_guard digest_only(CURLAUTH_DIGEST, false);  // curl would not answer NTLM
  EXPECT_TRUE(feed(digest_only, answer_407({R"(Digest realm="x", nonce="1", NTLM )" + v1})));
}

TEST(CurlGuard, A407InTheMiddleOfAnotherAnswerIsCountedAsCurlDoes) {
  curl_answer_guard g(CURLAUTH_NTLM, false);
  const std::vector<std::string> sneaky{"HTTP/1.1 200 OK\r\n", "HTTP/1.1 407 again\r\n",
                                        "Proxy-Authenticate: NTLM " + v2 + "\r\n", "\r\n"};
  EXPECT_TRUE(feed(g, sneaky));
  EXPECT_FALSE(feed(g, sneaky));
  EXPECT_EQ(g.why(), stop::too_many_rounds);
}

TEST(CurlGuard, BrokenAnswersAreWordedAsOnOurOwnConnect) {
  curl_answer_guard garbage(CURLAUTH_DIGEST, false);
  static constexpr char tls_ish[] = "\x16\x03\x01\x00\x05hello garbage\r\n";
  EXPECT_FALSE(garbage.feed(std::string_view(tls_ish, sizeof tls_ish - 1)));
  EXPECT_EQ(garbage.why(), stop::bad_answer);
  EXPECT_EQ(garbage.problem(), "not an HTTP answer");

  curl_answer_guard huge(CURLAUTH_DIGEST, false);
  EXPECT_TRUE(huge.feed("HTTP/1.1 200 Connection established\r\n"));
  bool going = true;
  for (int i = 0; i < 1000 && going; ++i)
    going = huge.feed("X-Junk: " + std::string(40, 'a') + "\r\n");
  EXPECT_FALSE(going);
  EXPECT_EQ(huge.problem(), "answer header too large");

  curl_answer_guard interim(CURLAUTH_DIGEST, false);
  EXPECT_TRUE(interim.feed("HTTP/1.1 100 Continue\r\n"));
  EXPECT_FALSE(interim.feed("\r\n"));
  EXPECT_EQ(interim.problem(), "interim answer 100, which libcurl does not skip on CONNECT");

  curl_answer_guard ok(CURLAUTH_DIGEST, false);
  EXPECT_TRUE(feed(ok, {"HTTP/1.0 200 Connection established\r\n", "Via: x\r\n", "\r\n"}));
  EXPECT_TRUE(feed(ok, {"HTTP/1.1 403 Forbidden\r\n", "\r\n"}));  // curl words refusals
}

TEST(CurlGuard, AutoNarrowsToSpecsOrderOnceAndCountsOnAfterwards) {
  curl_answer_guard g(CURLAUTH_NTLM | CURLAUTH_DIGEST | CURLAUTH_BASIC, true);
  EXPECT_FALSE(feed(g, answer_407({R"(Digest realm="x", nonce="1")", "NTLM"})));
  EXPECT_EQ(g.why(), stop::narrow);
  EXPECT_EQ(g.narrowed(), static_cast<unsigned long>(CURLAUTH_NTLM));
  g.restart(CURLAUTH_NTLM);
  EXPECT_TRUE(feed(g, answer_407({R"(Digest realm="x", nonce="1")", "NTLM " + v2})));
  EXPECT_TRUE(feed(g, {"HTTP/1.1 200 Connection established\r\n", "\r\n"}));
  EXPECT_EQ(g.why(), stop::none);

  curl_answer_guard same(CURLAUTH_NTLM | CURLAUTH_DIGEST, true);  // curl's pick is SPEC's
  EXPECT_TRUE(feed(same, answer_407({"NTLM", R"(Basic realm="x")"})));
}

}  // namespace
}  // namespace omsgw::net
