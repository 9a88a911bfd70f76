#pragma once
/// \file
/// Pure, incremental inspection of a TLS handshake passing through a tunnel, without
/// terminating it. Bytes in (per direction, as they arrive), decision out. No I/O.
/// (Interface contract; see tls_inspector.cpp for the rules and RFC references.)

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace omsgw::net::tls {

enum class verdict {
  need_more,    ///< keep relaying and feeding
  verified,     ///< handshake passed every rule; stop inspecting, relay plainly
  reject,       ///< a rule failed (see reason); close the tunnel
  parse_error,  ///< the records could not be parsed (event 402, reason tls_parse)
};

enum class reject_reason {
  none,
  not_tls,            ///< first bytes are not a TLS handshake record
  ssl_version,        ///< SSL 2.0 (v2 hello format) or SSL 3.0 offered/chosen
  version_too_low,    ///< offered max or negotiated version below min_version
  sni_mismatch,       ///< SNI present and != CONNECT host
  client_cert,        ///< client certificate subject not on the list (or none sent)
  cert_unverifiable,  ///< TLS 1.3 with a subject list and unverifiable_client_cert=reject
  too_large,          ///< handshake exceeded max_handshake_bytes in one direction
};
const char* to_string(reject_reason r);

struct inspection_policy {
  std::uint16_t min_version = 0x0303;  ///< wire value: 0x0301 = TLS 1.0 ... 0x0304 = TLS 1.3
  bool require_sni_match = true;
  std::string connect_host;  ///< normalised CONNECT host (lower-case, no trailing dot)
  std::vector<std::string> allowed_subjects;  ///< canonical form; empty = not enforced
  bool reject_unverifiable_cert = false;
  std::size_t max_handshake_bytes = 64 * 1024;  ///< per direction
};

struct inspection_result {
  verdict kind = verdict::need_more;
  reject_reason reason = reject_reason::none;
  std::string detail;                 ///< human-readable, for the event line
  std::uint16_t offered_version = 0;  ///< highest version the client offered
  std::uint16_t negotiated_version = 0;
  std::string sni;
  std::string client_subject;         ///< canonical subject of the leaf client cert, if seen
  bool client_cert_unverifiable = false;  ///< TLS 1.3 + subject list, let through
};

/// One inspector per tunnel.
class handshake_inspector {
 public:
  explicit handshake_inspector(inspection_policy policy);
  /// Bytes the client sent towards the server.
  const inspection_result& feed_client(const std::uint8_t* data, std::size_t size);
  /// Bytes the server sent towards the client.
  const inspection_result& feed_server(const std::uint8_t* data, std::size_t size);
  const inspection_result& result() const { return result_; }
  bool done() const { return result_.kind != verdict::need_more; }

 private:
  struct direction_state {
    std::vector<std::uint8_t> record_buf;     ///< partial record header/body
    std::vector<std::uint8_t> handshake_buf;  ///< partial handshake message(s)
    std::size_t total = 0;
  };
  inspection_policy policy_;
  inspection_result result_;
  direction_state client_;
  direction_state server_;
  int state_ = 0;  ///< implementation-defined progress marker
};

/// Canonicalises a configured allowed_client_certificates entry or a certificate's
/// subject for comparison (documented in the README). Empty on garbage.
std::string canonical_subject(std::string_view subject);

}  // namespace omsgw::net::tls
