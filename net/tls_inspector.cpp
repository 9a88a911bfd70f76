/// \file
/// TLS handshake inspection (see tls_inspector.hpp). Reads plaintext handshake records
/// only; nothing is decrypted and nothing is sent.
///
/// Record layer (RFC 5246 6.2, RFC 8446 5.1), per direction, across any segmentation:
///  - records are reassembled from arbitrary chunks and handshake messages from records;
///  - a record longer than 2^14 + 2048 (the TLSCiphertext limit, RFC 5246 6.2.3) or a
///    zero-length handshake/alert/ChangeCipherSpec record (RFC 5246 6.2.1, RFC 8446 5.1)
///    is a parse error, as is a non-handshake record inside a fragmented handshake
///    message (RFC 8446 5.1), application data or heartbeat (RFC 6520) before the
///    verdict, and any unknown content type;
///  - at most policy.max_handshake_bytes of handshake records are taken per direction;
///    the record or message that would pass the bound is refused (too_large) before it
///    is buffered. Other records keep at most two body bytes.
///  - the only application data tolerated is TLS 1.3 early data (RFC 8446 4.2.10) sent
///    after a ClientHello that offered it: it is skipped, not buffered.
/// First client bytes: an SSL 2.0-format ClientHello (RFC 5246 E.2: high bit of byte 0,
/// message type 1 in byte 2) is ssl_version; any other first byte than 22 (handshake),
/// a record major version other than 3, or a first message other than ClientHello is
/// not_tls.
/// ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2): every length must be consistent and
/// the message fully consumed (else parse_error); duplicate extensions (RFC 8446 4.2)
/// and two host_name entries (RFC 6066 3) are parse errors, since they would let the
/// server and the gateway read different names. Offered version = highest non-GREASE
/// (RFC 8701) 0x03xx value of supported_versions (RFC 8446 4.2.1), else legacy_version.
/// <= SSL 3.0 -> ssl_version; < min_version -> version_too_low. SNI (RFC 6066 3) is
/// lower-cased, a trailing dot stripped, and compared with the CONNECT host.
/// ServerHello (RFC 8446 4.1.3): chosen = supported_versions if present, else
/// legacy_version. A HelloRetryRequest (the special random) waits for the second
/// ClientHello, which is checked like the first; dummy ChangeCipherSpec records from
/// either side are allowed once around it (RFC 8446 D.4). TLS 1.3 encrypts the rest, so
/// the verdict is made at the ServerHello (client certificate unverifiable when
/// allowed_subjects is set). TLS 1.0-1.2 with allowed_subjects waits for the client's
/// Certificate (RFC 5246 7.4.6): the leaf's subject must be allowed; a ChangeCipherSpec
/// from the client before any Certificate (also a resumed session, which shows none)
/// is rejected as "no client certificate". A leaf that is not DER X.509 is rejected as
/// client_cert too: it is a bad certificate, not a bad record.
/// Alerts (RFC 5246 7.2, RFC 8446 6): a fatal alert or close_notify before a verdict
/// ends inspection WITHOUT a verdict (need_more, ended() true, detail names the alert):
/// the handshake failed on its own and the tunnel will close; it is not a parse error.
/// Warning alerts other than close_notify are ignored (e.g. unrecognized_name, RFC 6066).
/// Certificate subjects are printed and matched by config/subject.cpp (rules there).

#include "net/tls_inspector.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

namespace omsgw::net::tls {
namespace {

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

std::string version_name(std::uint16_t v) {
  static constexpr const char* names[] = {"SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"};
  if (v >= 0x0300 && v <= 0x0304) return names[v - 0x0300];
  if (v >> 8 == 0x02) return "SSL 2.0";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(v));
  return buf;
}

/// Alert description names (RFC 8446 6, RFC 5246 7.2).
std::string alert_name(std::uint8_t d) {
  // clang-format off
  static constexpr std::pair<std::uint8_t, const char*> names[] = {
      {0, "close_notify"}, {10, "unexpected_message"}, {20, "bad_record_mac"},
      {22, "record_overflow"}, {40, "handshake_failure"}, {42, "bad_certificate"},
      {43, "unsupported_certificate"}, {45, "certificate_expired"}, {46, "certificate_unknown"},
      {47, "illegal_parameter"}, {48, "unknown_ca"}, {49, "access_denied"},
      {50, "decode_error"}, {51, "decrypt_error"}, {70, "protocol_version"},
      {71, "insufficient_security"}, {80, "internal_error"}, {86, "inappropriate_fallback"},
      {90, "user_canceled"}, {109, "missing_extension"}, {112, "unrecognized_name"},
      {116, "certificate_required"}, {120, "no_application_protocol"},
  };
  // clang-format on
  for (const auto& [code, name] : names) {
    if (code == d) return std::string(name) + " (" + std::to_string(d) + ")";
  }
  return "alert " + std::to_string(d);
}

/// GREASE values 0x?a?a with equal bytes (RFC 8701 2).
bool is_grease(std::uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Host name as compared: lower-case, without one trailing dot.
std::string normalise_host(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  std::string out(h);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

}  // namespace

const char* to_string(verdict v) {
  static constexpr const char* names[] = {"need_more", "verified", "reject", "parse_error"};
  return names[static_cast<int>(v)];
}

const char* to_string(reject_reason r) {
  static constexpr const char* names[] = {
      "none",         "not_tls",     "ssl_version",       "version_too_low",
      "sni_mismatch", "client_cert", "cert_unverifiable", "too_large",
  };
  return names[static_cast<int>(r)];
}

// ---- handshake_inspector --------------------------------------------------------------

handshake_inspector::handshake_inspector(inspection_policy policy) : policy_(std::move(policy)) {
  policy_.connect_host = normalise_host(policy_.connect_host);
  client_.from_client = true;
}

const inspection_result& handshake_inspector::feed_client(const std::uint8_t* data,
                                                          std::size_t size) {
  return feed(client_, data, size);
}

const inspection_result& handshake_inspector::feed_server(const std::uint8_t* data,
                                                          std::size_t size) {
  return feed(server_, data, size);
}

const inspection_result& handshake_inspector::feed(direction_state& d, const std::uint8_t* data,
                                                   std::size_t size) {
  while (size > 0 && !ended()) {
    if (d.header_len < record_header_size) {
      const std::size_t n = std::min(record_header_size - d.header_len, size);
      std::memcpy(d.header + d.header_len, data, n);
      d.header_len += n;
      data += n;
      size -= n;
      if (d.from_client && d.records == 0 && !check_first_client_bytes()) break;
      if (d.header_len < record_header_size || !on_record_header(d)) break;
      if (d.body_left > 0) continue;
    } else {
      const std::size_t n = std::min(d.body_left, size);
      if (d.reassemble) {
        d.handshake_buf.insert(d.handshake_buf.end(), data, data + n);
      } else if (d.record_buf.size() < d.keep) {
        const std::size_t k = std::min(d.keep - d.record_buf.size(), n);
        d.record_buf.insert(d.record_buf.end(), data, data + k);
      }
      data += n;
      size -= n;
      d.body_left -= n;
      if (d.body_left > 0) break;
    }
    on_record(d);
    d.header_len = 0;
    d.record_buf.clear();
    ++d.records;
  }
  if (ended()) release();
  return result_;
}

bool handshake_inspector::check_first_client_bytes() {
  const std::uint8_t* h = client_.header;
  const std::size_t n = client_.header_len;
  if (h[0] & 0x80) {  // SSL 2.0 record header: 2-byte length, then the message type
    if (n < 3) return true;
    if (h[2] == client_hello) {
      finish(verdict::reject, reject_reason::ssl_version, "SSL 2.0-format ClientHello");
    } else {
      finish(verdict::reject, reject_reason::not_tls, "first bytes are not a TLS record");
    }
    return false;
  }
  if (h[0] != handshake) {
    finish(verdict::reject, reject_reason::not_tls,
           "first record has content type " + std::to_string(h[0]) + ", not handshake (22)");
    return false;
  }
  if (n >= 2 && h[1] != 3) {
    finish(verdict::reject, reject_reason::not_tls,
           "first record has major version " + std::to_string(h[1]) + ", not 3");
    return false;
  }
  return true;
}

bool handshake_inspector::on_record_header(direction_state& d) {
  const std::uint8_t type = d.header[0];
  const std::size_t len = (std::size_t{d.header[3]} << 8) | d.header[4];
  const char* who = d.from_client ? "client" : "server";
  d.type = type;
  d.body_left = len;
  d.keep = 0;
  d.reassemble = false;
  if (d.header[1] != 3) {
    fail(std::string("record from ") + who + " has major version " + std::to_string(d.header[1]));
    return false;
  }
  if (len > max_record_size) {
    fail(std::string("record from ") + who + " of " + std::to_string(len) +
         " bytes exceeds 2^14+2048");
    return false;
  }
  if (d.protected_records) {  // encrypted from here on: frame only, keep nothing
    if (type == handshake || type == change_cipher_spec || type == alert ||
        type == application_data) {
      return true;
    }
    fail(std::string("record from ") + who + " has unknown content type " + std::to_string(type));
    return false;
  }
  if (len == 0 && type != application_data) {
    fail(std::string("zero-length record from ") + who + " (RFC 8446 5.1)");
    return false;
  }
  if (type != handshake && !d.handshake_buf.empty()) {
    fail(std::string("record type ") + std::to_string(type) + " from " + who +
         " inside a fragmented handshake message (RFC 8446 5.1)");
    return false;
  }
  switch (type) {
    case handshake:
      if (len > policy_.max_handshake_bytes - std::min(d.total, policy_.max_handshake_bytes)) {
        finish(verdict::reject, reject_reason::too_large,
               std::string("handshake from ") + who + " exceeds " +
                   std::to_string(policy_.max_handshake_bytes) + " bytes");
        return false;
      }
      d.total += len;
      d.reassemble = true;
      return true;
    case change_cipher_spec:
      if (len != 1) break;  // RFC 5246 7.1: a single byte of value 1
      d.keep = 1;
      return true;
    case alert:
      if (len < 2) break;  // RFC 5246 7.2: level and description
      d.keep = 2;
      return true;
    case application_data:
      // Only TLS 1.3 early data may precede the ServerHello (RFC 8446 4.2.10); it is
      // encrypted, so skip it.
      if (d.from_client && stage_ == stage::server_hello && early_data_offered_) return true;
      fail(std::string("application data from ") + who + " before the handshake completed");
      return false;
    case heartbeat:
      fail(std::string("heartbeat from ") + who + " before the handshake completed (RFC 6520)");
      return false;
    default:
      fail(std::string("record from ") + who + " has unknown content type " + std::to_string(type));
      return false;
  }
  fail(std::string("record type ") + std::to_string(type) + " from " + who + " has length " +
       std::to_string(len));
  return false;
}

void handshake_inspector::on_record(direction_state& d) {
  if (d.protected_records) {
    // An encrypted alert still shows its content type (RFC 5246 6.2): the end.
    if (d.type == alert) {
      alerted_ = true;
      result_.detail = std::string("encrypted alert from ") +
                       (d.from_client ? "client" : "server") + " before a verdict";
    }
    return;
  }
  switch (d.type) {
    case handshake:
      on_handshake_bytes(d);
      break;
    case change_cipher_spec:
      on_change_cipher_spec(d);
      break;
    case alert:
      on_alert(d);
      break;
    default:
      break;  // skipped early data
  }
}

void handshake_inspector::on_handshake_bytes(direction_state& d) {
  std::vector<std::uint8_t>& buf = d.handshake_buf;
  std::size_t off = 0;
  while (!ended() && buf.size() - off >= 4) {
    const std::uint8_t* h = buf.data() + off;
    const std::size_t len = (std::size_t{h[1]} << 16) | (std::size_t{h[2]} << 8) | h[3];
    if (len > policy_.max_handshake_bytes) {  // could never be buffered whole
      finish(verdict::reject, reject_reason::too_large,
             std::string("handshake message from ") + (d.from_client ? "client" : "server") +
                 " declares " + std::to_string(len) + " bytes");
      return;
    }
    if (buf.size() - off < 4 + len) break;
    off += 4 + len;
    on_handshake_message(d, h[0], h + 4, len);
  }
  if (!ended()) buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
}

void handshake_inspector::on_handshake_message(direction_state& d, std::uint8_t type,
                                               const std::uint8_t* body, std::size_t size) {
  const auto unexpected = [&] {
    return "unexpected handshake message " + std::to_string(type) + " from " +
           (d.from_client ? "client" : "server");
  };
  if (d.from_client) {
    switch (stage_) {
      case stage::client_hello:
        if (type == client_hello) return on_client_hello(body, size);
        return finish(
            verdict::reject, reject_reason::not_tls,
            "first handshake message is type " + std::to_string(type) + ", not ClientHello");
      case stage::retry_client_hello:
        if (type == client_hello) return on_client_hello(body, size);
        return fail(unexpected());
      case stage::client_certificate:
        // RFC 5246 7.4.6: the client's Certificate opens its second flight; other
        // messages before its ChangeCipherSpec are not looked at.
        if (type == certificate) return on_client_certificate(body, size);
        return;
      case stage::server_hello:
      case stage::retry_server_hello:
        return fail(unexpected());
    }
    return;
  }
  switch (stage_) {
    case stage::server_hello:
    case stage::retry_server_hello:
      if (type == server_hello) return on_server_hello(body, size);
      return fail(unexpected() + ", expected ServerHello");
    case stage::client_certificate:
      // Plaintext server flight of TLS <= 1.2 (Certificate, ServerKeyExchange,
      // CertificateRequest, ServerHelloDone): nothing in it decides anything.
      if (type == server_hello_done) server_hello_done_ = true;
      return;
    case stage::client_hello:
    case stage::retry_client_hello:
      return fail(unexpected());
  }
}

void handshake_inspector::on_change_cipher_spec(direction_state& d) {
  if (d.record_buf.empty() || d.record_buf[0] != 1) return fail("malformed ChangeCipherSpec");
  const bool around_retry = stage_ == stage::retry_client_hello ||
                            stage_ == stage::retry_server_hello ||
                            (d.from_client && stage_ == stage::server_hello);
  if (stage_ == stage::client_certificate) {
    if (d.from_client) {
      return finish(
          verdict::reject, reject_reason::client_cert,
          server_hello_done_ ? "no client certificate" : "no client certificate (resumed session)");
    }
    d.protected_records = true;  // RFC 5246 7.1: the server's Finished is encrypted
    return;
  }
  if (around_retry && !d.dummy_ccs_seen) {  // RFC 8446 D.4 middlebox compatibility
    d.dummy_ccs_seen = true;
    return;
  }
  fail(std::string("unexpected ChangeCipherSpec from ") + (d.from_client ? "client" : "server"));
}

void handshake_inspector::on_alert(direction_state& d) {
  const std::uint8_t level = d.record_buf[0];
  const std::uint8_t description = d.record_buf[1];
  if (level == 1 && description != 0) return;  // warning (RFC 5246 7.2), not close_notify
  alerted_ = true;
  result_.detail = std::string(level == 1 ? "warning" : "fatal") + " alert " +
                   alert_name(description) + " from " + (d.from_client ? "client" : "server") +
                   " before a verdict";
}

void handshake_inspector::on_client_hello(const std::uint8_t* body, std::size_t size) {
  reader r(body, size);
  std::uint16_t legacy_version = 0;
  reader session_id, cipher_suites, compression, extensions;
  if (!r.u16(legacy_version) || !r.skip(32) || !r.vec(1, session_id) || session_id.size() > 32 ||
      !r.vec(2, cipher_suites) || cipher_suites.size() < 2 || cipher_suites.size() % 2 != 0 ||
      !r.vec(1, compression) || compression.empty()) {
    return fail("malformed ClientHello");
  }
  // Extensions may be absent before TLS 1.3 (RFC 5246 7.4.1.2).
  if (!r.empty() && (!r.vec(2, extensions) || !r.empty())) {
    return fail("ClientHello extensions do not match the message length");
  }

  std::vector<std::uint16_t> seen;
  bool has_versions = false, has_sni = false;
  std::uint16_t offered = legacy_version;
  std::string sni;
  early_data_offered_ = false;
  while (!extensions.empty()) {
    std::uint16_t type = 0;
    reader ext;
    if (!extensions.u16(type) || !extensions.vec(2, ext))
      return fail("truncated ClientHello extension");
    if (std::find(seen.begin(), seen.end(), type) != seen.end()) {
      return fail("duplicate ClientHello extension " + std::to_string(type) + " (RFC 8446 4.2)");
    }
    seen.push_back(type);
    if (type == ext_server_name) {
      reader list;
      if (!ext.vec(2, list) || !ext.empty() || list.empty()) return fail("malformed server_name");
      while (!list.empty()) {
        std::uint8_t name_type = 0;
        reader name;
        if (!list.u8(name_type) || !list.vec(2, name)) return fail("malformed server_name");
        if (name_type != 0) continue;  // only host_name is defined
        if (has_sni) return fail("two host_name entries in server_name (RFC 6066 3)");
        if (name.empty()) return fail("empty SNI host_name");
        const auto* p = reinterpret_cast<const char*>(name.data());
        if (!std::all_of(p, p + name.size(), [](char c) { return c > 0x20 && c < 0x7f; })) {
          return fail("SNI host_name is not printable ASCII (RFC 6066 3)");
        }
        sni = normalise_host(std::string_view(p, name.size()));
        has_sni = true;
      }
    } else if (type == ext_supported_versions) {
      reader list;
      if (!ext.vec(1, list) || !ext.empty() || list.size() < 2 || list.size() % 2 != 0) {
        return fail("malformed supported_versions");
      }
      has_versions = true;
      offered = 0;
      std::uint16_t v = 0;
      while (list.u16(v)) {
        if (!is_grease(v) && v >> 8 == 3) offered = std::max(offered, v);
      }
    } else if (type == ext_early_data) {
      if (!ext.empty()) return fail("malformed early_data");
      early_data_offered_ = true;
    }
  }

  result_.offered_version = offered;
  if (has_sni) result_.sni = sni;
  if (has_versions && offered == 0) {
    return finish(verdict::reject, reject_reason::version_too_low,
                  "client offered no known TLS version");
  }
  if (offered <= ssl3) {
    return finish(verdict::reject, reject_reason::ssl_version,
                  "client offered " + version_name(offered));
  }
  if (offered < policy_.min_version) {
    return finish(verdict::reject, reject_reason::version_too_low,
                  "client offered " + version_name(offered) + ", minimum is " +
                      version_name(policy_.min_version));
  }
  if (has_sni && policy_.require_sni_match && sni != policy_.connect_host) {
    return finish(verdict::reject, reject_reason::sni_mismatch,
                  "SNI " + sni + " differs from CONNECT host " + policy_.connect_host);
  }
  stage_ = stage_ == stage::client_hello ? stage::server_hello : stage::retry_server_hello;
}

void handshake_inspector::on_server_hello(const std::uint8_t* body, std::size_t size) {
  reader r(body, size);
  std::uint16_t legacy_version = 0, cipher = 0;
  std::uint8_t compression = 0;
  reader random, session_id, extensions;
  if (!r.u16(legacy_version) || !r.take(32, random) || !r.vec(1, session_id) ||
      session_id.size() > 32 || !r.u16(cipher) || !r.u8(compression)) {
    return fail("malformed ServerHello");
  }
  if (!r.empty() && (!r.vec(2, extensions) || !r.empty())) {
    return fail("ServerHello extensions do not match the message length");
  }
  std::vector<std::uint16_t> seen;
  bool has_version = false;
  std::uint16_t selected = 0;
  while (!extensions.empty()) {
    std::uint16_t type = 0;
    reader ext;
    if (!extensions.u16(type) || !extensions.vec(2, ext))
      return fail("truncated ServerHello extension");
    if (std::find(seen.begin(), seen.end(), type) != seen.end()) {
      return fail("duplicate ServerHello extension " + std::to_string(type) + " (RFC 8446 4.2)");
    }
    seen.push_back(type);
    if (type == ext_supported_versions) {
      if (!ext.u16(selected) || !ext.empty()) return fail("malformed supported_versions");
      has_version = true;
    }
  }
  const std::uint16_t chosen = has_version ? selected : legacy_version;
  result_.negotiated_version = chosen;

  if (std::memcmp(random.data(), hello_retry_random.data(), hello_retry_random.size()) == 0) {
    if (stage_ == stage::retry_server_hello)
      return fail("second HelloRetryRequest (RFC 8446 4.1.4)");
    if (!has_version || chosen < tls13) return fail("HelloRetryRequest without TLS 1.3 selected");
    stage_ = stage::retry_client_hello;
    return;
  }
  if (chosen <= ssl3) {
    return finish(verdict::reject, reject_reason::ssl_version,
                  "server chose " + version_name(chosen));
  }
  if (chosen < policy_.min_version) {
    return finish(verdict::reject, reject_reason::version_too_low,
                  "server chose " + version_name(chosen) + ", minimum is " +
                      version_name(policy_.min_version));
  }
  const std::string negotiated = version_name(chosen) + " negotiated";
  if (policy_.allowed_subjects.empty())
    return finish(verdict::verified, reject_reason::none, negotiated);
  if (chosen >= tls13) {
    // RFC 8446 4.4.2: the client's Certificate travels encrypted.
    if (policy_.reject_unverifiable_cert) {
      return finish(verdict::reject, reject_reason::cert_unverifiable,
                    negotiated + "; the client certificate cannot be verified");
    }
    result_.client_cert_unverifiable = true;
    return finish(verdict::verified, reject_reason::none,
                  negotiated + "; client certificate not verifiable, allowed by policy");
  }
  stage_ = stage::client_certificate;
}

void handshake_inspector::on_client_certificate(const std::uint8_t* body, std::size_t size) {
  reader r(body, size);
  reader list, leaf, other;
  if (!r.vec(3, list) || !r.empty()) return fail("malformed client Certificate");
  if (list.empty()) {
    return finish(verdict::reject, reject_reason::client_cert,
                  "no client certificate (empty certificate list)");
  }
  if (!list.vec(3, leaf) || leaf.empty()) return fail("malformed client Certificate");
  while (!list.empty()) {
    if (!list.vec(3, other) || other.empty()) return fail("malformed client Certificate");
  }
  ERR_set_mark();
  const unsigned char* p = leaf.data();
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(leaf.size())), X509_free);
  ERR_pop_to_mark();
  if (!cert || p != leaf.data() + leaf.size()) {
    return finish(verdict::reject, reject_reason::client_cert,
                  "client certificate is not a valid X.509 certificate");
  }
  result_.client_subject = config::subject_text(X509_get_subject_name(cert.get()));
  const std::string shown = result_.client_subject.empty() ? "(empty)" : result_.client_subject;
  if (subject_allowed(policy_.allowed_subjects, result_.client_subject)) {
    return finish(verdict::verified, reject_reason::none,
                  version_name(result_.negotiated_version) + " negotiated; client certificate " +
                      shown + " allowed");
  }
  finish(verdict::reject, reject_reason::client_cert,
         "client certificate subject " + shown + " is not allowed");
}

void handshake_inspector::finish(verdict v, reject_reason r, std::string detail) {
  result_.kind = v;
  result_.reason = r;
  result_.detail = std::move(detail);
}

void handshake_inspector::fail(std::string detail) {
  finish(verdict::parse_error, reject_reason::none, std::move(detail));
}

void handshake_inspector::release() {
  for (direction_state* d : {&client_, &server_}) {
    std::vector<std::uint8_t>().swap(d->record_buf);
    std::vector<std::uint8_t>().swap(d->handshake_buf);
  }
}

}  // namespace omsgw::net::tls
