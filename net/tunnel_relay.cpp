#include "net/tunnel_relay.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "net/http_reply.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

/// A peer that resets or vanishes ends its tunnel; that is not the gateway's error.
close_reason io_failure(const error_code& ec) {
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::connection_aborted) {
    return close_reason::peer_reset;
  }
  return close_reason::io_error;
}

}  // namespace

tunnel_relay::tunnel_relay(setup s, end_handler on_end)
    : client_(std::move(s.client)),
      upstream_(std::move(s.upstream.stream)),
      observer_(s.observer),
      limits_(s.limits),
      enforce_(s.options.enforce),
      s_(std::make_unique<setup>(std::move(s))),
      on_end_(std::move(on_end)),
      timer_(client_.socket().get_executor()),
      tick_(byte_report_tick::of(client_.socket().get_executor())) {}

// Only a relay that was never stopped can still be waiting for the tick. One that
// outlives its context was taken out by the tick's shutdown and does not touch it.
tunnel_relay::~tunnel_relay() {
  if (joined()) tick_.leave(*this);
}

void tunnel_relay::start() {
  const auto now = clock_type::now();
  established_at_ = last_activity_ = now;
  if (s_->options.inspect) {
    inspector_ = std::make_unique<tls::handshake_inspector>(*s_->options.inspect);
    handshake_deadline_ = now + limits_.handshake;
  }
  std::string_view head = connection_established();
  std::string with_early;  // stays empty (no allocation) unless a relay passed bytes on
  if (!s_->upstream.early.empty()) {
    // Bytes a relay proxy passed on after its own 200 (a server that speaks first)
    // follow our 200, after the inspector has seen them.
    const std::string early = std::move(s_->upstream.early);
    const std::size_t pass = inspect(
        direction::to_client, reinterpret_cast<const std::uint8_t*>(early.data()), early.size());
    if (ending_) return;
    with_early.reserve(head.size() + pass);
    with_early.append(head).append(early, 0, pass);
    head = with_early;
    account(direction::to_client, pass);
  }
  arm();
  // The 200 nearly always fits the fresh socket's send buffer: sent here, the tunnel
  // goes on without a trip through the scheduler (async_write would complete through
  // it even when its first send took everything). What does not fit goes out async.
  error_code ec;
  const std::size_t sent = client_.socket().write_some(asio::buffer(head.data(), head.size()), ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    return end(io_failure(ec), ec.message());
  }
  if (!ec && sent == head.size()) return established();
  auto rest = std::make_shared<std::string>(head.substr(ec ? 0 : sent));  // outlives head
  asio::async_write(client_.socket(), asio::buffer(*rest),
                    [self = shared_from_this(), rest](const error_code& wec, std::size_t) {
                      if (self->stopped_) return;
                      if (wec) return self->end(io_failure(wec), wec.message());
                      self->established();
                    });
}

/// The 200 is out: the owner hears of the tunnel, and the pumps start.
void tunnel_relay::established() {
  auto info = s_->info;
  info.seconds = std::chrono::duration<double>(clock_type::now() - s_->request_at).count();
  if (observer_) observer_->on_established(info);
  if (stopped_) return;
  if (alert_from_) return end_after_alert();  // it went out with the 200
  start_pumps();
}

void tunnel_relay::start_pumps() {
  copy_[0].emplace(direction::to_upstream, client_, *upstream_);
  copy_[1].emplace(direction::to_client, *upstream_, client_);
  if (tcp::socket* plain = upstream_->plain_socket()) {
    splice_[0].emplace(direction::to_upstream, client_.socket(), *plain);
    splice_[1].emplace(direction::to_client, *plain, client_.socket());
  } else {
    splice_ok_ = false;  // the upstream transforms bytes (TLS): they must pass through us
  }
  // What start() needed is not kept for the tunnel's life (memory per idle tunnel).
  const auto s = std::move(s_);
  if (s->to_upstream.empty()) {
    run(direction::to_upstream);
    run(direction::to_client);
    return;
  }
  // The client sent tunnel bytes together with its request: inspect and forward them
  // before reading more from it.
  run(direction::to_client);
  if (!stopped_) copy_[0]->run_with(std::move(s->to_upstream), self());
}

void tunnel_relay::run(direction d) {
  if (stopped_) return;
  // Once the handshake is inspected (or never is), bytes no longer need to be seen;
  // bytes the copy pump still holds go first.
  if (!inspector_ && splice_ok_ && !copy_[index(d)]->holding()) {
    return splice_[index(d)]->run(self());
  }
  copy_[index(d)]->run(self());
}

std::size_t tunnel_relay::on_data(direction d, const std::uint8_t* data, std::size_t n) {
  return inspect(d, data, n);
}

/// Feeds the inspector; returns how many of the bytes pass now (the copy pump holds
/// the rest, pump.hpp).
std::size_t tunnel_relay::inspect(direction d, const std::uint8_t* data, std::size_t n) {
  if (!inspector_) return n;
  if (alert_from_) return 0;  // closing once the alert is out: nothing more passes
  const bool client_waited = inspector_->client_waits();
  const auto& r = d == direction::to_upstream ? inspector_->feed_client(data, n)
                                              : inspector_->feed_server(data, n);
  const std::size_t taken = inspector_->taken();
  auto* obs = observer_.get();
  if (r.kind == tls::verdict::need_more) {
    if (inspector_->ended()) {
      // An alert ended the handshake before a verdict (in any mode: it is no policy
      // rule). It goes on to the peer, which then sees the handshake fail; then the
      // tunnel closes (on_cycle_done), so nothing unverified crosses after it.
      alert_from_ = d;
      if (obs) obs->on_inspected(r);
    } else if (client_waited && !inspector_->client_waits()) {
      resume_client();  // a HelloRetryRequest, or TLS <= 1.2 waiting for the Certificate
    }
    return taken;
  }
  const tls::inspection_result result = r;
  // Verdict reached: plain relaying from now on. The timer is left as it is: when it
  // fires at the handshake deadline, it finds no inspector and waits for idleness.
  inspector_.reset();
  if (obs) obs->on_inspected(result);
  if (result.kind == tls::verdict::verified || (!enforce_ && !tls::refused_in_every_mode(result))) {
    resume_client();  // what the client sent after its hello follows (mode: report too)
    return n;
  }
  end(close_reason::inspection_reject, result.detail);
  return 0;
}

/// The client's pump, idle while the client waited for the server's hello, runs again.
/// Posted: this is called while the server's bytes are shown, before they are written,
/// and the client's held bytes are inspected after them.
void tunnel_relay::resume_client() {
  if (!client_held_) return;
  client_held_ = false;
  asio::post(client_.socket().get_executor(),
             [self = shared_from_this()] { self->run(direction::to_upstream); });
}

void tunnel_relay::end_after_alert() {
  end(close_reason::tls_alert, "TLS handshake ended: " + inspector_->result().detail);
}

void tunnel_relay::on_moved(direction d, std::size_t n) { account(d, n); }

void tunnel_relay::on_cycle_done(direction d) {
  if (alert_from_) {
    // The alert's cycle ended with the alert written: close. The other direction's
    // pump only held what it read meanwhile.
    if (*alert_from_ == d) end_after_alert();
    return;
  }
  if (d == direction::to_upstream && inspector_ && inspector_->client_waits()) {
    client_held_ = true;  // until the server's hello is judged (resume_client)
    return;
  }
  run(d);
}

void tunnel_relay::on_end(direction d) {
  ended_[index(d)] = true;
  if (!first_end_) first_end_ = d;
  if (ended_[0] && ended_[1]) {
    // Whoever ended first closed the tunnel; the other side only answered its FIN. The
    // close that follows sends this direction's FIN (nothing is left unread), so no
    // shutdown(2) first: one system call fewer per tunnel.
    end(*first_end_ == direction::to_upstream ? close_reason::client_closed
                                              : close_reason::upstream_closed,
        {});
    return;
  }
  // The first end: pass the half-close on; the other direction keeps flowing.
  if (d == direction::to_upstream) {
    upstream_->shutdown_send();
  } else {
    client_.shutdown_send();
  }
}

void tunnel_relay::on_failed(direction, const error_code& ec) { end(io_failure(ec), ec.message()); }

void tunnel_relay::on_splice_unavailable(direction d) {
  splice_ok_ = false;  // out of descriptors for a pipe, or no splice here: copy instead
  copy_[index(d)]->run(self());
}

void tunnel_relay::account(direction d, std::size_t n) {
  total_[index(d)] += n;
  unreported_[index(d)] += n;
  const auto now = clock_type::now();
  last_activity_ = now;
  tick_.join(*this);  // reported within a second even if the tunnel goes quiet
}

/// One timer for the tunnel's two deadlines, idle and handshake. Activity does not
/// re-arm it: when it fires, it re-arms for what is left (lazy), so a busy tunnel costs
/// no timer operation.
void tunnel_relay::arm() {
  auto at = last_activity_ + limits_.idle;
  if (inspector_ && handshake_deadline_ < at) at = handshake_deadline_;
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec && !self->stopped_) self->on_timer();
  });
}

void tunnel_relay::on_timer() {
  const auto now = clock_type::now();
  if (inspector_ && now >= handshake_deadline_) {
    return end(close_reason::handshake_timeout,
               "TLS handshake not finished within limits.handshake_timeout_s");
  }
  if (now - last_activity_ >= limits_.idle) {
    return end(close_reason::idle_timeout, "no bytes either way within limits.idle_timeout_s");
  }
  arm();
}

void tunnel_relay::report_bytes() {
  if (unreported_[0] == 0 && unreported_[1] == 0) return;
  if (observer_) observer_->on_bytes(unreported_[0], unreported_[1]);
  unreported_[0] = unreported_[1] = 0;
}

void tunnel_relay::end(close_reason reason, std::string detail) {
  if (stopped_) return;
  ending_ = true;
  if (auto on_end = std::move(on_end_)) {
    on_end_ = nullptr;
    on_end(reason, std::move(detail));
  }
}

tunnel_stats tunnel_relay::stop(close_reason reason, std::string detail) {
  tunnel_stats stats;
  if (stopped_) return stats;
  stopped_ = true;
  on_end_ = nullptr;
  timer_.cancel();
  for (int i = 0; i < 2; ++i) {
    if (copy_[i]) copy_[i]->stop();
    if (splice_[i]) splice_[i]->stop();
  }
  client_.close();
  if (upstream_) upstream_->close();
  tick_.leave(*this);
  report_bytes();
  inspector_.reset();
  stats.bytes_to_upstream = total_[0];
  stats.bytes_to_client = total_[1];
  stats.seconds = std::chrono::duration<double>(clock_type::now() - established_at_).count();
  stats.reason = reason;
  stats.detail = std::move(detail);
  return stats;
}

}  // namespace omsgw::net
