#pragma once
/// \file
/// One client connection on Asio: reads the request header, answers, connects the
/// destination and relays bytes both ways (inspecting the TLS handshake on the way).
/// This is the data plane; it knows nothing of CAF. Its owner (the session actor)
/// drives it through the methods below, which are safe from any thread (they post to
/// the connection's strand), and hears back through a connection_observer, always
/// called on that strand.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/connect_request.hpp"
#include "net/policy.hpp"
#include "net/proxy_protocol.hpp"
#include "net/relay_handshake.hpp"
#include "net/relay_open.hpp"
#include "net/tls_inspector.hpp"

namespace omsgw::net {

using tcp = boost::asio::ip::tcp;

/// Why an upstream connection could not be made (all give 502 except timeout: 504).
enum class connect_failure {
  resolve_failed,     ///< the name does not resolve
  forbidden_address,  ///< every address is loopback/private/... and allow_private is off
  refused,            ///< connection refused / unreachable on every address
  timeout,            ///< limits.connect_timeout_s elapsed
  relay_refused,      ///< the relay answered CONNECT with a non-2xx (403, or 407: our
                      ///< credentials refused; the detail names the scheme)
  relay_tls_failed,   ///< the TLS handshake with an https:// relay failed (verification...)
};
const char* to_string(connect_failure f);

/// Why a tunnel ended.
enum class close_reason {
  client_closed,    ///< both directions finished normally
  upstream_closed,
  idle_timeout,
  handshake_timeout,
  inspection_reject,  ///< the TLS inspector refused the handshake
  io_error,
  peer_reset,       ///< a peer reset the connection (not counted as a gateway error)
  shutdown,         ///< closed by the owner (drain deadline, stop)
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

/// A tunnel that is up: the 200 has been written to the client.
struct established_info {
  tcp::endpoint upstream;  ///< the destination, or the relay proxy when there is one
  relay_ptr relay;         ///< null: a direct connection
  std::string host;        ///< the CONNECT destination
  std::uint16_t port = 0;
  double seconds = 0;      ///< request header complete to 200 written
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
  /// One attempt through one relay ended (omsgw_relay_connects_total); skipped is true
  /// when the relay is now skipped for relay_skip_time (omsgw_relay_up 0).
  virtual void on_relay_attempt(const relay_target& relay, relay_outcome outcome, bool skipped) {
    (void)relay, (void)outcome, (void)skipped;
  }
  /// The TLS inspector reached a verdict (verified, reject or parse error), or, once,
  /// an alert ended the handshake before one (result.kind need_more, detail names it).
  virtual void on_inspected(const tls::inspection_result& result) = 0;
  /// Bytes relayed since the last call; called at most about once a second per tunnel
  /// and once more when it ends (batched so no per-chunk work reaches the owner).
  virtual void on_bytes(std::uint64_t to_upstream, std::uint64_t to_client) = 0;
  /// The connection is finished; nothing else will be called.
  virtual void on_closed(const tunnel_stats& stats) = 0;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// socket must already use its own strand as executor (accept onto make_strand).
  connection(tcp::socket socket, std::uint64_t id);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  std::uint64_t id() const { return id_; }
  /// The peer as seen at accept (or as carried by a PROXY header, see set_client).
  const tcp::endpoint& client() const { return client_; }
  void set_client(const tcp::endpoint& ep) { client_ = ep; }

  void set_observer(std::shared_ptr<connection_observer> obs);

  /// Called once the PROXY header is read (outcome ok/invalid) or the client went
  /// away / timed out first (outcome need_more). Runs on the connection's strand.
  using proxy_done = std::function<void(const proxy_outcome& outcome, bool timed_out)>;

  /// listen.proxy_protocol: reads the PROXY v1/v2 header a load balancer sends first.
  /// On a PROXY command the client address becomes the one the header carries.
  /// Bytes after the header are kept for read_request.
  void read_proxy_header(std::chrono::seconds timeout, proxy_done done);

  /// Reads the request header (at most header_limit bytes, within timeout).
  void read_request(std::size_t header_limit, std::chrono::seconds timeout);

  /// Writes a complete HTTP response (status line, headers, empty body) and closes
  /// gracefully: shutdown, discard what the client still sends for a moment, close.
  void reply_and_close(int status, std::string extra_headers = {});

  /// Resolves (unless an override address is given) and connects to host:port,
  /// trying each permitted address in turn within timeout. With a relay, connects to
  /// the relay instead and asks it for host:port (CONNECT); the relay resolves the
  /// name, so neither upstream.resolve nor the address check applies to it (an IP
  /// literal destination is still checked). The timeout covers the relay's answer too.
  /// Once connected it goes straight on (no round trip to the owner): sends
  /// "200 Connection established", reports on_established, and relays both ways
  /// under tunnel until either side ends. A failure reports on_connect_failed.
  void connect_and_relay(std::string host, std::uint16_t port, policy_ptr policy,
                         std::chrono::seconds timeout, relay_ptr relay, tunnel_options tunnel);

  /// Closes both sockets (idempotent). A tunnel reports on_closed with reason shutdown.
  void close();

  /// Process-wide count of connection objects alive (for leak checks in tests).
  static std::uint64_t live_count();

 private:
  struct half;  // one relay direction
  void do_read_proxy();
  void do_read_header();
  void on_header_timeout();
  void report_connect_failure(connect_failure why, std::string detail);
  void do_resolve();
  void try_next_endpoint();
  void on_connect_deadline();
  void connect_via_relay();
  void start_relay_handshake(const tcp::endpoint& relay_endpoint);
  void on_relay_opened(const tcp::endpoint& relay_endpoint, relay_open_result r);
  void relay_attempt_failed(relay_outcome outcome, connect_failure why, std::string detail);
  void arm_connect_deadline();
  void on_resolved(const boost::system::error_code& ec, tcp::resolver::results_type results);
  void add_candidate(const boost::asio::ip::address& addr, bool from_override);
  void on_upstream_ready(const tcp::endpoint& upstream);
  void start_tunnel();
  void start_relay();
  void pump(int dir);
  void on_readable(int dir, const boost::system::error_code& ec);
  void on_written(int dir, std::size_t n);
  void splice_in(int dir);
  void splice_out(int dir);
  void account(int dir, std::size_t n);
  bool inspect_chunk(int dir, const std::uint8_t* data, std::size_t n);
  void arm_timer();
  void on_timer();
  void finish(close_reason reason, std::string detail = {});
  void flush_bytes(bool final);
  void drain_and_close();
  void drain_read();

  tcp::socket::executor_type ex_;  // the connection's strand; copied first, read anywhere
  tcp::socket client_socket_;
  tcp::socket upstream_socket_;
  boost::asio::steady_timer timer_;
  tcp::resolver resolver_;
  std::uint64_t id_;
  tcp::endpoint client_;
  tcp::endpoint upstream_endpoint_;  ///< connected to (the relay's, through a relay)
  std::shared_ptr<connection_observer> observer_;

  // request phase
  std::unique_ptr<proxy_header_reader> proxy_reader_;
  proxy_done proxy_done_;
  std::string prefetched_;  // bytes read past the PROXY header
  std::unique_ptr<request_reader> reader_;
  std::unique_ptr<char[]> header_buf_;
  bool request_reported_ = false;
  std::chrono::steady_clock::time_point request_at_;  ///< when the header was complete

  // connect phase
  std::string host_;
  std::uint16_t port_ = 0;
  policy_ptr policy_;
  std::vector<tcp::endpoint> candidates_;
  std::size_t next_candidate_ = 0;
  std::string last_connect_error_;
  int forbidden_count_ = 0;
  bool connect_done_ = false;
  relay_ptr relay_;  ///< engaged: the tunnel goes through this relay proxy (the one tried now)
  std::chrono::seconds connect_timeout_{10};  ///< per relay tried, and for a direct connect
  std::uint32_t relay_attempt_ = 0;  ///< +1 per fallback: results of older attempts are dropped
  std::string relay_trail_;          ///< why each relay tried so far failed
  /// Bytes the relay sent after its 2xx answer: tunnel data for the client, to be
  /// written to it after our own 200 and before relaying (start_tunnel).
  std::string pending_to_client_;

  // tunnel phase
  tunnel_options options_;
  std::unique_ptr<tls::handshake_inspector> inspector_;
  std::chrono::steady_clock::time_point established_at_;
  std::chrono::steady_clock::time_point handshake_deadline_;
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point last_flush_;
  std::chrono::steady_clock::time_point timer_deadline_;  ///< when timer_ fires next
  std::unique_ptr<half> halves_[2];  // 0: client->upstream, 1: upstream->client
  std::uint64_t unflushed_[2] = {0, 0};
  std::uint64_t total_[2] = {0, 0};
  std::string pending_to_upstream_;  // leftover request bytes
  bool tunnel_started_ = false;
  bool no_splice_ = false;  ///< buffered copy instead of splice(2) (fallback)
  bool finished_ = false;
  bool closing_ = false;
  bool replying_ = false;
};

}  // namespace omsgw::net
