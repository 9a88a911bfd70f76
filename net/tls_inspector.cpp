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
///  - a handshake buffer takes its memory from the process's budget (policy.budget,
///    net/inspection_budget.hpp) before it grows, and gives it back when it empties
///    (a message judged), at the verdict and at the end; growth that finds the budget
///    spent refuses the tunnel (reject_reason::budget).
///  - once a ClientHello is complete, the client's further bytes are not taken (taken(),
///    client_waits()) until the server's hello has been judged: the server answers a
///    ClientHello alone (RFC 8446 4.1.1, RFC 5246 7.3), so the tunnel can hold them
///    without deadlock. Only TLS 1.3 early data (RFC 8446 4.2.10, sent right after a
///    ClientHello that offered it) and its dummy ChangeCipherSpec come meanwhile: after a
///    TLS 1.3 ServerHello they follow the verdict uninspected; after a HelloRetryRequest
///    the server skips the early data (4.2.10) and so does the inspector, counting it
///    against max_handshake_bytes. TLS <= 1.2 with allowed_subjects: the client sends
///    again after the ServerHello, and its Certificate decides. So before a verdict the
///    server gets from the client only handshake records (within the bound), at most one
///    dummy ChangeCipherSpec, skipped early data (within the same bound) and an alert.
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
/// ends inspection WITHOUT a verdict (need_more, ended() true, detail names the alert
/// and its sender); it is not a parse error. taken() ends with the alert's record: the
/// tunnel passes the alert on (the peer sees the handshake fail), relays nothing more in
/// either direction and closes, since with no verdict nothing after it may cross. An
/// alert the client sends while it waits is seen only when its bytes are taken again.
/// Warning alerts other than close_notify are ignored (e.g. unrecognized_name, RFC 6066).
/// Certificate subjects are printed and matched by config/subject.cpp (rules there).

#include "net/tls_inspector.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "net/tls_wire.hpp"

namespace omsgw::net::tls {
using namespace wire;
namespace {
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
}  // namespace

const char* to_string(verdict v) {
  static constexpr const char* names[] = {"need_more", "verified", "reject", "parse_error"};
  return names[static_cast<int>(v)];
}

const char* to_string(reject_reason r) {
  static constexpr const char* names[] = {
      "none",        "not_tls",           "ssl_version", "version_too_low", "sni_mismatch",
      "client_cert", "cert_unverifiable", "too_large",   "budget",
  };
  return names[static_cast<int>(r)];
}

// ---- handshake_inspector --------------------------------------------------------------

handshake_inspector::handshake_inspector(inspection_policy policy) : policy_(std::move(policy)) {
  policy_.connect_host = normalise_host(policy_.connect_host);
  client_.from_client = true;
}

handshake_inspector::~handshake_inspector() { release(); }

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
  const std::size_t fed = size;
  while (size > 0 && !ended() && !(d.from_client && client_waits())) {
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
        if (!grow(d, n)) break;
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
  taken_ = fed - size;
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
      // Only TLS 1.3 early data may come before the verdict (RFC 8446 4.2.10), and is
      // only taken here after a HelloRetryRequest (the client waited for the server's
      // hello meanwhile): the server skips it, and so does the inspector, counting it
      // against the bound.
      if (d.from_client && stage_ == stage::retry_client_hello && early_data_offered_) {
        if (len > policy_.max_handshake_bytes - std::min(d.total, policy_.max_handshake_bytes)) {
          finish(verdict::reject, reject_reason::too_large,
                 "handshake and early data from client exceed " +
                     std::to_string(policy_.max_handshake_bytes) + " bytes");
          return false;
        }
        d.total += len;
        return true;
      }
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
  if (ended()) return;
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
  if (buf.empty()) shrink(d);  // between messages a tunnel holds nothing
}

/// Makes room for more bytes in d's handshake buffer, taking the growth from the
/// budget first; false (and a budget verdict) when it is spent.
bool handshake_inspector::grow(direction_state& d, std::size_t more) {
  auto& buf = d.handshake_buf;
  const std::size_t needed = buf.size() + more;
  if (needed <= buf.capacity()) return true;
  // Doubling, as a vector would, but never past the per-direction bound.
  const std::size_t capacity =
      std::max(needed, std::min(2 * buf.capacity(), policy_.max_handshake_bytes));
  const std::size_t extra = capacity - buf.capacity();
  const budget_share& b = policy_.budget;
  if (b.pool && !b.pool->take(extra, b.limit)) {
    finish(verdict::reject, reject_reason::budget,
           "handshake buffers of all tunnels hold " + std::to_string(b.pool->held()) +
               " bytes, the most the gateway allows (" + std::to_string(b.limit) +
               "); this one needs " + std::to_string(extra) + " more");
    return false;
  }
  buf.reserve(capacity);
  if (b.pool) d.charged += extra;
  return true;
}

/// Frees d's empty handshake buffer and gives its memory back to the budget.
void handshake_inspector::shrink(direction_state& d) {
  std::vector<std::uint8_t>().swap(d.handshake_buf);
  if (d.charged > 0) policy_.budget.pool->give_back(d.charged);
  d.charged = 0;
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
  // A client's dummy record sent right after its first ClientHello (with early data) is
  // taken only once the server's hello is judged: after a HelloRetryRequest, here.
  const bool around_retry =
      stage_ == stage::retry_client_hello || stage_ == stage::retry_server_hello;
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
    shrink(*d);
  }
}

}  // namespace omsgw::net::tls
