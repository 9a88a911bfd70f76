#pragma once
/// \file
/// The listening socket. Accepts onto the I/O context pick() names and hands each
/// accepted connection to a callback (the listener actor). When the process runs out
/// of descriptors (EMFILE/ENFILE), it pauses accepting briefly instead of spinning.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "net/io_pool.hpp"
#include "net/tunnel.hpp"

namespace omsgw::net {

class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  using accept_handler = std::function<void(std::shared_ptr<connection>)>;
  /// Called for accept errors (e.g. EMFILE) with the pause that follows.
  using error_handler = std::function<void(const boost::system::error_code&, bool paused)>;
  /// Picks the io_context each accepted connection lives on, with the connection's
  /// share in its load (net::io_pool::place).
  using context_picker = std::function<placement()>;

  /// Opens, binds and listens; throws boost::system::system_error on failure
  /// (start-up only). An IPv6 wildcard listens dual-stack. The listening socket
  /// lives on ioc, which one thread runs (as each net::io_pool context): its plain
  /// executor serialises the acceptor's handlers, as a strand would without a strand's
  /// queue and lock on every accept. Accepted connections live on the context pick()
  /// names (default: ioc).
  acceptor(boost::asio::io_context& ioc, const tcp::endpoint& endpoint, accept_handler on_accept,
           error_handler on_error, std::chrono::milliseconds emfile_pause,
           context_picker pick = {});

  tcp::endpoint local_endpoint() const { return local_; }
  /// The listening socket, for socket options (tests use it to hold handshakes open).
  int native_handle() { return acceptor_.native_handle(); }
  void start();
  /// Stops accepting and closes the listening socket (idempotent, any thread).
  /// Connections the kernel already completed (the accept queue, an accept racing
  /// with the stop) are still handed to on_accept, not reset: a draining gateway
  /// refuses new connections at TCP level (a load balancer retries those elsewhere)
  /// but never drops one it accepted, including handshakes under way when it stopped
  /// (served for k_handshake_grace before the socket closes). on_stopped, if given, runs on an I/O
  /// thread after the last connection has been handed on.
  void stop(std::function<void()> on_stopped = {});

 private:
  void do_accept();
  void on_accepted(const boost::system::error_code& ec, tcp::socket socket);
  /// A new connection with its peer's address, to on_accept_.
  void hand_on(tcp::socket socket, const tcp::endpoint& peer, load_token load);
  void refuse_new_handshakes();
  void accept_backlog();
  void close_listener();
  void finish_stop();

  /// How long a stopping acceptor keeps serving handshakes that were under way when
  /// it stopped (their final ACK may still be in flight) before it closes.
  static constexpr std::chrono::milliseconds k_handshake_grace{200};
  enum class state { running, draining, closed };

  context_picker pick_;
  boost::asio::io_context::executor_type ex_;  ///< ioc's: one thread runs it
  tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  boost::asio::steady_timer drain_timer_;
  accept_handler on_accept_;
  error_handler on_error_;
  std::chrono::milliseconds emfile_pause_;
  tcp::endpoint local_;
  tcp::endpoint peer_;  ///< the pending async_accept's peer (written by its accept)
  placement pending_;   ///< where the pending async_accept's connection will live
  std::uint64_t next_id_ = 0;
  state state_ = state::running;
  bool accept_pending_ = false;
  std::vector<std::function<void()>> on_stopped_;
};

}  // namespace omsgw::net
