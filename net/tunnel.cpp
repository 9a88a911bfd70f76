#include "net/tunnel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <tuple>
#include <boost/asio/write.hpp>
#include <vector>

#include <cerrno>
#include <cstring>

#include "net/address.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

std::atomic<std::uint64_t> g_live{0};

constexpr std::size_t header_chunk = 4096;
constexpr std::size_t relay_chunk = 32 * 1024;
constexpr auto byte_flush_interval = std::chrono::seconds(1);
constexpr auto reply_linger = std::chrono::seconds(1);

// Relay buffers are taken from a small per-thread pool for the length of one read and
// write, so an idle tunnel holds no buffer at all.
struct buffer_pool {
  std::vector<std::unique_ptr<std::uint8_t[]>> free;
  ~buffer_pool() = default;
};
thread_local buffer_pool t_pool;
constexpr std::size_t pool_cap = 64;

std::unique_ptr<std::uint8_t[]> acquire_buffer() {
  if (!t_pool.free.empty()) {
    auto b = std::move(t_pool.free.back());
    t_pool.free.pop_back();
    return b;
  }
  return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[relay_chunk]);
}

void release_buffer(std::unique_ptr<std::uint8_t[]> b) {
  if (b && t_pool.free.size() < pool_cap) t_pool.free.push_back(std::move(b));
}

// splice(2) moves bytes socket -> pipe -> socket inside the kernel (no copy to user
// space). A pipe costs two descriptors, so a tunnel holds one only while bytes are in
// flight; empty pipes go back to a small per-thread pool. With 1 MiB pipes one wake-up
// moves up to 1 MiB (see shared notes: 0.24 CPU-s/GiB vs 0.6-0.8 for a 16-64 KiB copy).
constexpr std::size_t splice_chunk = 1 << 20;
constexpr int pipe_pool_cap = 16;

struct pipe_pool {
  std::vector<std::pair<int, int>> free;
  ~pipe_pool() {
    for (auto& [r, w] : free) {
      ::close(r);
      ::close(w);
    }
  }
};
thread_local pipe_pool t_pipes;

bool acquire_pipe(int& r, int& w) {
  if (!t_pipes.free.empty()) {
    std::tie(r, w) = t_pipes.free.back();
    t_pipes.free.pop_back();
    return true;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(splice_chunk));  // best effort
  r = fds[0];
  w = fds[1];
  return true;
}

void release_pipe(int& r, int& w, bool empty) {
  if (r < 0) return;
  if (empty && static_cast<int>(t_pipes.free.size()) < pipe_pool_cap) {
    t_pipes.free.emplace_back(r, w);
  } else {
    ::close(r);
    ::close(w);
  }
  r = w = -1;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "Connection established";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

}  // namespace

const char* to_string(connect_failure f) {
  switch (f) {
    case connect_failure::resolve_failed: return "resolve_failed";
    case connect_failure::forbidden_address: return "forbidden_address";
    case connect_failure::refused: return "refused";
    case connect_failure::timeout: return "timeout";
    case connect_failure::relay_refused: return "relay_refused";
  }
  return "unknown";
}

/// A peer that resets or vanishes ends its tunnel; that is not the gateway's error.
close_reason io_failure(const error_code& ec) {
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::connection_aborted) {
    return close_reason::peer_reset;
  }
  return close_reason::io_error;
}

const char* to_string(close_reason r) {
  switch (r) {
    case close_reason::client_closed: return "client_closed";
    case close_reason::upstream_closed: return "upstream_closed";
    case close_reason::idle_timeout: return "idle_timeout";
    case close_reason::handshake_timeout: return "handshake_timeout";
    case close_reason::inspection_reject: return "inspection_reject";
    case close_reason::io_error: return "io_error";
    case close_reason::peer_reset: return "peer_reset";
    case close_reason::shutdown: return "shutdown";
  }
  return "unknown";
}

/// One relay direction: bytes read from `from` are written to `to`.
struct connection::half {
  tcp::socket& from;
  tcp::socket& to;
  std::unique_ptr<std::uint8_t[]> buf;  // copy mode: held only between a read and its write
  bool eof = false;
  int pipe_r = -1;  // splice mode: held only while bytes sit in the pipe
  int pipe_w = -1;
  std::size_t in_pipe = 0;
};

connection::connection(tcp::socket socket, std::uint64_t id)
    : ex_(socket.get_executor()),
      client_socket_(std::move(socket)),
      upstream_socket_(ex_),
      timer_(ex_),
      resolver_(ex_),
      id_(id) {
  error_code ec;
  client_ = client_socket_.remote_endpoint(ec);
  g_live.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() { g_live.fetch_sub(1, std::memory_order_relaxed); }

std::uint64_t connection::live_count() { return g_live.load(std::memory_order_relaxed); }

void connection::set_observer(std::shared_ptr<connection_observer> obs) {
  asio::post(ex_, [self = shared_from_this(), obs = std::move(obs)]() mutable {
    self->observer_ = std::move(obs);
  });
}

// ---------------------------------------------------------------- request phase

void connection::read_proxy_header(std::chrono::seconds timeout, proxy_done done) {
  asio::post(ex_, [self = shared_from_this(), timeout, done = std::move(done)]() mutable {
    if (self->closing_) return;
    self->proxy_reader_ = std::make_unique<proxy_header_reader>();
    self->proxy_done_ = std::move(done);
    self->header_buf_.reset(new char[header_chunk]);
    self->timer_.expires_after(timeout);
    self->timer_.async_wait([self](const error_code& ec) {
      if (ec || self->closing_ || !self->proxy_done_) return;
      error_code ignored;
      self->client_socket_.cancel(ignored);
      auto done2 = std::move(self->proxy_done_);
      self->proxy_done_ = nullptr;
      done2(self->proxy_reader_->outcome(), true);
    });
    self->do_read_proxy();
  });
}

void connection::do_read_proxy() {
  client_socket_.async_read_some(
      asio::buffer(header_buf_.get(), header_chunk),
      [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->closing_ || !self->proxy_done_) return;
        proxy_outcome gone;
        const proxy_outcome* out = &gone;
        if (ec) {
          gone.detail = "client closed before sending a PROXY header (" + ec.message() + ")";
        } else {
          out = &self->proxy_reader_->feed(self->header_buf_.get(), n);
          if (out->status == proxy_status::need_more) {
            self->do_read_proxy();
            return;
          }
          if (out->status == proxy_status::ok) {
            if (out->command == proxy_command::proxy && out->source) self->client_ = *out->source;
            self->prefetched_ = self->proxy_reader_->leftover();
          }
        }
        self->timer_.cancel();
        auto done = std::move(self->proxy_done_);
        self->proxy_done_ = nullptr;
        done(*out, false);
      });
}

void connection::read_request(std::size_t header_limit, std::chrono::seconds timeout) {
  asio::post(ex_, [self = shared_from_this(), header_limit, timeout] {
    if (self->closing_) return;
    self->reader_ = std::make_unique<request_reader>(header_limit);
    if (!self->header_buf_) self->header_buf_.reset(new char[header_chunk]);
    self->timer_.expires_after(timeout);
    self->timer_.async_wait([self](const error_code& ec) {
      if (!ec) self->on_header_timeout();
    });
    if (!self->prefetched_.empty()) {
      // Bytes that came with the PROXY header start the request.
      const std::string early = std::move(self->prefetched_);
      self->prefetched_.clear();
      const auto& out = self->reader_->feed(early.data(), early.size());
      if (out.status != request_status::need_more) {
        self->request_reported_ = true;
        self->request_at_ = clock_type::now();
        self->timer_.cancel();
        if (self->observer_) self->observer_->on_request(out, false);
        return;
      }
    }
    self->do_read_header();
  });
}

void connection::do_read_header() {
  client_socket_.async_read_some(
      asio::buffer(header_buf_.get(), header_chunk),
      [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->closing_ || self->request_reported_) return;
        if (ec) {
          self->request_reported_ = true;
          self->timer_.cancel();
          request_outcome gone;
          gone.detail = "client closed before sending a complete request (" + ec.message() + ")";
          if (self->observer_) self->observer_->on_request(gone, false);
          return;
        }
        const auto& out = self->reader_->feed(self->header_buf_.get(), n);
        if (out.status == request_status::need_more) {
          self->do_read_header();
          return;
        }
        self->request_reported_ = true;
        self->request_at_ = clock_type::now();
        self->timer_.cancel();
        if (self->observer_) self->observer_->on_request(out, false);
      });
}

void connection::on_header_timeout() {
  if (closing_ || request_reported_) return;
  request_reported_ = true;
  error_code ignored;
  client_socket_.cancel(ignored);
  request_outcome late;
  late.detail = "no complete request within limits.header_timeout_s";
  if (observer_) observer_->on_request(late, true);
}

void connection::reply_and_close(int status, std::string extra_headers) {
  asio::post(ex_, [self = shared_from_this(), status, extra = std::move(extra_headers)] {
    if (self->closing_ || self->replying_ || self->tunnel_started_) return;
    self->replying_ = true;
    self->timer_.cancel();
    self->resolver_.cancel();
    error_code ignored;
    self->upstream_socket_.close(ignored);
    auto text = std::make_shared<std::string>();
    *text = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n" + extra +
            "Content-Length: 0\r\nConnection: close\r\n\r\n";
    asio::async_write(self->client_socket_, asio::buffer(*text),
                      [self, text](const error_code&, std::size_t) { self->drain_and_close(); });
  });
}

// After a refusal: stop sending, read and discard what the client still sends for a
// moment, then close. Closing with unread data would make the kernel send RST, and
// the client could lose the answer (RFC 9112 9.6, "tear-down").
void connection::drain_and_close() {
  error_code ignored;
  client_socket_.shutdown(tcp::socket::shutdown_send, ignored);
  if (!header_buf_) header_buf_.reset(new char[header_chunk]);
  timer_.expires_after(reply_linger);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec) return;
    error_code ignored2;
    self->client_socket_.close(ignored2);
  });
  drain_read();
}

void connection::drain_read() {
  client_socket_.async_read_some(
      asio::buffer(header_buf_.get(), header_chunk),
      [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (!ec && self->client_socket_.is_open()) {
          self->drain_read();
          return;
        }
        error_code ignored;
        self->timer_.cancel();
        self->client_socket_.close(ignored);
        self->observer_.reset();
      });
}

// ---------------------------------------------------------------- connect phase

void connection::connect_and_relay(std::string host, std::uint16_t port, policy_ptr policy,
                                   std::chrono::seconds timeout, relay_ptr relay,
                                   tunnel_options tunnel) {
  asio::post(ex_, [self = shared_from_this(), host = std::move(host), port,
                   policy = std::move(policy), timeout, relay = std::move(relay),
                   tunnel = std::move(tunnel)]() mutable {
    if (self->closing_ || self->replying_ || self->tunnel_started_) return;
    self->options_ = std::move(tunnel);
    self->host_ = std::move(host);
    self->port_ = port;
    self->policy_ = std::move(policy);
    self->relay_ = std::move(relay);
    self->timer_.expires_after(timeout);
    self->timer_.async_wait([self](const error_code& ec) {
      if (!ec) self->on_connect_deadline();
    });
    if (self->relay_) {
      self->connect_via_relay();
    } else if (const ip_address* fixed = resolve_override(*self->policy_, self->host_)) {
      self->add_candidate(*fixed, true);
      self->try_next_endpoint();
    } else if (auto literal = parse_ip_literal(self->host_)) {
      self->add_candidate(*literal, false);
      self->try_next_endpoint();
    } else {
      self->resolver_.async_resolve(
          self->host_, std::to_string(port), tcp::resolver::numeric_service,
          [self](const error_code& ec, tcp::resolver::results_type results) {
            self->on_resolved(ec, std::move(results));
          });
    }
  });
}

// Through a relay, the relay resolves and reaches the destination; the gateway only
// resolves the relay, which the operator configured, so its addresses are not
// subject to the SSRF check (a relay on a private network is the normal case).
void connection::connect_via_relay() {
  if (auto literal = parse_ip_literal(host_)) {
    // The one destination address known here: checked as on a direct connection.
    if (!destination_address_allowed(*policy_, *literal, false)) {
      report_connect_failure(connect_failure::forbidden_address,
                             "destination address refused: " + display_address(*literal) +
                                 " is " + to_string(classify_address(*literal)));
      return;
    }
  }
  if (auto literal = parse_ip_literal(relay_->host)) {
    candidates_.emplace_back(*literal, relay_->port);
    try_next_endpoint();
    return;
  }
  resolver_.async_resolve(relay_->host, std::to_string(relay_->port),
                          tcp::resolver::numeric_service,
                          [self = shared_from_this()](const error_code& ec,
                                                      tcp::resolver::results_type results) {
                            self->on_resolved(ec, std::move(results));
                          });
}

void connection::add_candidate(const boost::asio::ip::address& addr, bool from_override) {
  if (destination_address_allowed(*policy_, addr, from_override)) {
    candidates_.emplace_back(addr, port_);
  } else {
    ++forbidden_count_;
    last_connect_error_ = display_address(addr) + " is " + to_string(classify_address(addr));
  }
}

void connection::on_resolved(const error_code& ec, tcp::resolver::results_type results) {
  if (closing_ || connect_done_) return;
  if (ec) {
    report_connect_failure(connect_failure::resolve_failed,
                           (relay_ ? "cannot resolve relay " + relay_->display()
                                   : "cannot resolve " + host_) +
                               ": " + ec.message());
    return;
  }
  for (const auto& entry : results) {
    if (relay_) {
      candidates_.push_back(entry.endpoint());  // the relay's port came with the query
    } else {
      add_candidate(entry.endpoint().address(), false);
    }
  }
  try_next_endpoint();
}

void connection::try_next_endpoint() {
  if (closing_ || connect_done_) return;
  if (next_candidate_ >= candidates_.size()) {
    if (relay_) {
      report_connect_failure(candidates_.empty() ? connect_failure::resolve_failed
                                                 : connect_failure::refused,
                             "cannot connect to relay " + relay_->display() + ": " +
                                 (candidates_.empty() ? "no address" : last_connect_error_));
    } else if (candidates_.empty() && forbidden_count_ > 0) {
      report_connect_failure(connect_failure::forbidden_address,
                             "destination address refused: " + last_connect_error_);
    } else if (candidates_.empty()) {
      report_connect_failure(connect_failure::resolve_failed, "no address for " + host_);
    } else {
      report_connect_failure(connect_failure::refused, "cannot connect to " + host_ + ":" +
                                                           std::to_string(port_) + ": " +
                                                           last_connect_error_);
    }
    return;
  }
  const tcp::endpoint ep = candidates_[next_candidate_++];
  error_code ignored;
  upstream_socket_.close(ignored);
  upstream_socket_.async_connect(ep, [self = shared_from_this(), ep](const error_code& ec) {
    if (self->closing_ || self->connect_done_) return;
    if (ec) {
      self->last_connect_error_ = display_address(ep.address()) + ": " + ec.message();
      self->try_next_endpoint();
      return;
    }
    error_code ignored2;
    self->upstream_socket_.set_option(tcp::no_delay(true), ignored2);
    self->client_socket_.set_option(tcp::no_delay(true), ignored2);
    if (self->relay_) {
      self->start_relay_handshake(ep);  // the deadline keeps running
      return;
    }
    self->on_upstream_ready(ep);
  });
}

void connection::start_relay_handshake(const tcp::endpoint& relay_endpoint) {
  async_relay_handshake(
      upstream_socket_, *relay_, host_, port_,
      [self = shared_from_this(), relay_endpoint](const error_code& ec, relay_answer answer) {
        // A deadline or close already reported (and closed the socket): nothing to add.
        if (self->closing_ || self->connect_done_) return;
        if (ec) {
          self->report_connect_failure(connect_failure::refused,
                                       "relay " + self->relay_->display() +
                                           " failed during CONNECT " + self->host_ + ":" +
                                           std::to_string(self->port_) + ": " + ec.message());
          return;
        }
        if (answer.status != relay_status::established) {
          self->report_connect_failure(connect_failure::relay_refused,
                                       describe(*self->relay_, self->host_, self->port_, answer));
          return;
        }
        self->pending_to_client_ = std::move(answer.leftover);
        self->on_upstream_ready(relay_endpoint);
      });
}

void connection::on_connect_deadline() {
  if (closing_ || connect_done_) return;
  report_connect_failure(connect_failure::timeout,
                         relay_ ? "no tunnel to " + host_ + ":" + std::to_string(port_) +
                                      " through relay " + relay_->display() +
                                      " within limits.connect_timeout_s"
                                : "no connection to " + host_ + ":" + std::to_string(port_) +
                                      " within limits.connect_timeout_s");
}

void connection::report_connect_failure(connect_failure why, std::string detail) {
  connect_done_ = true;
  timer_.cancel();
  resolver_.cancel();
  error_code ignored;
  upstream_socket_.close(ignored);
  if (observer_) observer_->on_connect_failed(why, detail);
}

// ---------------------------------------------------------------- tunnel phase

void connection::on_upstream_ready(const tcp::endpoint& upstream) {
  connect_done_ = true;
  timer_.cancel();
  upstream_endpoint_ = upstream;
  start_tunnel();
}

void connection::start_tunnel() {
  tunnel_started_ = true;
  const auto now = clock_type::now();
  established_at_ = now;
  last_activity_ = now;
  last_flush_ = now;
  if (options_.inspect) {
    inspector_ = std::make_unique<tls::handshake_inspector>(*options_.inspect);
    handshake_deadline_ = now + options_.handshake_timeout;
  }
  if (reader_) {
    pending_to_upstream_ = reader_->leftover();
    reader_.reset();
  }
  header_buf_.reset();
  halves_[0].reset(new half{client_socket_, upstream_socket_, nullptr});
  halves_[1].reset(new half{upstream_socket_, client_socket_, nullptr});
  arm_timer();
  auto head = std::make_shared<std::string>("HTTP/1.1 200 Connection established\r\n\r\n");
  if (!pending_to_client_.empty()) {
    // Bytes a relay proxy passed on after its own 200 (a server that speaks first)
    // follow our 200, after the inspector has seen them.
    const std::string early = std::move(pending_to_client_);
    pending_to_client_.clear();
    if (!inspect_chunk(1, reinterpret_cast<const std::uint8_t*>(early.data()), early.size())) {
      return;
    }
    *head += early;
    total_[1] += early.size();
    unflushed_[1] += early.size();
  }
  asio::async_write(client_socket_, asio::buffer(*head),
                    [self = shared_from_this(), head](const error_code& ec, std::size_t) {
                      if (self->finished_) return;
                      if (ec) {
                        self->finish(io_failure(ec), ec.message());
                        return;
                      }
                      if (self->observer_) {
                        self->observer_->on_established(established_info{
                            self->upstream_endpoint_, self->relay_, self->host_, self->port_,
                            std::chrono::duration<double>(clock_type::now() - self->request_at_)
                                .count()});
                      }
                      self->start_relay();
                    });
}

void connection::start_relay() {
  error_code ignored;
  client_socket_.non_blocking(true, ignored);
  upstream_socket_.non_blocking(true, ignored);
  if (pending_to_upstream_.empty()) {
    pump(0);
    pump(1);
    return;
  }
  // The client sent tunnel bytes together with its request: inspect and forward
  // them before reading more.
  auto data = std::make_shared<std::string>(std::move(pending_to_upstream_));
  pending_to_upstream_.clear();
  if (!inspect_chunk(0, reinterpret_cast<const std::uint8_t*>(data->data()), data->size())) return;
  pump(1);
  asio::async_write(upstream_socket_, asio::buffer(*data),
                    [self = shared_from_this(), data](const error_code& ec, std::size_t n) {
                      if (self->finished_) return;
                      if (ec) {
                        self->finish(io_failure(ec), ec.message());
                        return;
                      }
                      self->on_written(0, n);
                    });
}

void connection::pump(int dir) {
  halves_[dir]->from.async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), dir](const error_code& ec) {
                                  self->on_readable(dir, ec);
                                });
}

void connection::on_readable(int dir, const error_code& wait_ec) {
  if (finished_) return;
  if (wait_ec) {
    finish(io_failure(wait_ec), wait_ec.message());
    return;
  }
  half& h = *halves_[dir];
  // Once the handshake is inspected (or never is), bytes no longer need to be seen:
  // move them with splice(2).
  if (!inspector_ && !no_splice_) {
    splice_in(dir);
    return;
  }
  h.buf = acquire_buffer();
  error_code ec;
  const std::size_t n = h.from.read_some(asio::buffer(h.buf.get(), relay_chunk), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    release_buffer(std::move(h.buf));
    pump(dir);
    return;
  }
  if (ec == asio::error::eof) {
    release_buffer(std::move(h.buf));
    h.eof = true;
    error_code ignored;
    h.to.shutdown(tcp::socket::shutdown_send, ignored);  // pass the half-close on
    if (halves_[1 - dir]->eof) {
      finish(dir == 0 ? close_reason::client_closed : close_reason::upstream_closed);
    }
    return;
  }
  if (ec) {
    release_buffer(std::move(h.buf));
    finish(io_failure(ec), ec.message());
    return;
  }
  if (!inspect_chunk(dir, h.buf.get(), n)) {
    release_buffer(std::move(h.buf));
    return;
  }
  asio::async_write(h.to, asio::buffer(h.buf.get(), n),
                    [self = shared_from_this(), dir](const error_code& ec2, std::size_t written) {
                      release_buffer(std::move(self->halves_[dir]->buf));
                      if (self->finished_) return;
                      if (ec2) {
                        self->finish(io_failure(ec2), ec2.message());
                        return;
                      }
                      self->on_written(dir, written);
                    });
}

void connection::splice_in(int dir) {
  half& h = *halves_[dir];
  if (h.pipe_r < 0 && !acquire_pipe(h.pipe_r, h.pipe_w)) {
    no_splice_ = true;  // out of descriptors for a pipe: this tunnel copies instead
    pump(dir);
    return;
  }
  const ssize_t n = ::splice(h.from.native_handle(), nullptr, h.pipe_w, nullptr, splice_chunk,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    h.in_pipe = static_cast<std::size_t>(n);
    splice_out(dir);
    return;
  }
  const int err = n == 0 ? 0 : errno;
  release_pipe(h.pipe_r, h.pipe_w, true);
  if (n == 0) {  // orderly end of this direction
    h.eof = true;
    error_code ignored;
    h.to.shutdown(tcp::socket::shutdown_send, ignored);
    if (halves_[1 - dir]->eof) {
      finish(dir == 0 ? close_reason::client_closed : close_reason::upstream_closed);
    }
    return;
  }
  if (err == EAGAIN || err == EINTR) {
    pump(dir);
    return;
  }
  if (err == EINVAL || err == ENOSYS) {  // splice unsupported here: buffered copy fallback
    no_splice_ = true;
    pump(dir);
    return;
  }
  finish(io_failure(error_code(err, boost::system::system_category())), std::strerror(err));
}

void connection::splice_out(int dir) {
  half& h = *halves_[dir];
  std::size_t moved = 0;
  while (h.in_pipe > 0) {
    const ssize_t m = ::splice(h.pipe_r, nullptr, h.to.native_handle(), nullptr, h.in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (m > 0) {
      h.in_pipe -= static_cast<std::size_t>(m);
      moved += static_cast<std::size_t>(m);
      continue;
    }
    const int err = m == 0 ? EPIPE : errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      // The receiver is slow: wait until it can take more. Reading from the sender
      // stops meanwhile, so the kernel's socket buffers apply back-pressure.
      if (moved) account(dir, moved);
      h.to.async_wait(tcp::socket::wait_write,
                      [self = shared_from_this(), dir](const error_code& ec) {
                        if (self->finished_) return;
                        if (ec) {
                          self->finish(io_failure(ec), ec.message());
                          return;
                        }
                        self->splice_out(dir);
                      });
      return;
    }
    finish(io_failure(error_code(err, boost::system::system_category())), std::strerror(err));
    return;
  }
  release_pipe(h.pipe_r, h.pipe_w, true);
  account(dir, moved);
  pump(dir);
}

bool connection::inspect_chunk(int dir, const std::uint8_t* data, std::size_t n) {
  if (!inspector_) return true;
  const bool had_ended = inspector_->ended();
  const auto& r = dir == 0 ? inspector_->feed_client(data, n) : inspector_->feed_server(data, n);
  if (r.kind == tls::verdict::need_more) {
    // An alert ended the handshake before a verdict: tell the owner once. The peers
    // close the tunnel; the handshake deadline still bounds it if they do not.
    if (!had_ended && inspector_->ended() && observer_) observer_->on_inspected(r);
    return true;
  }
  const tls::inspection_result result = r;
  inspector_.reset();  // verdict reached: plain relaying from now on
  arm_timer();         // the handshake deadline no longer applies
  if (observer_) observer_->on_inspected(result);
  if (result.kind == tls::verdict::verified) return true;
  if (!options_.enforce && !tls::is_malformed(result)) return true;  // mode: report
  finish(close_reason::inspection_reject, result.detail);
  return false;
}

void connection::on_written(int dir, std::size_t n) {
  account(dir, n);
  pump(dir);
}

void connection::account(int dir, std::size_t n) {
  total_[dir] += n;
  unflushed_[dir] += n;
  const auto now = clock_type::now();
  last_activity_ = now;
  if (now - last_flush_ >= byte_flush_interval) {
    last_flush_ = now;
    flush_bytes(false);
  } else if (timer_deadline_ > last_flush_ + byte_flush_interval) {
    arm_timer();  // make sure these bytes are reported within a second even if quiet
  }
}

void connection::arm_timer() {
  auto deadline = last_activity_ + options_.idle_timeout;
  if (inspector_ && handshake_deadline_ < deadline) deadline = handshake_deadline_;
  if ((unflushed_[0] || unflushed_[1]) && last_flush_ + byte_flush_interval < deadline) {
    deadline = last_flush_ + byte_flush_interval;
  }
  timer_deadline_ = deadline;
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->on_timer();
  });
}

void connection::on_timer() {
  if (finished_) return;
  const auto now = clock_type::now();
  if (now - last_flush_ >= byte_flush_interval) {
    last_flush_ = now;
    flush_bytes(false);
  }
  if (inspector_ && now >= handshake_deadline_) {
    finish(close_reason::handshake_timeout, "TLS handshake not finished within limits.handshake_timeout_s");
    return;
  }
  if (now - last_activity_ >= options_.idle_timeout) {
    finish(close_reason::idle_timeout, "no bytes either way within limits.idle_timeout_s");
    return;
  }
  arm_timer();
}

void connection::flush_bytes(bool final) {
  (void)final;
  if (unflushed_[0] == 0 && unflushed_[1] == 0) return;
  if (observer_) observer_->on_bytes(unflushed_[0], unflushed_[1]);
  unflushed_[0] = unflushed_[1] = 0;
}

void connection::finish(close_reason reason, std::string detail) {
  if (finished_) return;
  finished_ = true;
  error_code ignored;
  timer_.cancel();
  client_socket_.close(ignored);
  upstream_socket_.close(ignored);
  for (auto& h : halves_) {
    if (h) release_pipe(h->pipe_r, h->pipe_w, h->in_pipe == 0);
  }
  flush_bytes(true);
  tunnel_stats stats;
  stats.bytes_to_upstream = total_[0];
  stats.bytes_to_client = total_[1];
  stats.seconds = std::chrono::duration<double>(clock_type::now() - established_at_).count();
  stats.reason = reason;
  stats.detail = std::move(detail);
  inspector_.reset();
  if (auto obs = std::move(observer_)) obs->on_closed(stats);
}

void connection::close() {
  asio::post(ex_, [self = shared_from_this()] {
    if (self->tunnel_started_) {
      self->finish(close_reason::shutdown, "closed by the gateway");
      return;
    }
    if (self->replying_ || self->closing_) return;  // a final answer closes by itself
    self->closing_ = true;
    error_code ignored;
    self->timer_.cancel();
    self->resolver_.cancel();
    self->client_socket_.close(ignored);
    self->upstream_socket_.close(ignored);
    self->observer_.reset();
    self->proxy_done_ = nullptr;  // it may hold its owner's state; it is never called now
  });
}

}  // namespace omsgw::net
