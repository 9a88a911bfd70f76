#pragma once
/// \file
/// The listening socket. Each I/O context accepts from it on its own descriptor
/// (net/accept_lane), so a connection starts on whichever I/O thread was free to take
/// it and, as a rule, stays there; the accepted connection goes to a callback (the
/// admission, actors/admission). The acceptor opens the socket, gives each lane its
/// descriptor and runs the stop: a draining gateway refuses new connections at TCP
/// level but hands on every one the kernel already completed.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "net/accept_lane.hpp"
#include "net/io_pool.hpp"
#include "net/tunnel.hpp"

namespace omsgw::net {

class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  using accept_handler = std::function<void(std::shared_ptr<connection>)>;
  /// Called for accept errors (e.g. EMFILE) with the pause that follows.
  using error_handler = std::function<void(const boost::system::error_code&, bool paused)>;
  /// Picks the io_context a connection accepted by lane i lives on, with the
  /// connection's share in its load (net::io_pool::place).
  using context_picker = std::function<placement(std::size_t lane)>;

  /// Opens, binds and listens; throws boost::system::system_error on failure
  /// (start-up only). An IPv6 wildcard listens dual-stack. One lane per context of
  /// lanes (each run by one thread, as net::io_pool's); the first also runs the
  /// stop. Accepted connections live on the context pick(lane) names (default: the
  /// lane's own).
  acceptor(const std::vector<boost::asio::io_context*>& lanes, const tcp::endpoint& endpoint,
           accept_handler on_accept, error_handler on_error, std::chrono::milliseconds emfile_pause,
           context_picker pick = {});
  /// One lane, on ioc.
  acceptor(boost::asio::io_context& ioc, const tcp::endpoint& endpoint, accept_handler on_accept,
           error_handler on_error, std::chrono::milliseconds emfile_pause);

  tcp::endpoint local_endpoint() const { return local_; }
  /// The listening socket (the first lane's descriptor), for socket options (tests use
  /// it to hold handshakes open). Valid until the stop closes it.
  int native_handle() const { return fd_; }
  void start();
  /// Stops accepting and closes the listening socket (idempotent, any thread).
  /// Connections the kernel already completed (the accept queue, an accept racing
  /// with the stop) are still handed to on_accept, not reset: a draining gateway
  /// refuses new connections at TCP level (a load balancer retries those elsewhere)
  /// but never drops one it accepted, including handshakes under way when it stopped
  /// (served for k_handshake_grace before the socket closes). on_stopped, if given,
  /// runs on the first lane's thread after every lane has handed on its last connection.
  void stop(std::function<void()> on_stopped = {});

 private:
  void refuse_new_handshakes();
  void lane_closed();
  void finish_stop();

  /// How long a stopping acceptor keeps serving handshakes that were under way when
  /// it stopped (their final ACK may still be in flight) before it closes.
  static constexpr std::chrono::milliseconds k_handshake_grace{200};
  enum class state { running, draining, closed };

  boost::asio::io_context::executor_type ex_;  ///< the first lane's: runs the stop
  std::vector<std::shared_ptr<accept_lane>> lanes_;
  tcp::endpoint local_;
  int fd_ = -1;
  std::size_t open_lanes_ = 0;
  state state_ = state::running;
  std::vector<std::function<void()>> on_stopped_;
};

}  // namespace omsgw::net
