#pragma once
/// \file
/// Internal to the TLS inspector (tls_inspector.cpp: records; tls_hello.cpp: hello and
/// certificate messages): wire constants and a bounds-checked reader.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace omsgw::net::tls::wire {

constexpr std::size_t record_header_size = 5;
constexpr std::size_t max_record_size = (1u << 14) + 2048;  // RFC 5246 6.2.3

enum content_type : std::uint8_t {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
  heartbeat = 24,  // RFC 6520
};

enum handshake_type : std::uint8_t {
  client_hello = 1,
  server_hello = 2,
  certificate = 11,
  server_hello_done = 14,
};

enum extension_type : std::uint16_t {
  ext_server_name = 0,          // RFC 6066 3
  ext_early_data = 42,          // RFC 8446 4.2.10
  ext_supported_versions = 43,  // RFC 8446 4.2.1
};

constexpr std::uint16_t ssl3 = 0x0300;
constexpr std::uint16_t tls13 = 0x0304;

// SHA-256("HelloRetryRequest"), RFC 8446 4.1.3.
constexpr std::array<std::uint8_t, 32> hello_retry_random = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

/// Bounds-checked cursor over a handshake message (TLS presentation language vectors).
class reader {
 public:
  reader() = default;
  reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool empty() const { return n_ == 0; }
  std::size_t size() const { return n_; }
  const std::uint8_t* data() const { return p_; }

  bool u8(std::uint8_t& v) { return uint(1, v); }
  bool u16(std::uint16_t& v) { return uint(2, v); }
  bool skip(std::size_t n) {
    if (n > n_) return false;
    p_ += n;
    n_ -= n;
    return true;
  }
  bool take(std::size_t n, reader& out) {
    if (n > n_) return false;
    out = reader(p_, n);
    return skip(n);
  }
  /// A vector with a `width`-byte length prefix.
  bool vec(std::size_t width, reader& out) {
    std::uint32_t len = 0;
    return uint(width, len) && take(len, out);
  }

 private:
  template <typename T>
  bool uint(std::size_t width, T& v) {
    if (width > n_) return false;
    std::uint32_t x = 0;
    for (std::size_t i = 0; i < width; ++i) x = (x << 8) | p_[i];
    v = static_cast<T>(x);
    return skip(width);
  }
  const std::uint8_t* p_ = nullptr;
  std::size_t n_ = 0;
};

inline std::string version_name(std::uint16_t v) {
  static constexpr const char* names[] = {"SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"};
  if (v >= 0x0300 && v <= 0x0304) return names[v - 0x0300];
  if (v >> 8 == 0x02) return "SSL 2.0";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(v));
  return buf;
}

/// GREASE values 0x?a?a with equal bytes (RFC 8701 2).
inline bool is_grease(std::uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Host name as compared: lower-case, without one trailing dot.
inline std::string normalise_host(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  std::string out(h);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

}  // namespace omsgw::net::tls::wire
