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
constexpr std::size_t max_challenge = 4096;  ///< base64 octets read; real ones are < 1 KiB
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
  if (b64.size() < 44 || b64.size() % 4 != 0 || b64.size() > max_challenge) return false;
  std::vector<unsigned char> raw(b64.size() / 4 * 3);
  const int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 32 || std::memcmp(raw.data(), "NTLMSSP\0\x02\0\0\0", 12) != 0) return false;
  const std::uint32_t flags = raw[20] | raw[21] << 8 | raw[22] << 16 |
                              static_cast<std::uint32_t>(raw[23]) << 24;
  return (flags & extended_session_security) == 0;
}

}  // namespace omsgw::net
