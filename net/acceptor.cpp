#include "net/acceptor.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

acceptor::acceptor(asio::io_context& ioc, const tcp::endpoint& endpoint, accept_handler on_accept,
                   error_handler on_error, std::chrono::milliseconds emfile_pause,
                   context_picker pick)
    : pick_(pick ? std::move(pick) : context_picker([&ioc] {
        return placement{&ioc, {}};
      })),
      ex_(ioc.get_executor()),
      acceptor_(ex_),
      pause_timer_(ex_),
      drain_timer_(ex_),
      on_accept_(std::move(on_accept)),
      on_error_(std::move(on_error)),
      emfile_pause_(emfile_pause) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    acceptor_.set_option(asio::ip::v6_only(false));
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor_.local_endpoint();
}

void acceptor::start() {
  asio::post(ex_, [self = shared_from_this()] { self->do_accept(); });
}

void acceptor::stop(std::function<void()> on_stopped) {
  asio::post(ex_, [self = shared_from_this(), done = std::move(on_stopped)]() mutable {
    if (done) self->on_stopped_.push_back(std::move(done));
    if (self->state_ == state::closed) {
      if (!self->accept_pending_) self->finish_stop();
      return;
    }
    if (self->state_ == state::draining) return;  // the drain timer finishes it
    self->state_ = state::draining;
    self->pause_timer_.cancel();
    self->refuse_new_handshakes();
    self->accept_backlog();
    if (!self->accept_pending_) self->do_accept();  // e.g. stopped while paused on EMFILE
    self->drain_timer_.expires_after(k_handshake_grace);
    self->drain_timer_.async_wait([self](const error_code&) { self->close_listener(); });
  });
}

void acceptor::refuse_new_handshakes() {
  // Closing a listening socket resets every connection still in its accept queue or
  // half-way through its handshake (the peer may already see it established). So the
  // kernel is first told to drop new connection requests: a socket filter drops every
  // segment that carries SYN without ACK (offset 13 of the TCP header, which is where a
  // TCP socket filter starts). Final ACKs of handshakes already under way still pass
  // and land in the accept queue, which is emptied until k_handshake_grace has passed.
  // A client whose SYN was dropped retries and is then refused, as with any closed
  // port (a load balancer sends it elsewhere).
  static sock_filter drop_syn[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 2, 0),  // ACK set: keep
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),  // SYN without ACK: drop
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffU),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof drop_syn / sizeof drop_syn[0]), drop_syn};
  ::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

void acceptor::accept_backlog() {
  error_code ec;
  acceptor_.non_blocking(true, ec);
  while (!ec) {
    // Its own endpoint: an async_accept may be pending, and peer_ is where that one's
    // kernel accept writes its peer before its handler runs.
    tcp::endpoint peer;
    placement where = pick_();
    tcp::socket socket(where.context->get_executor());
    acceptor_.accept(socket, peer, ec);  // would_block once the queue is empty
    if (!ec) hand_on(std::move(socket), peer, std::move(where.load));
  }
}

void acceptor::hand_on(tcp::socket socket, const tcp::endpoint& peer, load_token load) {
  auto conn = std::make_shared<connection>(std::move(socket), ++next_id_, peer);
  conn->count_load(std::move(load));
  on_accept_(std::move(conn));
}

void acceptor::close_listener() {
  if (state_ == state::closed) return;
  accept_backlog();
  state_ = state::closed;
  error_code ignored;
  acceptor_.close(ignored);  // aborts a pending async_accept, whose handler finishes
  if (!accept_pending_) finish_stop();
}

void acceptor::finish_stop() {
  auto callbacks = std::move(on_stopped_);
  on_stopped_.clear();
  for (auto& f : callbacks) f();
}

void acceptor::do_accept() {
  if (state_ == state::closed) return;
  accept_pending_ = true;
  // The peer's address comes with the accept (no getpeername). Each I/O context has one
  // thread (net/io_pool), so its plain executor serialises the connection's handlers
  // as a strand would, without a strand's queue and lock.
  pending_ = pick_();
  acceptor_.async_accept(pending_.context->get_executor(), peer_,
                         [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
                           self->on_accepted(ec, std::move(socket));
                         });
}

void acceptor::on_accepted(const error_code& ec, tcp::socket socket) {
  accept_pending_ = false;
  load_token load = std::move(pending_.load);  // counted from the accept on, or dropped
  // An accept that completed while stop() was queued is served, not dropped.
  if (!ec) hand_on(std::move(socket), peer_, std::move(load));
  if (state_ == state::closed) return finish_stop();
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    const int e = ec.value();
    const bool exhausted = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
    if (on_error_) on_error_(ec, exhausted);
    if (exhausted) {
      // Out of descriptors: the pending connection stays in the backlog; retry after a
      // pause rather than spinning on a level-triggered error.
      pause_timer_.expires_after(emfile_pause_);
      pause_timer_.async_wait([self = shared_from_this()](const error_code& tec) {
        if (!tec) self->do_accept();
      });
      return;
    }
  }
  do_accept();
}

}  // namespace omsgw::net
