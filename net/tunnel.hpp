#pragma once
/// \file
/// One client connection on Asio, from accept to close. It ties the pieces together:
/// client_reader (PROXY header, CONNECT request), http_reply (answers, graceful
/// close), upstream_connector (resolve, address guard, connect, relay) and the pumps
/// (copy_pump while the TLS handshake is inspected, splice_pump after). It holds the
/// phase, the deadlines and the one close path. It knows nothing of CAF: its owner
/// (the session actor) drives it through the methods below, which are safe from any
/// thread (they post to the connection's strand), and hears back through a
/// connection_observer, always called on that strand.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/byte_stream.hpp"
#include "net/client_reader.hpp"
#include "net/connection_observer.hpp"
#include "net/load_token.hpp"
#include "net/policy.hpp"
#include "net/proxy_protocol.hpp"
#include "net/relay_opener.hpp"
#include "net/resolver.hpp"

namespace omsgw::net {

class tunnel_relay;
class upstream_connector;

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// socket's executor must run one handler at a time: a strand, or an io_context run
  /// by one thread (net/io_pool). dns: the resolver for upstream names; null: the one
  /// of the socket's io_context. The client is the socket's peer (getpeername).
  connection(tcp::socket socket, std::uint64_t id, std::shared_ptr<resolver> dns = nullptr);
  /// As above, with the peer address the accept already returned.
  connection(tcp::socket socket, std::uint64_t id, const tcp::endpoint& peer,
             std::shared_ptr<resolver> dns = nullptr);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  std::uint64_t id() const { return id_; }
  /// The I/O context the connection runs on (in the gateway: one thread of io_pool).
  boost::asio::io_context& io_context() const;
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

  /// set_observer and read_request in one step: what a session does first. Runs
  /// inline when called on the connection's own thread, else is posted there. From here
  /// the observer's answers drive the connection.
  void begin(std::shared_ptr<connection_observer> obs, std::size_t header_limit,
             std::chrono::seconds timeout);

  /// Writes a complete HTTP response (status line, headers, empty body) and closes
  /// gracefully: shutdown, discard what the client still sends for a moment, close.
  void reply_and_close(int status, std::string extra_headers = {});

  /// Connects to host:port (net/upstream_connector: resolve unless pinned or a
  /// literal, the address guard on every candidate, or through relay, its fallbacks
  /// and bypass) within timeout per route tried, relay answer included. Once connected it goes
  /// straight on (no round trip to the owner): sends "200 Connection established", reports
  /// on_established, and relays both ways under tunnel until either side ends. A failure reports
  /// on_connect_failed.
  void connect_and_relay(std::string host, std::uint16_t port, policy_ptr policy,
                         std::chrono::seconds timeout, relay_ptr relay, tunnel_options tunnel);

  /// Closes both sockets (idempotent; once the connection has ended by itself, a
  /// no-op that posts nothing). A tunnel reports on_closed with reason shutdown.
  void close();

  /// Process-wide count of connection objects alive (for leak checks in tests).
  static std::uint64_t live_count();

  /// Counts this connection in its I/O context's load for as long as it lives
  /// (net/io_pool::place). Before any other call, on the accepting thread.
  void count_load(load_token load) { load_ = std::move(load); }

 private:
  /// Where the connection is; exactly one at a time, only ever moving forward.
  enum class phase {
    accepted,      ///< waiting for the owner's first call
    proxy_header,  ///< reading the PROXY header (deadline: proxy_header)
    request,       ///< reading the CONNECT request (deadline: request_header)
    deciding,      ///< the request is with the owner
    connecting,    ///< upstream_connector at work (deadline: connect)
    tunnel,        ///< upstream connected: tunnel_relay writes the 200 and relays
    replying,      ///< a final answer is written and the socket lingers
    closed,
  };
  void start_proxy_header(proxy_done done);
  void start_request(std::size_t header_limit);
  void start_connect(std::string host, std::uint16_t port, policy_ptr policy, relay_ptr relay);
  void on_upstream(upstream_outcome out);
  void arm(std::chrono::steady_clock::time_point at);
  void on_deadline();
  void report_request(const request_outcome& outcome, bool timed_out);
  void report_connect_failure(connect_failure why, const std::string& detail);
  /// Acts on the observer's answer (wait: nothing, the owner calls later).
  void apply(next_step step);
  /// Tells the observer how the connection ended without a tunnel; forgets it.
  void finish_observer();
  void reply(int status, std::string extra_headers);
  /// The one teardown: idempotent; reports on_closed if a tunnel was open.
  void close(close_reason reason, std::string detail);

  // The connection's strand: in the gateway the executor of an io_context run by one
  // thread (an implicit strand, Asio's term). Copied first, read anywhere.
  tcp::socket::executor_type ex_;
  tcp::socket client_socket_;
  boost::asio::steady_timer timer_;
  std::uint64_t id_;
  load_token load_;  ///< this connection in its context's load (io_pool::place)
  tcp::endpoint client_;
  std::shared_ptr<connection_observer> observer_;
  std::shared_ptr<resolver> dns_;
  phase phase_ = phase::accepted;
  std::atomic<bool> ended_{false};  ///< set once replying or closed (close() skips the post)
  deadlines deadlines_;

  client_reader reader_;
  proxy_done proxy_done_;
  std::chrono::steady_clock::time_point request_at_;  ///< when the header was complete

  std::string host_;
  std::uint16_t port_ = 0;
  std::shared_ptr<upstream_connector> connector_;
  tunnel_options options_;
  std::shared_ptr<tunnel_relay> tunnel_;  ///< the tunnel phase (net/tunnel_relay)
};

}  // namespace omsgw::net
