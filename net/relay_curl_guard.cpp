/// \file
/// See relay_curl_guard.hpp. The numbers of answers follow libcurl 7.88: with one
/// scheme wanted it starts NTLM, Negotiate and Basic in its first CONNECT (picked =
/// want); with several it waits for the 407. After a 407 it answers again only when the
/// relay gives it something new to answer: an NTLM type-2, a Digest stale=true, a
/// Negotiate token; a second Basic, a Digest without stale and a bare NTLM after the
/// type-3 make it give up.

#include "net/relay_curl_guard.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "net/grammar/text.hpp"
#include "net/relay_handshake.hpp"

namespace omsgw::net {

namespace {

/// The scheme curl answers with among those offered and wanted (its pickoneauth).
unsigned long curl_pick(unsigned long both) {
  for (unsigned long s : {CURLAUTH_NEGOTIATE, CURLAUTH_DIGEST, CURLAUTH_NTLM, CURLAUTH_BASIC}) {
    if (both & s) return s;
  }
  return 0;
}

/// SPEC's answer for auto: the strongest scheme offered. It differs from curl's only
/// when Digest and NTLM are both offered.
unsigned long spec_pick(unsigned long both) {
  for (unsigned long s : {CURLAUTH_NEGOTIATE, CURLAUTH_NTLM, CURLAUTH_DIGEST, CURLAUTH_BASIC}) {
    if (both & s) return s;
  }
  return 0;
}

/// Answers curl sends with its first CONNECT, before any challenge.
int preemptive_answers(unsigned long mask) {
  return mask == CURLAUTH_NTLM || mask == CURLAUTH_NEGOTIATE || mask == CURLAUTH_BASIC ? 1 : 0;
}

/// The most answers a relay attempt sends with scheme: what a working relay needs.
int max_answers(unsigned long scheme) {
  if (scheme == CURLAUTH_NTLM) return 2;       // type-1, type-3
  if (scheme == CURLAUTH_DIGEST) return 2;     // one, and one after stale=true
  if (scheme == CURLAUTH_NEGOTIATE) return 3;  // Kerberos needs one; SPNEGO legs a few
  return 1;                                    // Basic
}

/// True when curl answers a 407 offering o with scheme once more rather than giving up.
bool answers_again(unsigned long scheme, const relay_offer& o) {
  if (scheme == CURLAUTH_NTLM) return o.ntlm_type2;
  if (scheme == CURLAUTH_DIGEST) return o.digest_stale;
  return scheme == CURLAUTH_NEGOTIATE;
}

/// The status code of a line curl takes as a status line, anywhere in an answer (its
/// on_resp_header: sscanf(line, "HTTP/1.%d %d")).
std::optional<long> status_code(std::string_view line) {
  const std::string text(line);  // curl's line is NUL-terminated: so is this one
  int minor = 0;
  int code = 0;
  if (std::sscanf(text.c_str(), "HTTP/1.%d %d", &minor, &code) != 2) return std::nullopt;
  return code;
}

}  // namespace

curl_answer_guard::curl_answer_guard(unsigned long mask, bool may_narrow)
    : mask_(mask), may_narrow_(may_narrow), answers_(preemptive_answers(mask)) {}

void curl_answer_guard::restart(unsigned long mask) {
  mask_ = mask;
  may_narrow_ = false;
  answers_ += preemptive_answers(mask);
  answered_ = false;
  want_status_ = true;
  status_ = 0;
  stop_ = stop::none;
  problem_.clear();
}

const char* curl_answer_guard::scheme() const {
  switch (answering_) {
    case CURLAUTH_NEGOTIATE:
      return "negotiate";
    case CURLAUTH_NTLM:
      return "ntlm";
    case CURLAUTH_DIGEST:
      return "digest";
    case CURLAUTH_BASIC:
      return "basic";
    default:
      return "none";
  }
}

bool curl_answer_guard::feed(std::string_view line) {
  if (stop_ != stop::none) return false;
  const std::optional<long> code = status_code(line);
  if (want_status_) {
    want_status_ = false;
    header_bytes_ = 0;
    offer_ = {};
    if (answered_) ++answers_;  // curl sent a new CONNECT: it answered the last 407
    answered_ = false;
    if (!code || *code < 100 || *code > 999) return halt(stop::bad_answer, "not an HTTP answer");
  }
  if (code) status_ = *code;
  header_bytes_ += line.size();
  if (header_bytes_ > relay_header_limit) return halt(stop::bad_answer, "answer header too large");
  if (!line.empty() && (line.front() == '\r' || line.front() == '\n')) {
    want_status_ = true;
    return end_of_answer();
  }
  static constexpr std::string_view field = "proxy-authenticate:";
  if (grammar::istarts_with(line, field)) {
    offer_.add(line.substr(field.size()));
    // Whatever the status: a relay offering NTLMv1 is refused before any answer.
    if (offer_.ntlm_v1 && (mask_ & CURLAUTH_NTLM)) return halt(stop::ntlm_v1);
  }
  return true;
}

bool curl_answer_guard::end_of_answer() {
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    return halt(stop::bad_answer, "interim answer " + std::to_string(status_) +
                                      ", which libcurl does not skip on CONNECT");
  }
  if (status_ != 407) return true;
  const unsigned long both = offer_.schemes & mask_;
  if (may_narrow_ && curl_pick(both) != spec_pick(both)) {
    narrowed_ = spec_pick(both);
    return halt(stop::narrow);
  }
  answering_ = curl_pick(both);
  if (answering_ == 0) return true;  // curl has nothing to answer: it fails by itself
  const int most = max_answers(answering_);
  if (answers_ > most || (answers_ == most && answers_again(answering_, offer_))) {
    return halt(stop::too_many_rounds);
  }
  answered_ = true;
  return true;
}

bool curl_answer_guard::halt(stop why, std::string problem) {
  stop_ = why;
  problem_ = std::move(problem);
  return false;
}

}  // namespace omsgw::net
