#include "worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <queue>
#include <vector>

namespace omsgw::loadgen {
namespace {

using nanos = std::int64_t;
constexpr nanos second = 1'000'000'000;

nanos mono_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<nanos>(ts.tv_sec) * second + ts.tv_nsec;
}

nanos to_nanos(double seconds) { return static_cast<nanos>(seconds * 1e9); }

std::uint64_t micros(nanos d) { return d > 0 ? static_cast<std::uint64_t>(d / 1000) : 0; }

/// One request: a shared blob (head + up to 1 MiB of body) and the total length; a
/// body longer than the blob repeats the blob's body part.
struct request_src {
  std::string blob;
  std::size_t head_len = 0;
  std::uint64_t total = 0;
};

enum class state : std::uint8_t {
  closed,
  tcp_connecting,
  proxy_send,  // writing CONNECT
  proxy_recv,  // reading the proxy's answer
  tls_handshake,
  ready,  // tunnel usable, no request in flight
  req_send,
  resp_recv,
};

bool in_setup(state s) { return s >= state::tcp_connecting && s <= state::tls_handshake; }

struct conn {
  int fd = -1;
  SSL* ssl = nullptr;
  state st = state::closed;
  std::uint32_t gen = 0;        // bumped on close: stale epoll events are ignored
  std::uint64_t global = 0;     // index among all workers' connections
  bool setup_reported = false;  // counted towards "every connection tried once"
  nanos op_start = 0;           // set-up start, or the request's scheduled time
  nanos deadline = 0;           // 0 = none
  const request_src* req = nullptr;
  std::uint64_t woff = 0;  // request bytes written
  int pending = 0;         // length of an SSL_write to repeat after WANT_*
  std::string head;        // proxy answer or response head being read
  bool head_done = false;
  bool close_after = false;
  int status = 0;
  std::uint64_t body_left = 0;
  bool post_due = false;  // a POST came due while the previous was in flight
  nanos due_at = 0;
  std::uint32_t spread = 0;  // which target port (and source address) this set-up uses
};

enum class timer_kind : std::uint8_t { connect, post, verify };

struct timer {
  nanos at;
  std::uint32_t index;
  timer_kind kind;
  bool operator>(const timer& o) const { return at > o.at; }
};

int status_of(const std::string& head) {
  // "HTTP/1.x NNN ..." (RFC 9112 section 4)
  if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0 || head[8] != ' ') return 0;
  int s = 0;
  for (int i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    s = s * 10 + (head[i] - '0');
  }
  return s;
}

/// Value of header `name` (lower-case, with ':') in a response head, or "".
std::string header_value(const std::string& head, const char* name) {
  std::string lower(head.size(), '\0');
  std::transform(head.begin(), head.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string key = std::string("\r\n") + name;
  const auto at = lower.find(key);
  if (at == std::string::npos) return "";
  auto b = at + key.size();
  while (b < head.size() && (head[b] == ' ' || head[b] == '\t')) ++b;
  const auto e = head.find("\r\n", b);
  return lower.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string authority(const host_port& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

/// Sets the port of an IPv4 or IPv6 endpoint.
void set_port(endpoint& e, std::uint16_t port) {
  if (e.addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in&>(e.addr).sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6&>(e.addr).sin6_port = htons(port);
  }
}

/// Binds fd to 127.0.0.(1 + k), leaving the port to connect(2) so it is chosen for the
/// whole address pair (IP_BIND_ADDRESS_NO_PORT).
bool bind_source(int fd, std::uint32_t k) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK + k);
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

void fill_pattern(std::string& s, std::size_t n) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;  // xorshift: incompressible, reproducible
  s.reserve(s.size() + n);
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s.push_back(static_cast<char>(x));
  }
}

class worker {
 public:
  worker(const options& o, const endpoint& hop, const share& mine, const ready_fn& on_ready)
      : o_(o), hop_(hop), mine_(mine), on_ready_(on_ready) {}

  ~worker() {
    for (auto& c : conns_) close_conn(c);
    for (auto* s : sessions_) SSL_SESSION_free(s);
    if (ctx_) SSL_CTX_free(ctx_);
    if (ep_ >= 0) ::close(ep_);
  }

  bool init(std::string& error);
  void run();
  stats& result() { return st_; }

 private:
  enum class phase { setup, measure, drain, done };

  bool counting() const { return phase_ != phase::done; }
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  void request_connect(conn& c);
  void start_waiting();
  void start_connect(conn& c);
  void drive(conn& c, std::uint32_t ev);
  void tunnel_open(conn& c);
  void established(conn& c);
  void start_request(conn& c, const request_src& src, nanos scheduled);
  bool write_some(conn& c);
  bool read_response(conn& c);
  bool consume(conn& c, const char* data, std::size_t n);
  void request_done(conn& c);
  void rate_done(conn& c);
  void fail(conn& c, error_kind k);
  void close_conn(conn& c);
  void on_timer(const timer& t);
  void advance();
  void scan_deadlines();
  void progress();
  void schedule(nanos at, std::uint32_t index, timer_kind k) { timers_.push({at, index, k}); }
  std::uint32_t index_of(const conn& c) const {
    return static_cast<std::uint32_t>(&c - conns_.data());
  }

  const options& o_;
  const endpoint& hop_;
  const share mine_;
  const ready_fn& on_ready_;
  stats st_;
  int ep_ = -1;
  SSL_CTX* ctx_ = nullptr;
  std::vector<conn> conns_;
  std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers_;
  std::vector<std::string> connect_reqs_;  // one per target port
  std::uint64_t set_ups_ = 0;              // set-ups started: picks the port and source
  request_src post_;
  request_src verify_;
  phase phase_ = phase::setup;
  nanos now_ = 0;
  nanos t_start_ = 0;
  nanos t0_ = 0;     // window opens
  nanos t_end_ = 0;  // window closes
  nanos drain_cap_ = 0;
  nanos next_scan_ = 0;
  nanos next_progress_ = 0;
  std::uint64_t setup_pending_ = 0;
  nanos last_setup_ = 0;               // last set-up that finished (either way) during setup
  std::uint64_t connecting_ = 0;       // set-ups in progress
  std::deque<std::uint32_t> waiting_;  // connections waiting for a set-up slot
  std::deque<SSL_SESSION*> sessions_;  // resumable sessions, newest at the back
  std::uint64_t busy_ = 0;             // connections with a request in flight
  std::uint64_t verify_left_ = 0;      // closing requests not yet started (idle)
  bool sni_ = true;
  std::vector<char> scratch_ = std::vector<char>(256 * 1024);
};

bool worker::init(std::string& error) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  if (o_.tls) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) {
      error = "SSL_CTX_new failed";
      return false;
    }
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
    if (o_.resume) {
      // Sessions come from the server's NewSessionTicket messages; a TLS 1.3 ticket
      // should be used once (RFC 8446 appendix C.4), so each is handed out once.
      SSL_CTX_set_session_cache_mode(ctx_,
                                     SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_set_app_data(ctx_, this);
      SSL_CTX_sess_set_new_cb(ctx_, &worker::on_new_session);
    } else {
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    }
    if (!o_.cafile.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, o_.cafile.c_str(), nullptr) != 1) {
        error = "cannot load --cafile " + o_.cafile;
        return false;
      }
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    }
    in6_addr probe{};
    sni_ = ::inet_pton(AF_INET, o_.target.host.c_str(), &probe) != 1 &&
           ::inet_pton(AF_INET6, o_.target.host.c_str(), &probe) != 1;  // RFC 6066 3: no IPs
  }
  const std::string auth = authority(o_.target);
  for (const std::uint16_t port : o_.target_ports) {
    const std::string a = authority({o_.target.host, port});
    connect_reqs_.push_back("CONNECT " + a + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
  }
  post_.blob =
      "POST " + o_.path + " HTTP/1.1\r\nHost: " + auth +
      "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(o_.body) +
      "\r\n\r\n";
  post_.head_len = post_.blob.size();
  post_.total = post_.head_len + o_.body;
  fill_pattern(post_.blob, static_cast<std::size_t>(std::min<std::uint64_t>(o_.body, 1u << 20)));
  verify_.blob = "GET " + o_.path + " HTTP/1.1\r\nHost: " + auth + "\r\n\r\n";
  verify_.head_len = verify_.blob.size();
  verify_.total = verify_.blob.size();
  conns_.resize(static_cast<std::size_t>(mine_.count));
  for (std::size_t i = 0; i < conns_.size(); ++i) conns_[i].global = mine_.first + i;
  st_.connections = mine_.count;
  return true;
}

int worker::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<worker*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  constexpr std::size_t cap = 4096;
  if (self->sessions_.size() >= cap) {
    SSL_SESSION_free(self->sessions_.front());
    self->sessions_.pop_front();
  }
  self->sessions_.push_back(session);
  return 1;  // we keep the reference
}

/// Starts a set-up now, or queues it while --max-pending set-ups are in progress.
void worker::request_connect(conn& c) {
  if (connecting_ >= o_.max_pending) {
    waiting_.push_back(index_of(c));
  } else {
    start_connect(c);
  }
}

void worker::start_waiting() {
  while (!waiting_.empty() && connecting_ < o_.max_pending) {
    conn& c = conns_[waiting_.front()];
    waiting_.pop_front();
    if (c.st == state::closed && (phase_ == phase::setup || phase_ == phase::measure)) {
      start_connect(c);
    }
  }
}

void worker::start_connect(conn& c) {
  c.fd = ::socket(hop_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    fail(c, error_kind::connect);
    return;
  }
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.op_start = now_;
  c.deadline = now_ + to_nanos(o_.timeout_s);
  c.st = state::tcp_connecting;
  c.spread = static_cast<std::uint32_t>(set_ups_++);
  ++connecting_;
  endpoint to = hop_;
  if (!o_.proxy) set_port(to, o_.target_ports[c.spread % o_.target_ports.size()]);
  if ((o_.sources > 1 && !bind_source(c.fd, c.spread % o_.sources)) ||
      (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0 &&
       errno != EINPROGRESS)) {
    fail(c, error_kind::connect);
    return;
  }
  // Edge-triggered: the first EPOLLOUT edge says the connect finished (or failed).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (static_cast<std::uint64_t>(index_of(c)) << 32) | c.gen;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail(c, error_kind::connect);
}

void worker::close_conn(conn& c) {
  if (c.st == state::req_send || c.st == state::resp_recv) --busy_;
  if (in_setup(c.st)) --connecting_;
  if (c.ssl) {
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) {
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
  }
  c.st = state::closed;
  c.deadline = 0;
  c.post_due = false;
  std::string().swap(c.head);
  ++c.gen;
}

void worker::fail(conn& c, error_kind k) {
  if (counting()) ++st_.errors[static_cast<int>(k)];
  if (!c.setup_reported && phase_ == phase::setup && o_.mode != run_mode::rate) {
    c.setup_reported = true;
    --setup_pending_;
    last_setup_ = now_;
  }
  close_conn(c);
  // Agents and bulk streams reconnect like real clients; rate workers go on after a
  // pause (a refused proxy must not turn the generator into a busy loop).
  const bool live = phase_ == phase::setup || phase_ == phase::measure;
  if (live && (o_.mode == run_mode::agents || o_.mode == run_mode::bulk)) {
    schedule(now_ + second, index_of(c), timer_kind::connect);
  } else if (phase_ == phase::measure && o_.mode == run_mode::rate) {
    schedule(now_ + second / 10, index_of(c), timer_kind::connect);
  }
}

void worker::drive(conn& c, std::uint32_t ev) {
  for (;;) {
    switch (c.st) {
      case state::closed:
        return;
      case state::tcp_connecting: {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
          fail(c, error_kind::connect);
          return;
        }
        if (o_.proxy) {
          c.st = state::proxy_send;
          c.woff = 0;
        } else {
          tunnel_open(c);
        }
        break;
      }
      case state::proxy_send: {
        const std::string& req = connect_reqs_[c.spread % connect_reqs_.size()];
        const ssize_t n = ::send(c.fd, req.data() + c.woff, req.size() - c.woff, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) return;
          fail(c, error_kind::proxy);
          return;
        }
        c.woff += static_cast<std::uint64_t>(n);
        if (c.woff == req.size()) {
          c.st = state::proxy_recv;
          c.head.clear();
        }
        break;
      }
      case state::proxy_recv: {
        // The target speaks only after our ClientHello, so nothing past the proxy's
        // answer can arrive yet: reading in chunks cannot swallow tunnel bytes.
        char buf[1024];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
          fail(c, error_kind::proxy);
          return;
        }
        c.head.append(buf, static_cast<std::size_t>(n));
        const auto end = c.head.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (c.head.size() > 16384) {
            fail(c, error_kind::proxy);
            return;
          }
          break;
        }
        if (status_of(c.head) != 200) {
          fail(c, error_kind::proxy);
          return;
        }
        tunnel_open(c);
        break;
      }
      case state::tls_handshake: {
        ERR_clear_error();
        const int r = SSL_do_handshake(c.ssl);
        if (r == 1) {
          established(c);
          break;
        }
        const int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        fail(c, error_kind::tls);
        return;
      }
      case state::ready: {
        if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) return;
        // Nothing is expected between requests except TLS 1.3 session tickets; an
        // end of stream here means the proxy or server dropped the tunnel.
        for (;;) {
          int n;
          if (c.ssl) {
            ERR_clear_error();
            n = SSL_read(c.ssl, scratch_.data(), static_cast<int>(scratch_.size()));
            if (n <= 0) {
              const int e = SSL_get_error(c.ssl, n);
              if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
              fail(c, error_kind::closed);
              return;
            }
          } else {
            const ssize_t r = ::recv(c.fd, scratch_.data(), scratch_.size(), 0);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (r <= 0) {
              fail(c, error_kind::closed);
              return;
            }
          }
        }
      }
      case state::req_send:
        if (!write_some(c)) return;
        c.st = state::resp_recv;
        break;
      case state::resp_recv:
        if (!read_response(c)) return;
        request_done(c);
        break;
    }
    ev = 0;  // later states act on readiness they find, not on this (older) event
  }
}

void worker::tunnel_open(conn& c) {
  if (o_.mode == run_mode::rate && !o_.tls) {
    rate_done(c);
    return;
  }
  if (!o_.tls) {
    established(c);
    return;
  }
  c.ssl = SSL_new(ctx_);
  if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) {
    fail(c, error_kind::tls);
    return;
  }
  if (sni_) SSL_set_tlsext_host_name(c.ssl, o_.target.host.c_str());
  if (o_.resume && !sessions_.empty()) {
    SSL_SESSION* s = sessions_.back();
    sessions_.pop_back();
    SSL_set_session(c.ssl, s);
    SSL_SESSION_free(s);
  }
  if (!o_.cafile.empty()) SSL_set1_host(c.ssl, o_.target.host.c_str());
  SSL_set_connect_state(c.ssl);
  c.st = state::tls_handshake;
}

void worker::established(conn& c) {
  if (c.ssl && counting()) {
    ++st_.handshakes;
    if (SSL_session_reused(c.ssl)) {
      ++st_.resumed;
      // A TLS 1.2 session stays valid for further resumptions: hand it out again.
      if (o_.resume && SSL_version(c.ssl) < TLS1_3_VERSION) {
        if (SSL_SESSION* s = SSL_get1_session(c.ssl)) sessions_.push_back(s);
      }
    }
  }
  if (o_.mode == run_mode::rate) {
    rate_done(c);
    return;
  }
  if (counting()) st_.setup.record(micros(now_ - c.op_start));
  c.deadline = 0;
  --connecting_;
  c.st = state::ready;
  if (!c.setup_reported) {
    c.setup_reported = true;
    --setup_pending_;
    last_setup_ = now_;
  }
  if (phase_ == phase::measure) {
    if (o_.mode == run_mode::bulk) {
      start_request(c, post_, now_);
    } else if (o_.mode == run_mode::agents && c.post_due) {
      c.post_due = false;
      start_request(c, post_, c.due_at);
    }
  }
}

void worker::rate_done(conn& c) {
  if (phase_ == phase::measure && now_ <= t_end_) {
    ++st_.tunnels;
    st_.setup.record(micros(now_ - c.op_start));
  }
  close_conn(c);
  if (phase_ == phase::measure && now_ < t_end_) start_connect(c);
}

void worker::start_request(conn& c, const request_src& src, nanos scheduled) {
  c.req = &src;
  c.woff = 0;
  c.pending = 0;
  c.op_start = scheduled;
  c.deadline = now_ + to_nanos(o_.timeout_s);
  c.head.clear();
  c.head_done = false;
  c.close_after = false;
  c.status = 0;
  c.body_left = 0;
  c.st = state::req_send;
  ++busy_;
}

bool worker::write_some(conn& c) {
  const request_src& r = *c.req;
  while (c.woff < r.total) {
    const char* p;
    std::uint64_t len;
    if (c.woff < r.blob.size()) {
      p = r.blob.data() + c.woff;
      len = std::min<std::uint64_t>(r.blob.size() - c.woff, r.total - c.woff);
    } else {
      const std::uint64_t body_part = r.blob.size() - r.head_len;
      const std::uint64_t pos = (c.woff - r.head_len) % body_part;
      p = r.blob.data() + r.head_len + pos;
      len = std::min<std::uint64_t>(body_part - pos, r.total - c.woff);
    }
    if (c.pending == 0) c.pending = static_cast<int>(std::min<std::uint64_t>(len, 1u << 20));
    ERR_clear_error();
    const int n = SSL_write(c.ssl, p, c.pending);
    if (n <= 0) {
      const int e = SSL_get_error(c.ssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
      fail(c, error_kind::closed);
      return false;
    }
    c.woff += static_cast<std::uint64_t>(n);
    c.pending = 0;
    c.deadline = now_ + to_nanos(o_.timeout_s);
    if (phase_ == phase::measure) st_.bytes += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool worker::read_response(conn& c) {
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(c.ssl, scratch_.data(), static_cast<int>(scratch_.size()));
    if (n <= 0) {
      const int e = SSL_get_error(c.ssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
      fail(c, error_kind::closed);
      return false;
    }
    c.deadline = now_ + to_nanos(o_.timeout_s);
    if (consume(c, scratch_.data(), static_cast<std::size_t>(n))) return true;
    if (c.st == state::closed) return false;
  }
}

/// Feeds response bytes; true once the whole response (head + Content-Length body)
/// has arrived. Responses without Content-Length are treated as errors: the bench
/// endpoints always send it.
bool worker::consume(conn& c, const char* data, std::size_t n) {
  if (!c.head_done) {
    const std::size_t old = c.head.size();
    c.head.append(data, n);
    const auto end = c.head.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
    if (end == std::string::npos) {
      if (c.head.size() > 16384) fail(c, error_kind::http);
      return false;
    }
    c.head_done = true;
    c.status = status_of(c.head);
    const std::string cl = header_value(c.head, "content-length:");
    if (c.status == 0 || cl.empty()) {
      fail(c, error_kind::http);
      return false;
    }
    c.close_after = header_value(c.head, "connection:").find("close") != std::string::npos;
    const std::uint64_t length = std::strtoull(cl.c_str(), nullptr, 10);
    const std::uint64_t extra = c.head.size() - (end + 4);
    c.body_left = length - std::min(length, extra);
    c.head.resize(end + 4);
  } else {
    c.body_left -= std::min<std::uint64_t>(c.body_left, n);
  }
  if (c.body_left > 0) return false;
  if (c.status < 200 || c.status > 299) {
    fail(c, error_kind::http);
    return false;
  }
  return true;
}

void worker::request_done(conn& c) {
  --busy_;
  c.deadline = 0;
  c.st = state::ready;
  if (counting()) {
    ++st_.requests;
    st_.latency.record(micros(now_ - c.op_start));
  }
  if (c.close_after) {  // the server ends keep-alive: reconnect, as an agent would
    close_conn(c);
    if (phase_ == phase::measure && o_.mode != run_mode::idle) request_connect(c);
    return;
  }
  if (phase_ != phase::measure) return;
  if (o_.mode == run_mode::bulk) {
    start_request(c, post_, now_);
  } else if (o_.mode == run_mode::agents && c.post_due) {
    c.post_due = false;
    start_request(c, post_, c.due_at);
  }
}

void worker::on_timer(const timer& t) {
  conn& c = conns_[t.index];
  switch (t.kind) {
    case timer_kind::connect:
      if (c.st == state::closed && (phase_ == phase::setup || phase_ == phase::measure)) {
        if (o_.mode == run_mode::rate) {
          start_connect(c);
        } else {
          request_connect(c);
        }
      }
      return;
    case timer_kind::post: {
      if (phase_ != phase::measure) return;
      const nanos next = t.at + to_nanos(o_.period_s);
      if (next < t_end_) schedule(next, t.index, timer_kind::post);
      if (c.st == state::ready) {
        start_request(c, post_, t.at);
        drive(c, 0);
      } else if (!c.post_due) {  // in flight or reconnecting: send when possible
        c.post_due = true;
        c.due_at = t.at;
      }
      return;
    }
    case timer_kind::verify:
      if (c.st == state::ready) {
        start_request(c, verify_, t.at);
        drive(c, 0);
      }  // else its loss was already counted when the tunnel closed
      --verify_left_;
      return;
  }
}

void worker::scan_deadlines() {
  for (auto& c : conns_) {
    if (c.deadline != 0 && now_ > c.deadline) fail(c, error_kind::timeout);
  }
}

void worker::advance() {
  switch (phase_) {
    case phase::setup: {
      // Set-ups wait for a slot (--max-pending), so an overloaded machine takes longer
      // than --ramp; give up only when nothing has finished for a whole --timeout.
      const nanos quiet_since = std::max(last_setup_, t_start_ + to_nanos(o_.ramp_s));
      if (setup_pending_ > 0 && now_ < quiet_since + to_nanos(o_.timeout_s)) return;
      std::uint64_t up = 0;
      for (const auto& c : conns_) up += c.st == state::ready;
      st_.established = up;
      on_ready_(up);  // blocks until every worker is ready
      now_ = mono_now();
      t0_ = now_;
      t_end_ = t0_ + to_nanos(o_.duration_s);
      phase_ = phase::measure;
      const auto total = static_cast<double>(mine_.total);
      for (auto& c : conns_) {
        const auto frac = static_cast<double>(c.global) / total;
        if (o_.mode == run_mode::agents) {
          schedule(t0_ + to_nanos(o_.period_s * frac), index_of(c), timer_kind::post);
        } else if (o_.mode == run_mode::bulk && c.st == state::ready) {
          start_request(c, post_, now_);
          drive(c, 0);
        } else if (o_.mode == run_mode::rate) {
          start_connect(c);
        }
      }
      return;
    }
    case phase::measure: {
      if (now_ < t_end_) return;
      st_.window_s = static_cast<double>(t_end_ - t0_) / 1e9;
      if (o_.mode == run_mode::agents) {
        phase_ = phase::drain;
        drain_cap_ = now_ + to_nanos(o_.timeout_s);
      } else if (o_.mode == run_mode::idle && o_.tls && o_.verify_idle) {
        phase_ = phase::drain;
        // Spread the closing requests over a second: a thundering herd is not an
        // idle-tunnel measurement.
        const nanos spread = std::min<nanos>(second, to_nanos(o_.duration_s / 4));
        for (auto& c : conns_) {
          const auto frac = static_cast<double>(c.global) / static_cast<double>(mine_.total);
          schedule(now_ + static_cast<nanos>(static_cast<double>(spread) * frac), index_of(c),
                   timer_kind::verify);
          ++verify_left_;
        }
        drain_cap_ = now_ + spread + to_nanos(o_.timeout_s);
      } else {
        phase_ = phase::done;
      }
      return;
    }
    case phase::drain: {
      const bool idle_left = o_.mode == run_mode::idle && verify_left_ > 0;
      if ((busy_ > 0 || idle_left) && now_ < drain_cap_) return;
      for (auto& c : conns_) {
        if (c.st == state::req_send || c.st == state::resp_recv) fail(c, error_kind::timeout);
      }
      phase_ = phase::done;
      return;
    }
    case phase::done:
      return;
  }
}

void worker::progress() {
  static const char* names[] = {"setup", "measure", "drain", "done"};
  std::uint64_t up = 0;
  for (const auto& c : conns_) up += c.st >= state::ready;
  std::fprintf(
      stderr,
      "loadgen[%d] %s: %llu/%llu up, %llu tunnels, %llu requests, %llu errors, %llu "
      "in flight\n",
      static_cast<int>(::getpid()), names[static_cast<int>(phase_)],
      static_cast<unsigned long long>(up), static_cast<unsigned long long>(conns_.size()),
      static_cast<unsigned long long>(st_.tunnels), static_cast<unsigned long long>(st_.requests),
      static_cast<unsigned long long>(st_.error_total()), static_cast<unsigned long long>(busy_));
}

void worker::run() {
  now_ = mono_now();
  t_start_ = now_;
  next_scan_ = now_ + second / 10;
  next_progress_ = now_ + second;
  if (o_.mode != run_mode::rate) {
    setup_pending_ = conns_.size();
    for (auto& c : conns_) {
      const double frac = static_cast<double>(c.global) / static_cast<double>(mine_.total);
      schedule(now_ + to_nanos(o_.ramp_s * frac), index_of(c), timer_kind::connect);
    }
  }
  std::vector<epoll_event> events(1024);
  while (phase_ != phase::done) {
    now_ = mono_now();
    while (!timers_.empty() && timers_.top().at <= now_) {
      const timer t = timers_.top();
      timers_.pop();
      on_timer(t);
    }
    if (now_ >= next_scan_) {
      scan_deadlines();
      next_scan_ = now_ + second / 10;
    }
    if (o_.progress && now_ >= next_progress_) {
      progress();
      next_progress_ = now_ + second;
    }
    start_waiting();
    advance();
    if (phase_ == phase::done) break;
    nanos wake = next_scan_;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().at);
    if (phase_ == phase::measure) wake = std::min(wake, t_end_);
    const nanos wait = std::max<nanos>(0, wake - now_);
    const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>((wait + 999'999) / 1'000'000));
    if (n < 0) continue;  // EINTR
    now_ = mono_now();
    for (int i = 0; i < n; ++i) {
      const auto index = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
      const auto gen = static_cast<std::uint32_t>(events[i].data.u64);
      conn& c = conns_[index];
      if (c.gen != gen || c.st == state::closed) continue;  // an earlier socket's event
      drive(c, events[i].events);
    }
  }
  if (o_.progress) progress();
}

}  // namespace

bool run_worker(const options& opts, const endpoint& first_hop, const share& mine,
                const ready_fn& on_ready, stats& out, std::string& error) {
  worker w(opts, first_hop, mine, on_ready);
  if (!w.init(error)) return false;
  w.run();
  out = w.result();
  return true;
}

}  // namespace omsgw::loadgen
