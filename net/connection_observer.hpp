#pragma once
/// \file
/// What a connection (net/tunnel) reports to its owner, and the values its tunnel
/// phase runs under: the close reasons, the byte statistics, the options and the
/// deadlines.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "net/connect_request.hpp"
#include "net/policy.hpp"
#include "net/relay_handshake.hpp"
#include "net/relay_opener.hpp"
#include "net/tls_inspector.hpp"

namespace omsgw::net {

using tcp = boost::asio::ip::tcp;

/// Why a tunnel ended.
enum class close_reason {
  client_closed,    ///< both directions ended in order, the client's first
  upstream_closed,  ///< both directions ended in order, the upstream's first
  idle_timeout,
  handshake_timeout,
  inspection_reject,  ///< the TLS inspector refused the handshake
  tls_alert,          ///< an alert ended the handshake before a verdict: passed on, then closed
  io_error,
  peer_reset,  ///< a peer reset the connection (not counted as a gateway error)
  shutdown,    ///< closed by the owner (drain deadline, stop)
};
const char* to_string(close_reason r);

struct tunnel_stats {
  std::uint64_t bytes_to_upstream = 0;
  std::uint64_t bytes_to_client = 0;
  double seconds = 0;  ///< time since the tunnel was established
  close_reason reason = close_reason::client_closed;
  std::string detail;
};

/// Tunnel tunables, all from configuration.
struct tunnel_options {
  std::chrono::seconds idle_timeout{600};
  std::chrono::seconds handshake_timeout{15};
  std::optional<tls::inspection_policy> inspect;  ///< engaged = inspect the handshake
  bool enforce = true;  ///< false (mode: report): a TLS verdict is reported, never acted on
};

/// Every deadline a connection keeps, in one place. The owner's calls fill in the
/// configured ones (limits.*_timeout_s); the rest are the gateway's own constants.
struct deadlines {
  std::chrono::seconds proxy_header{0};    ///< limits.header_timeout_s
  std::chrono::seconds request_header{0};  ///< limits.header_timeout_s
  std::chrono::seconds connect{0};         ///< limits.connect_timeout_s, relay answer included
  std::chrono::seconds handshake{0};       ///< limits.handshake_timeout_s (inspection only)
  std::chrono::seconds idle{0};            ///< limits.idle_timeout_s
  /// After a final answer: how long what the client still sends is read and dropped.
  std::chrono::seconds reply_linger{1};
};

/// A tunnel that is up: the 200 has been written to the client.
struct established_info {
  tcp::endpoint upstream;  ///< the destination, or the relay proxy when there is one
  relay_ptr relay;         ///< null: a direct connection
  std::string host;        ///< the CONNECT destination
  std::uint16_t port = 0;
  double seconds = 0;  ///< request header complete to 200 written
};

/// Where a connection goes on once its owner has decided, when the owner decides on
/// the connection's strand (no thread hand-off on the set-up path). wait: the owner
/// answers later through connection's public calls (reply_and_close,
/// connect_and_relay).
struct next_step {
  enum class kind { wait, reply, connect, close };
  kind what = kind::wait;
  int status = 0;         ///< reply: the final answer
  std::string headers;    ///< reply: extra header lines, each ending in CRLF
  std::string host;       ///< connect: the destination
  std::uint16_t port = 0;
  policy_ptr policy;      ///< connect: the snapshot the CONNECT was allowed under
  relay_ptr relay;        ///< connect: null = direct
  std::chrono::seconds timeout{0};  ///< connect: limits.connect_timeout_s
  tunnel_options tunnel;

  static next_step reply_with(int status, std::string headers = {}) {
    next_step s;
    s.what = kind::reply;
    s.status = status;
    s.headers = std::move(headers);
    return s;
  }
  static next_step closing() {
    next_step s;
    s.what = kind::close;
    return s;
  }
};

/// Callbacks from a connection to its owner. Called on the connection's strand; an
/// implementation must not block (it decides with a snapshot it holds, counts and
/// logs, and tells its session actor only how the connection ended).
class connection_observer {
 public:
  virtual ~connection_observer() = default;
  /// The request header reached a terminal status, or the client went away / timed
  /// out first (then outcome.status is need_more and timed_out tells which). The
  /// answer says what the connection does next.
  virtual next_step on_request(const request_outcome& outcome, bool timed_out) = 0;
  /// The upstream connection is made and the 200 written; relaying starts now.
  virtual void on_established(const established_info& info) = 0;
  /// The upstream could not be reached; the answer is the reply to give (or wait).
  virtual next_step on_connect_failed(connect_failure why, const std::string& detail) = 0;
  /// One attempt through one relay ended (omsgw_relay_connects_total, omsgw_relay_up;
  /// a failure a fallback relay follows is logged here, see relay_attempt).
  virtual void on_relay_attempt(const relay_attempt& attempt) { (void)attempt; }
  /// The TLS inspector reached a verdict (verified, reject or parse error), or, once,
  /// an alert ended the handshake before one (result.kind need_more, detail names it).
  virtual void on_inspected(const tls::inspection_result& result) = 0;
  /// Bytes relayed since the last call; called at most about once a second per tunnel
  /// and once more when it ends (batched so no per-chunk work reaches the owner).
  virtual void on_bytes(std::uint64_t to_upstream, std::uint64_t to_client) = 0;
  /// The tunnel is finished; nothing else will be called. Only after on_established.
  virtual void on_closed(const tunnel_stats& stats) = 0;
  /// The connection ended without a tunnel (answered, refused, or the client left);
  /// nothing else will be called.
  virtual void on_finished() {}
};

}  // namespace omsgw::net
