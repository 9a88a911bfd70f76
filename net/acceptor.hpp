#pragma once
/// \file
/// The listening socket. Accepts onto a fresh strand per connection and hands each
/// accepted connection to a callback (the listener actor). When the process runs out
/// of descriptors (EMFILE/ENFILE), it pauses accepting briefly instead of spinning.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "net/tunnel.hpp"

namespace omsgw::net {

class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  using accept_handler = std::function<void(std::shared_ptr<connection>)>;
  /// Called for accept errors (e.g. EMFILE) with the pause that follows.
  using error_handler = std::function<void(const boost::system::error_code&, bool paused)>;

  /// Opens, binds and listens; throws boost::system::system_error on failure
  /// (start-up only). An IPv6 wildcard listens dual-stack.
  acceptor(boost::asio::io_context& ioc, const tcp::endpoint& endpoint, accept_handler on_accept,
           error_handler on_error, std::chrono::milliseconds emfile_pause);

  tcp::endpoint local_endpoint() const { return local_; }
  void start();
  /// Stops accepting and closes the listening socket (idempotent, any thread).
  /// Connections the kernel already completed (the accept queue, an accept racing
  /// with the stop) are still handed to on_accept, not reset: a draining gateway
  /// refuses new connections at TCP level (a load balancer retries those elsewhere)
  /// but never drops one it accepted. on_stopped, if given, runs on an I/O thread
  /// after the last connection has been handed on.
  void stop(std::function<void()> on_stopped = {});

 private:
  void do_accept();
  void accept_backlog();
  void finish_stop();

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  accept_handler on_accept_;
  error_handler on_error_;
  std::chrono::milliseconds emfile_pause_;
  tcp::endpoint local_;
  std::uint64_t next_id_ = 0;
  bool stopped_ = false;
  bool accept_pending_ = false;
  std::vector<std::function<void()>> on_stopped_;
};

}  // namespace omsgw::net
