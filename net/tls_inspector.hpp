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

#include "config/subject.hpp"
#include "net/inspection_budget.hpp"

namespace omsgw::net::tls {

enum class verdict {
  need_more,    ///< keep relaying and feeding
  verified,     ///< handshake passed every rule; stop inspecting, relay plainly
  reject,       ///< a rule failed (see reason); close the tunnel
  parse_error,  ///< the records could not be parsed (event 402, reason tls_parse)
};
const char* to_string(verdict v);

enum class reject_reason {
  none,
  not_tls,            ///< first bytes are not a TLS handshake record
  ssl_version,        ///< SSL 2.0 (v2 hello format) or SSL 3.0 offered/chosen
  version_too_low,    ///< offered max or negotiated version below min_version
  sni_mismatch,       ///< SNI present and != CONNECT host
  client_cert,        ///< client certificate subject not on the list (or none sent)
  cert_unverifiable,  ///< TLS 1.3 with a subject list and unverifiable_client_cert=reject
  too_large,          ///< handshake exceeded max_handshake_bytes in one direction
  budget,             ///< the process's inspection budget is spent (a limit, not a rule)
};
const char* to_string(reject_reason r);

struct inspection_policy {
  std::uint16_t min_version = 0x0303;  ///< wire value: 0x0301 = TLS 1.0 ... 0x0304 = TLS 1.3
  bool require_sni_match = true;
  std::string connect_host;  ///< normalised CONNECT host (lower-case, no trailing dot)
  std::vector<std::string> allowed_subjects;  ///< canonical form; empty = not enforced
  bool reject_unverifiable_cert = false;
  std::size_t max_handshake_bytes = 64 * 1024;  ///< per direction
  budget_share budget;  ///< where the handshake buffers' memory is taken from
};

struct inspection_result {
  verdict kind = verdict::need_more;
  reject_reason reason = reject_reason::none;
  std::string detail;                 ///< human-readable, for the event line
  std::uint16_t offered_version = 0;  ///< highest version the client offered
  std::uint16_t negotiated_version = 0;
  std::string sni;                        ///< lower-cased, trailing dot stripped
  std::string client_subject;             ///< canonical subject of the leaf client cert, if seen
  bool client_cert_unverifiable = false;  ///< TLS 1.3 + subject list, let through
};

/// One inspector per tunnel. Feed each direction's bytes in the order they arrive
/// (server bytes before the client bytes they caused); chunk boundaries do not matter.
/// The caller relays exactly what taken() says: once the client has sent its
/// ClientHello, nothing more of the client's is taken until the server's hello has
/// been judged (client_waits()), and nothing after an alert that ends the handshake.
class handshake_inspector {
 public:
  explicit handshake_inspector(inspection_policy policy);
  ~handshake_inspector();  ///< gives back what its buffers took from the budget
  handshake_inspector(const handshake_inspector&) = delete;
  handshake_inspector& operator=(const handshake_inspector&) = delete;
  /// Bytes the client sent towards the server.
  const inspection_result& feed_client(const std::uint8_t* data, std::size_t size);
  /// Bytes the server sent towards the client.
  const inspection_result& feed_server(const std::uint8_t* data, std::size_t size);
  const inspection_result& result() const { return result_; }
  /// A verdict was reached; further feeds return it unchanged and do no work.
  bool done() const { return result_.kind != verdict::need_more; }
  /// Inspection is over: a verdict was reached, or a fatal alert / close_notify ended
  /// the handshake before one. In the latter case result() stays need_more, its detail
  /// names the alert, further feeds do no work, and the caller passes the alert on
  /// (taken() ends with its record), relays nothing more and closes the tunnel.
  bool ended() const { return done() || alerted_; }
  /// Bytes of the last feed that were taken, from its start; the caller passes these on
  /// now. Fewer than fed when the feed stopped: at a verdict (the rest is relayed or
  /// dropped with the verdict), after the record of an alert that ended the handshake
  /// (the rest is dropped), or after the record that completed a ClientHello, when
  /// client_waits() (the rest is held and fed again once it is false).
  std::size_t taken() const { return taken_; }
  /// The client's ClientHello is in and the server's hello has not been judged yet:
  /// feed_client takes nothing (RFC 8446 4.1.1, RFC 5246 7.3: the server answers the
  /// ClientHello alone; only TLS 1.3 early data, RFC 8446 4.2.10, could come meanwhile).
  bool client_waits() const {
    return !ended() && (stage_ == stage::server_hello || stage_ == stage::retry_server_hello);
  }

 private:
  /// Handshake progress shared by both directions.
  enum class stage : std::uint8_t {
    client_hello,        ///< waiting for the first ClientHello
    server_hello,        ///< ClientHello accepted, waiting for ServerHello
    retry_client_hello,  ///< HelloRetryRequest seen, waiting for the second ClientHello
    retry_server_hello,  ///< second ClientHello accepted, waiting for the real ServerHello
    client_certificate,  ///< TLS <= 1.2 with a subject list: waiting for the client's flight
  };
  struct direction_state {
    bool from_client = false;
    std::uint8_t header[5] = {};  ///< current record header, header_len bytes valid
    std::size_t header_len = 0;
    std::uint8_t type = 0;                 ///< content type of the current record
    std::size_t body_left = 0;             ///< bytes of the current record body still to come
    std::size_t keep = 0;                  ///< body bytes of a non-handshake record worth keeping
    bool reassemble = false;               ///< current record feeds handshake_buf
    std::vector<std::uint8_t> record_buf;  ///< kept prefix of a non-handshake record (<= 2)
    std::vector<std::uint8_t> handshake_buf;  ///< partial handshake message(s)
    std::size_t charged = 0;                  ///< of policy_.budget, for handshake_buf's capacity
    std::size_t total = 0;                    ///< handshake record bytes taken so far (the bound)
    std::size_t records = 0;                  ///< completed records
    bool dummy_ccs_seen = false;     ///< TLS 1.3 compatibility ChangeCipherSpec (RFC 8446 D.4)
    bool protected_records = false;  ///< sent a real ChangeCipherSpec: opaque from here on
  };

  const inspection_result& feed(direction_state& d, const std::uint8_t* data, std::size_t size);
  bool check_first_client_bytes();
  bool on_record_header(direction_state& d);
  void on_record(direction_state& d);
  bool grow(direction_state& d, std::size_t more);
  void shrink(direction_state& d);
  void on_handshake_bytes(direction_state& d);
  void on_handshake_message(direction_state& d, std::uint8_t type, const std::uint8_t* body,
                            std::size_t size);
  void on_change_cipher_spec(direction_state& d);
  void on_alert(direction_state& d);
  void on_client_hello(const std::uint8_t* body, std::size_t size);
  void on_server_hello(const std::uint8_t* body, std::size_t size);
  void on_client_certificate(const std::uint8_t* body, std::size_t size);
  void finish(verdict v, reject_reason r, std::string detail);
  void fail(std::string detail);  ///< finish(parse_error, none, detail)
  void release();

  inspection_policy policy_;
  inspection_result result_;
  direction_state client_;
  direction_state server_;
  stage stage_ = stage::client_hello;
  bool alerted_ = false;
  std::size_t taken_ = 0;            ///< of the last feed
  bool early_data_offered_ = false;  ///< ClientHello carried early_data (RFC 8446 4.2.10)
  bool server_hello_done_ = false;   ///< full TLS <= 1.2 handshake (not a resumption)
};

/// Certificate subjects: canonical form and matching (config/subject.hpp).
using config::canonical_subject;
using config::subject_allowed;

/// Malformed input or over a limit (a parse error, a handshake over max_handshake_bytes,
/// the inspection budget spent): refused in every mode, since `mode: report` only
/// relaxes policy rules (SPEC.md).
inline bool refused_in_every_mode(const inspection_result& r) {
  return r.kind == verdict::parse_error ||
         (r.kind == verdict::reject &&
          (r.reason == reject_reason::too_large || r.reason == reject_reason::budget));
}

}  // namespace omsgw::net::tls
