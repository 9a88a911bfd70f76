#pragma once
/// \file
/// SPEC: "NTLM is NTLMv2 only". libcurl answers an NTLM type-2 challenge with NTLMv2
/// (LMv2 + NTv2) only when the challenge carries NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
/// (0x00080000); without it, it sends NTLMv1 (LM + NT responses, DES of the password
/// hash). The gateway reads the relay's challenge before curl answers it and refuses.

#include <string_view>

namespace omsgw::net {

/// True when value (a Proxy-Authenticate header value, e.g. "NTLM TlRMTVNT...") is an
/// NTLM type-2 challenge that libcurl would answer with NTLMv1. False for anything
/// else: other schemes, a bare "NTLM" offer, or a value that is not a type-2 message
/// (curl refuses those itself).
bool ntlm_challenge_wants_v1(std::string_view value);

}  // namespace omsgw::net
