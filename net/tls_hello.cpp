/// \file
/// The handshake messages the TLS inspector judges: ClientHello, ServerHello and the
/// client's Certificate (rules: tls_inspector.cpp's file comment).

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "config/subject.hpp"
#include "net/tls_inspector.hpp"
#include "net/tls_wire.hpp"

namespace omsgw::net::tls {
using namespace wire;

namespace {

/// Reads a server_name extension (RFC 6066 3): the host_name entry, at most one, as
/// printable ASCII. Returns why it is malformed, or "" when it is not.
std::string read_server_name(reader ext, bool& has_sni, std::string& sni) {
  reader list;
  if (!ext.vec(2, list) || !ext.empty() || list.empty()) return "malformed server_name";
  while (!list.empty()) {
    std::uint8_t name_type = 0;
    reader name;
    if (!list.u8(name_type) || !list.vec(2, name)) return "malformed server_name";
    if (name_type != 0) continue;  // only host_name is defined
    if (has_sni) return "two host_name entries in server_name (RFC 6066 3)";
    if (name.empty()) return "empty SNI host_name";
    const auto* p = reinterpret_cast<const char*>(name.data());
    if (!std::all_of(p, p + name.size(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      return "SNI host_name is not printable ASCII (RFC 6066 3)";
    }
    sni = normalise_host(std::string_view(p, name.size()));
    has_sni = true;
  }
  return {};
}

}  // namespace

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
      if (auto why = read_server_name(ext, has_sni, sni); !why.empty()) return fail(why);
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

}  // namespace omsgw::net::tls
