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
  /// How often relayed byte counts reach the observer at most.
  std::chrono::seconds byte_report{1};
};

/// A tunnel that is up: the 200 has been written to the client.
struct established_info {
  tcp::endpoint upstream;  ///< the destination, or the relay proxy when there is one
  relay_ptr relay;         ///< null: a direct connection
  std::string host;        ///< the CONNECT destination
  std::uint16_t port = 0;
  double seconds = 0;  ///< request header complete to 200 written
};

/// Callbacks from a connection to its owner. Called on the connection's strand; an
/// implementation must not block (the session forwards them as CAF messages).
class connection_observer {
 public:
  virtual ~connection_observer() = default;
  /// The request header reached a terminal status, or the client went away / timed
  /// out first (then outcome.status is need_more and timed_out tells which).
  virtual void on_request(const request_outcome& outcome, bool timed_out) = 0;
  /// The upstream connection is made and the 200 written; relaying starts now.
  virtual void on_established(const established_info& info) = 0;
  virtual void on_connect_failed(connect_failure why, const std::string& detail) = 0;
  /// The TLS inspector reached a verdict (verified, reject or parse error), or, once,
  /// an alert ended the handshake before one (result.kind need_more, detail names it).
  virtual void on_inspected(const tls::inspection_result& result) = 0;
  /// Bytes relayed since the last call; called at most about once a second per tunnel
  /// and once more when it ends (batched so no per-chunk work reaches the owner).
  virtual void on_bytes(std::uint64_t to_upstream, std::uint64_t to_client) = 0;
  /// The tunnel is finished; nothing else will be called. Only after on_established.
  virtual void on_closed(const tunnel_stats& stats) = 0;
};

}  // namespace omsgw::net
