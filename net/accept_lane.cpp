#include "net/accept_lane.hpp"

#include <cerrno>

#include "net/socket_state.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

accept_lane::accept_lane(asio::io_context& ioc, std::size_t index, tcp::acceptor listener,
                         std::shared_ptr<accept_hooks> hooks)
    : index_(index),
      ex_(ioc.get_executor()),
      listener_(std::move(listener)),
      pause_timer_(ex_),
      drain_timer_(ex_),
      hooks_(std::move(hooks)) {}

void accept_lane::start() {
  asio::post(ex_, [self = shared_from_this()] { self->do_accept(); });
}

void accept_lane::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  asio::post(ex_, [self = shared_from_this(), grace, done = std::move(done)]() mutable {
    self->done_ = std::move(done);
    self->state_ = state::draining;
    self->pause_timer_.cancel();
    self->accept_backlog();
    if (!self->accept_pending_) self->do_accept();  // e.g. stopped while paused on EMFILE
    self->drain_timer_.expires_after(grace);
    self->drain_timer_.async_wait([self](const error_code&) { self->close_listener(); });
  });
}

void accept_lane::accept_backlog() {
  error_code ec;
  listener_.non_blocking(true, ec);
  while (!ec) {
    // Its own endpoint: an async_accept may be pending, and peer_ is where that one's
    // kernel accept writes its peer before its handler runs.
    tcp::endpoint peer;
    placement where = hooks_->pick(index_);
    tcp::socket socket(where.context->get_executor());
    listener_.accept(socket, peer, ec);  // would_block once the queue is empty
    if (!ec) hand_on(std::move(socket), peer, std::move(where.load));
  }
}

void accept_lane::hand_on(tcp::socket socket, const tcp::endpoint& peer, load_token load) {
  known_unshared(socket);  // fresh from accept(2): its close need not leave epoll first
  const auto id = hooks_->next_id.fetch_add(1, std::memory_order_relaxed) + 1;
  auto conn = std::make_shared<connection>(std::move(socket), id, peer);
  conn->count_load(std::move(load));
  hooks_->on_accept(std::move(conn));
}

void accept_lane::close_listener() {
  if (state_ == state::closed) return;
  accept_backlog();
  state_ = state::closed;
  error_code ignored;
  listener_.close(ignored);  // aborts a pending async_accept, whose handler finishes
  if (!accept_pending_) finish();
}

void accept_lane::finish() {
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done();
}

void accept_lane::do_accept() {
  if (state_ == state::closed) return;
  accept_pending_ = true;
  // The peer's address comes with the accept (no getpeername). The socket lives on the
  // context pending_ names: as a rule this lane's own (net::io_pool::place).
  pending_ = hooks_->pick(index_);
  listener_.async_accept(pending_.context->get_executor(), peer_,
                         [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
                           self->on_accepted(ec, std::move(socket));
                         });
}

void accept_lane::on_accepted(const error_code& ec, tcp::socket socket) {
  accept_pending_ = false;
  load_token load = std::move(pending_.load);  // counted from the accept on, or dropped
  // An accept that completed while stop() was queued is served, not dropped.
  if (!ec) hand_on(std::move(socket), peer_, std::move(load));
  if (state_ == state::closed) return finish();
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    const int e = ec.value();
    const bool exhausted = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
    if (hooks_->on_error) hooks_->on_error(ec, exhausted);
    if (exhausted) {
      // Out of descriptors: the pending connection stays in the backlog; retry after a
      // pause rather than spinning on a level-triggered error.
      pause_timer_.expires_after(hooks_->emfile_pause);
      pause_timer_.async_wait([self = shared_from_this()](const error_code& tec) {
        if (!tec) self->do_accept();
      });
      return;
    }
  }
  do_accept();
}

}  // namespace omsgw::net
