#pragma once
/// \file
/// Reading a relay's Proxy-Authenticate fields before libcurl answers them.
///
/// One field may carry several challenges (RFC 9110 11.6.1):
///   Proxy-Authenticate = #challenge
///   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
///   auth-param = token BWS "=" BWS ( token / quoted-string )
/// so a comma separates challenges, the auth-params of one challenge, and may sit inside
/// a quoted string: `Basic realm="a, b", NTLM TlRM...` offers Basic and NTLM. libcurl
/// 7.88 (Curl_http_input_auth) reads the same value more loosely: a challenge may start
/// after any comma, quoted or not, and NTLM's and Negotiate's token is the rest of the
/// value. The gateway's decisions (relay_offer) take both readings, since what curl
/// answers is what curl reads.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace omsgw::net {

/// One challenge of a Proxy-Authenticate field.
struct auth_challenge {
  std::string scheme;   ///< as sent; compare with is()
  std::string token68;  ///< e.g. NTLM's base64 message; empty with auth-params or none
  std::vector<std::pair<std::string, std::string>> params;  ///< names lower case, unquoted

  bool is(std::string_view name) const;  ///< the scheme, case-insensitively
  /// The value of auth-param name (lower case), nullptr without one.
  const std::string* param(std::string_view name) const;
};

/// The challenges of one field value, in order; nullopt when it does not follow the
/// grammar above (empty list elements are allowed, as for any #list).
std::optional<std::vector<auth_challenge>> parse_challenges(std::string_view value);

/// libcurl's reading of the same value: the texts from where it looks for a scheme
/// (the start, and after every comma and the white space that follows) to the end.
std::vector<std::string_view> curl_challenge_texts(std::string_view value);

/// What the Proxy-Authenticate fields of one relay answer offer, in either reading.
struct relay_offer {
  unsigned long schemes = 0;  ///< CURLAUTH_* bits: Negotiate, NTLM, Digest, Basic
  bool ntlm_v1 = false;       ///< an NTLM challenge libcurl would answer with NTLMv1
  bool ntlm_type2 = false;    ///< an NTLM challenge carries a message (libcurl answers it)
  bool digest_stale = false;  ///< a Digest challenge says stale=true (libcurl retries)

  /// Adds one field's value (after "Proxy-Authenticate:", line end removed or not).
  void add(std::string_view value);
};

}  // namespace omsgw::net
