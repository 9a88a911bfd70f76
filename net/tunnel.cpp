#include "net/tunnel.hpp"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "net/http_reply.hpp"
#include "net/tunnel_relay.hpp"
#include "net/upstream_connector.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {
std::atomic<std::uint64_t> g_live{0};

std::shared_ptr<resolver> resolver_of(const tcp::socket::executor_type& ex) {
  return resolver_for(asio::query(ex, asio::execution::context));
}
}  // namespace

const char* to_string(close_reason r) {
  switch (r) {
    case close_reason::client_closed:
      return "client_closed";
    case close_reason::upstream_closed:
      return "upstream_closed";
    case close_reason::idle_timeout:
      return "idle_timeout";
    case close_reason::handshake_timeout:
      return "handshake_timeout";
    case close_reason::inspection_reject:
      return "inspection_reject";
    case close_reason::tls_alert:
      return "tls_alert";
    case close_reason::io_error:
      return "io_error";
    case close_reason::peer_reset:
      return "peer_reset";
    case close_reason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

connection::connection(tcp::socket socket, std::uint64_t id, std::shared_ptr<resolver> dns)
    : connection(std::move(socket), id, tcp::endpoint{}, std::move(dns)) {
  error_code ec;
  client_ = client_socket_.remote_endpoint(ec);
}

connection::connection(tcp::socket socket, std::uint64_t id, const tcp::endpoint& peer,
                       std::shared_ptr<resolver> dns)
    : ex_(socket.get_executor()),
      client_socket_(std::move(socket)),
      timer_(ex_),
      id_(id),
      client_(peer),
      dns_(dns ? std::move(dns) : resolver_of(ex_)),
      reader_(client_socket_) {
  // Non-blocking once, here: Asio's first operation would set it too, and the relay's
  // direct reads and writes (net/byte_stream) then find it set (one ioctl, not two).
  error_code ignored;
  client_socket_.non_blocking(true, ignored);
  g_live.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() { g_live.fetch_sub(1, std::memory_order_relaxed); }

asio::io_context& connection::io_context() const {
  return static_cast<asio::io_context&>(asio::query(ex_, asio::execution::context));
}

std::uint64_t connection::live_count() { return g_live.load(std::memory_order_relaxed); }

void connection::set_observer(std::shared_ptr<connection_observer> obs) {
  asio::post(ex_, [self = shared_from_this(), obs = std::move(obs)]() mutable {
    self->observer_ = std::move(obs);
  });
}

// ---------------------------------------------------------------- public calls

void connection::read_proxy_header(std::chrono::seconds timeout, proxy_done done) {
  asio::post(ex_, [self = shared_from_this(), timeout, done = std::move(done)]() mutable {
    self->deadlines_.proxy_header = timeout;
    self->start_proxy_header(std::move(done));
  });
}

void connection::read_request(std::size_t header_limit, std::chrono::seconds timeout) {
  asio::post(ex_, [self = shared_from_this(), header_limit, timeout] {
    self->deadlines_.request_header = timeout;
    self->start_request(header_limit);
  });
}

void connection::begin(std::shared_ptr<connection_observer> obs, std::size_t header_limit,
                       std::chrono::seconds timeout) {
  // Inline when the accepting thread is this connection's own (no scheduler trip).
  asio::dispatch(
      ex_, [self = shared_from_this(), obs = std::move(obs), header_limit, timeout]() mutable {
        self->observer_ = std::move(obs);
        self->deadlines_.request_header = timeout;
        self->start_request(header_limit);
      });
}

void connection::reply_and_close(int status, std::string extra_headers) {
  asio::post(ex_, [self = shared_from_this(), status, extra = std::move(extra_headers)]() mutable {
    self->reply(status, std::move(extra));
  });
}

void connection::connect_and_relay(std::string host, std::uint16_t port, policy_ptr policy,
                                   std::chrono::seconds timeout, relay_ptr relay,
                                   tunnel_options tunnel) {
  asio::post(ex_,
             [self = shared_from_this(), host = std::move(host), port, policy = std::move(policy),
              timeout, relay = std::move(relay), tunnel = std::move(tunnel)]() mutable {
               self->deadlines_.connect = timeout;
               self->deadlines_.idle = tunnel.idle_timeout;
               self->deadlines_.handshake = tunnel.handshake_timeout;
               self->options_ = std::move(tunnel);
               self->start_connect(std::move(host), port, std::move(policy), std::move(relay));
             });
}

void connection::close() {
  if (ended_.load(std::memory_order_acquire)) return;
  asio::post(ex_, [self = shared_from_this()] {
    if (self->phase_ == phase::replying) return;  // a final answer closes by itself
    self->close(close_reason::shutdown, "closed by the gateway");
  });
}

// ---------------------------------------------------------------- phases

void connection::start_proxy_header(proxy_done done) {
  if (phase_ != phase::accepted) return;
  phase_ = phase::proxy_header;
  proxy_done_ = std::move(done);
  arm(clock_type::now() + deadlines_.proxy_header);
  reader_.read_proxy_header([self = shared_from_this()](const proxy_outcome& out) {
    if (self->phase_ != phase::proxy_header) return;
    self->timer_.cancel();
    self->phase_ = phase::accepted;  // the owner decides what comes next
    if (out.status == proxy_status::ok && out.command == proxy_command::proxy && out.source) {
      self->client_ = *out.source;
    }
    std::exchange(self->proxy_done_, nullptr)(out, false);
  });
}

void connection::start_request(std::size_t header_limit) {
  if (phase_ != phase::accepted) return;
  phase_ = phase::request;
  arm(clock_type::now() + deadlines_.request_header);
  reader_.read_request(header_limit, [self = shared_from_this()](const request_outcome& out) {
    if (self->phase_ != phase::request) return;
    if (out.status != request_status::need_more) self->request_at_ = clock_type::now();
    self->report_request(out, false);
  });
}

void connection::report_request(const request_outcome& outcome, bool timed_out) {
  timer_.cancel();
  phase_ = phase::deciding;
  if (observer_) apply(observer_->on_request(outcome, timed_out));
}

void connection::apply(next_step step) {
  switch (step.what) {
    case next_step::kind::wait:
      return;
    case next_step::kind::reply:
      return reply(step.status, std::move(step.headers));
    case next_step::kind::close:
      return close(close_reason::client_closed, {});
    case next_step::kind::connect:
      deadlines_.connect = step.timeout;
      deadlines_.idle = step.tunnel.idle_timeout;
      deadlines_.handshake = step.tunnel.handshake_timeout;
      options_ = std::move(step.tunnel);
      return start_connect(std::move(step.host), step.port, std::move(step.policy),
                           std::move(step.relay));
  }
}

void connection::finish_observer() {
  if (auto obs = std::move(observer_)) obs->on_finished();
  observer_.reset();
}

void connection::start_connect(std::string host, std::uint16_t port, policy_ptr policy,
                               relay_ptr relay) {
  if (phase_ != phase::deciding) return;
  phase_ = phase::connecting;
  host_ = std::move(host);
  port_ = port;
  // The connector keeps the connect deadline (per relay tried) and picks the route.
  auto connector = std::make_shared<upstream_connector>(ex_, dns_);
  connector_ = connector;
  upstream_target target{host_,
                         port_,
                         std::move(policy),
                         std::move(relay),
                         display_address(client_.address()),
                         deadlines_.connect,
                         nullptr};
  if (target.relay) {  // relay attempts are all it reports (a std::function allocates)
    target.on_relay_attempt = [weak = weak_from_this()](const relay_attempt& a) {
      auto self = weak.lock();
      if (self && self->observer_) self->observer_->on_relay_attempt(a);
    };
  }
  connector->start(std::move(target), [self = shared_from_this()](upstream_outcome out) {
    self->on_upstream(std::move(out));
  });
}

void connection::on_upstream(upstream_outcome out) {
  if (phase_ != phase::connecting) return;
  timer_.cancel();
  connector_.reset();
  if (!out.ok()) return report_connect_failure(out.why, out.detail);
  error_code ignored;
  client_socket_.set_option(tcp::no_delay(true), ignored);
  phase_ = phase::tunnel;
  // out.relay: after bypass and fallback, the relay actually used (null: direct).
  const established_info info{out.endpoint, out.relay, host_, port_, 0};
  tunnel_relay::setup s{std::move(client_socket_),
                        std::move(out),
                        reader_.take_leftover(),
                        info,
                        request_at_,
                        std::move(options_),
                        deadlines_,
                        observer_};
  tunnel_ = std::make_shared<tunnel_relay>(
      std::move(s), [self = shared_from_this()](close_reason reason, std::string detail) {
        self->close(reason, std::move(detail));
      });
  tunnel_->start();
}

void connection::report_connect_failure(connect_failure why, const std::string& detail) {
  phase_ = phase::deciding;  // the owner answers (502/504/403)
  if (observer_) apply(observer_->on_connect_failed(why, detail));
}

void connection::reply(int status, std::string extra_headers) {
  if (phase_ == phase::tunnel || phase_ == phase::replying || phase_ == phase::closed) return;
  phase_ = phase::replying;
  ended_.store(true, std::memory_order_release);
  timer_.cancel();
  reader_.cancel();
  if (connector_) connector_->cancel();
  connector_.reset();
  // The closer owns the socket from here; the connection keeps nothing to close.
  async_reply_and_close(std::move(client_socket_), final_reply(status, extra_headers),
                        deadlines_.reply_linger);
  finish_observer();
}

// ---------------------------------------------------------------- deadlines, close

/// The phase timer: one deadline per phase before the tunnel, from deadlines_.
void connection::arm(clock_type::time_point at) {
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this(), p = phase_](const error_code& ec) {
    if (!ec && self->phase_ == p) self->on_deadline();
  });
}

void connection::on_deadline() {
  switch (phase_) {
    case phase::proxy_header: {
      reader_.cancel();
      phase_ = phase::accepted;
      const proxy_outcome so_far = reader_.proxy_so_far();
      std::exchange(proxy_done_, nullptr)(so_far, true);
      return;
    }
    case phase::request: {
      reader_.cancel();
      request_outcome late;
      late.detail = "no complete request within limits.header_timeout_s";
      return report_request(late, true);
    }
    default:
      return;
  }
}

void connection::close(close_reason reason, std::string detail) {
  if (phase_ == phase::closed) return;
  const bool was_tunnel = phase_ == phase::tunnel;
  phase_ = phase::closed;
  ended_.store(true, std::memory_order_release);
  timer_.cancel();
  reader_.cancel();
  if (connector_) connector_->cancel();
  connector_.reset();
  error_code ignored;
  client_socket_.close(ignored);
  proxy_done_ = nullptr;
  if (!was_tunnel) return finish_observer();
  auto obs = std::move(observer_);
  observer_.reset();
  auto tunnel = std::move(tunnel_);
  const tunnel_stats stats = tunnel->stop(reason, std::move(detail));
  if (obs) obs->on_closed(stats);
}

}  // namespace omsgw::net
