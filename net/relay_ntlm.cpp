/// \file
/// See relay_ntlm.hpp. Only the type-2 header's flags are read: signature (8 octets),
/// message type 2 (4), target name buffer (8), flags (4, little-endian).

#include "net/relay_ntlm.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace omsgw::net {

namespace {
constexpr std::uint32_t extended_session_security = 0x00080000;
/// Base64 octets decoded: the 24 octets up to the flags and a little more. Only this
/// prefix is read, however long the message: libcurl sets no bound on a type-2, so a
/// relay could otherwise pad its challenge past what is judged.
constexpr std::size_t judged_prefix = 44;
}  // namespace

bool ntlm_challenge_wants_v1(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  if (value.size() < 5) return false;
  for (std::size_t i = 0; i < 4; ++i) {
    if (std::toupper(static_cast<unsigned char>(value[i])) != "NTLM"[i]) return false;
  }
  if (value[4] != ' ' && value[4] != '\t') return false;
  value.remove_prefix(5);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  const std::string_view b64 = value.substr(0, value.find_first_of(" \t\r\n"));
  if (b64.size() < judged_prefix || b64.size() % 4 != 0) return false;  // curl refuses those
  std::vector<unsigned char> raw(judged_prefix / 4 * 3);
  const int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(judged_prefix));
  if (n < 32 || std::memcmp(raw.data(), "NTLMSSP\0\x02\0\0\0", 12) != 0) return false;
  const std::uint32_t flags =
      raw[20] | raw[21] << 8 | raw[22] << 16 | static_cast<std::uint32_t>(raw[23]) << 24;
  return (flags & extended_session_security) == 0;
}

}  // namespace omsgw::net
