#pragma once
/// \file
/// One I/O context's accept loop on the gateway's listening socket (net/acceptor owns
/// the socket and one lane per context). Each lane waits on its own descriptor of the
/// same socket, so whichever I/O thread is free takes the next connection from the
/// kernel's accept queue and, as a rule, keeps it (net::io_pool::place): no connection
/// is handed to another thread, and no thread wakes another to start one. When the
/// process runs out of descriptors (EMFILE/ENFILE) a lane pauses briefly instead of
/// spinning.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "net/io_pool.hpp"
#include "net/tunnel.hpp"

namespace omsgw::net {

/// What every lane of one listening socket shares.
struct accept_hooks {
  /// Called with each accepted connection, on the accepting lane's I/O thread.
  std::function<void(std::shared_ptr<connection>)> on_accept;
  /// Called for accept errors (e.g. EMFILE) with the pause that follows.
  std::function<void(const boost::system::error_code&, bool paused)> on_error;
  /// Where a connection accepted by lane i lives, with its share in that context's load.
  std::function<placement(std::size_t lane)> pick;
  std::chrono::milliseconds emfile_pause{100};
  /// Connection ids, unique across lanes.
  std::atomic<std::uint64_t> next_id{0};
};

class accept_lane : public std::enable_shared_from_this<accept_lane> {
 public:
  /// listener: this lane's descriptor of the listening socket, on ioc, which one thread
  /// runs (as each net::io_pool context): its plain executor serialises the lane's
  /// handlers without a strand's queue and lock.
  accept_lane(boost::asio::io_context& ioc, std::size_t index, tcp::acceptor listener,
              std::shared_ptr<accept_hooks> hooks);

  void start();
  /// Hands on what the accept queue holds, keeps accepting for grace (handshakes under
  /// way when the stop began), then closes its descriptor. done runs on the lane's
  /// thread once its last connection has been handed on. Once only.
  void stop(std::chrono::milliseconds grace, std::function<void()> done);

 private:
  void do_accept();
  void on_accepted(const boost::system::error_code& ec, tcp::socket socket);
  void hand_on(tcp::socket socket, const tcp::endpoint& peer, load_token load);
  void accept_backlog();
  void close_listener();
  void finish();

  enum class state { running, draining, closed };

  std::size_t index_;
  boost::asio::io_context::executor_type ex_;
  tcp::acceptor listener_;
  boost::asio::steady_timer pause_timer_;
  boost::asio::steady_timer drain_timer_;
  std::shared_ptr<accept_hooks> hooks_;
  tcp::endpoint peer_;  ///< the pending async_accept's peer (written by its accept)
  placement pending_;   ///< where the pending async_accept's connection will live
  state state_ = state::running;
  bool accept_pending_ = false;
  std::function<void()> done_;
};

}  // namespace omsgw::net
