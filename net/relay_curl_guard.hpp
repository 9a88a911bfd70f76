#pragma once
/// \file
/// Watches a relay's answers to libcurl's CONNECT, line by line as curl's header
/// callback sees them, and says when to stop the transfer before curl acts on one:
/// - an NTLM challenge curl would answer with NTLMv1, in any challenge of any
///   Proxy-Authenticate field (SPEC: "NTLM is NTLMv2 only");
/// - a relay that keeps challenging: each answer may be a logon attempt at a domain
///   controller, so a relay attempt sends at most what the scheme needs (NTLM: a type-1
///   and a type-3; Digest: one answer and one more after stale=true; Negotiate: three
///   legs; Basic: one) and then fails as an authentication failure;
/// - an answer that is not HTTP, an interim (1xx) answer, which libcurl 7.88 takes as
///   final, and a header above relay_header_limit (the bound of our own CONNECT);
/// - with auth auto, a 407 whose offers curl would answer in its own order rather than
///   SPEC's (Negotiate, NTLM, Digest, Basic): the caller retries with one scheme.
/// Where curl itself gives up (a second Basic, a Digest refused without stale=true, an
/// NTLM refused after the type-3), it is left to: its failure names the scheme refused.
///
/// curl's picture of the exchange is followed where it matters: a status line is any
/// line curl's sscanf("HTTP/1.%d %d") accepts, an answer ends at a line starting with
/// CR or LF. No secret passes here: only what the relay sends.

#include <cstddef>
#include <string>
#include <string_view>

#include "net/relay_challenge.hpp"

namespace omsgw::net {

class curl_answer_guard {
 public:
  enum class stop { none, ntlm_v1, too_many_rounds, bad_answer, narrow };

  /// mask: the CURLAUTH_* schemes curl may answer (CURLOPT_PROXYAUTH); may_narrow: auth
  /// is auto and a retry on a new connection is possible.
  explicit curl_answer_guard(unsigned long mask = 0, bool may_narrow = false);

  /// One line of the relay's answers, line end included. False: stop the transfer now
  /// (the header callback returns 0, curl ends with CURLE_WRITE_ERROR); why() says why.
  bool feed(std::string_view line);

  /// The narrowed retry: a new transfer answering mask alone, never narrowed again. The
  /// answers already sent still count against the bound.
  void restart(unsigned long mask);

  stop why() const { return stop_; }
  unsigned long narrowed() const { return narrowed_; }     ///< for stop::narrow
  int answers() const { return answers_; }                 ///< for stop::too_many_rounds
  const char* scheme() const;                              ///< the one curl answered with
  const std::string& problem() const { return problem_; }  ///< for stop::bad_answer

 private:
  bool end_of_answer();
  bool halt(stop why, std::string problem = {});

  unsigned long mask_;
  bool may_narrow_;
  unsigned long narrowed_ = 0;
  unsigned long answering_ = 0;  ///< the scheme curl answers the last 407 with
  int answers_ = 0;              ///< answers curl sent in this attempt (as curl behaves)
  bool answered_ = false;        ///< curl went on after a 407: the next answer proves it
  bool want_status_ = true;      ///< the next line starts an answer
  long status_ = 0;
  std::size_t header_bytes_ = 0;  ///< of the answer being read
  relay_offer offer_;             ///< its Proxy-Authenticate fields
  stop stop_ = stop::none;
  std::string problem_;
};

}  // namespace omsgw::net
