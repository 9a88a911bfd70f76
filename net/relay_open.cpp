#include "net/relay_open.hpp"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "net/address.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using tcp = asio::ip::tcp;

const char* to_string(relay_outcome o) {
  switch (o) {
    case relay_outcome::ok: return "ok";
    case relay_outcome::auth_failed: return "auth_failed";
    case relay_outcome::refused: return "refused";
    case relay_outcome::unreachable: return "unreachable";
    case relay_outcome::timeout: return "timeout";
    case relay_outcome::tls_failed: return "tls_failed";
  }
  return "unknown";
}

bool tries_fallback(relay_outcome o) { return o == relay_outcome::refused || skips_relay(o); }

bool skips_relay(relay_outcome o) {
  return o == relay_outcome::unreachable || o == relay_outcome::timeout ||
         o == relay_outcome::tls_failed;
}

namespace {

// ---------------------------------------------------------------- plain (Beast)

/// The exchange runs on the caller's socket: closing it (the caller's part of an abort)
/// ends it, so there is nothing else to abort.
relay_open_abort open_plain(tcp::socket& socket, std::shared_ptr<const relay_target> relay,
                            std::string host, std::uint16_t port, relay_open_handler done) {
  const relay_target& r = *relay;
  async_relay_handshake(
      socket, r, host, port,
      [relay, host, port, done = std::move(done)](const error_code& ec, relay_answer answer) {
        relay_open_result res;
        if (ec) {
          res.outcome = relay_outcome::unreachable;
          res.detail = "relay " + relay->display() + " failed during CONNECT " +
                       authority_text(host, port) + ": " + ec.message();
        } else if (answer.status == relay_status::established) {
          res.outcome = relay_outcome::ok;
          res.leftover = std::move(answer.leftover);
          res.detail = describe(*relay, host, port, answer);
        } else {
          const bool auth = answer.status == relay_status::refused && answer.code == 407;
          res.outcome = auth ? relay_outcome::auth_failed : relay_outcome::refused;
          res.detail = describe(*relay, host, port, answer);
          if (auth && relay->scheme_name() != "none") {
            res.detail += " (" + relay->scheme_name() + " credentials refused)";
          }
        }
        done(std::move(res));
      });
  return [] {};
}

// ---------------------------------------------------------------- TLS bridge

/// Two connected TCP sockets on 127.0.0.1 (non-blocking, close-on-exec); fds[0] is for
/// libcurl. Not an AF_UNIX socketpair: curl treats the socket as TCP/IP. fds[0] is
/// connected without blocking and its completion never collected, as Asio leaves a
/// socket it connected: libcurl 7.88 calls connect() even on a socket it is told is
/// connected (CURL_SOCKOPT_ALREADY_CONNECTED), and Linux answers that first call with
/// success rather than EISCONN. The accepted peer is checked to be fds[0] (no other
/// local process slipped in between listen and accept).
bool loopback_pair(int fds[2]) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bool ok = ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(l, 1) == 0 &&
            ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  fds[0] = ok ? ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
  ok = fds[0] >= 0 && ::connect(fds[0], reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
       errno == EINPROGRESS;
  sockaddr_in mine{};
  sockaddr_in peer{};
  socklen_t mine_len = sizeof mine;
  socklen_t peer_len = sizeof peer;
  fds[1] = ok ? ::accept4(l, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC)
              : -1;
  ::close(l);
  ok = fds[1] >= 0 && ::getsockname(fds[0], reinterpret_cast<sockaddr*>(&mine), &mine_len) == 0 &&
       mine.sin_port == peer.sin_port && mine.sin_addr.s_addr == peer.sin_addr.s_addr;
  if (!ok) {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
    return false;
  }
  const int on = 1;
  for (int i = 0; i < 2; ++i) ::setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return true;
}

/// TLS to an https:// relay, bridged to one end of a loopback pair: what the tunnel (and
/// first libcurl) writes to the other end goes out encrypted, what the relay sends comes
/// back in clear. It lives as long as bytes flow, kept alive by its own pending
/// operations, and ends when either side closes, or at once when its attempt is
/// abandoned (the handshake then never leads to a CONNECT). A copy path (no splice):
/// every byte is read into user space once more and encrypted/decrypted.
class tls_bridge : public std::enable_shared_from_this<tls_bridge> {
 public:
  tls_bridge(tcp::socket socket, ssl::context& ctx)
      : stream_(std::move(socket), ctx), local_(stream_.get_executor()) {}

  /// Handshakes (SNI, verification against the relay's name); on success returns the
  /// tunnel's end of the socketpair (owned by the caller) through done.
  void start(const std::string& name, std::function<void(int fd, std::string why)> done) {
    if (!parse_ip_literal(name)) SSL_set_tlsext_host_name(stream_.native_handle(), name.c_str());
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification(name));
    stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this(),
                                                       done = std::move(done)](const error_code& ec) {
      // Abandoned: even a handshake that completed just before must not go on.
      if (self->abandoned_) return done(-1, "attempt abandoned");
      if (ec) return done(-1, "TLS handshake failed: " + ec.message());
      int fds[2];
      if (!loopback_pair(fds)) return done(-1, "no loopback pair for the TLS bridge");
      error_code ignored;
      self->local_.assign(tcp::v4(), fds[1], ignored);
      self->from_relay();
      self->to_relay();
      done(fds[0], {});
    });
  }

  /// The attempt is over without a tunnel: both sockets are closed now, not after a
  /// half-close the relay may never answer (which would keep the fd in FIN-WAIT-2).
  void abandon() {
    abandoned_ = true;
    close();
  }

 private:
  void from_relay() {
    stream_.async_read_some(asio::buffer(in_), [self = shared_from_this()](const error_code& ec,
                                                                           std::size_t n) {
      if (ec) return self->end_direction(true);
      asio::async_write(self->local_, asio::buffer(self->in_.data(), n),
                        [self](const error_code& ec2, std::size_t) {
                          if (ec2) return self->close();
                          self->from_relay();
                        });
    });
  }

  void to_relay() {
    local_.async_read_some(asio::buffer(out_), [self = shared_from_this()](const error_code& ec,
                                                                          std::size_t n) {
      if (ec) return self->end_direction(false);
      asio::async_write(self->stream_, asio::buffer(self->out_.data(), n),
                        [self](const error_code& ec2, std::size_t) {
                          if (ec2) return self->close();
                          self->to_relay();
                        });
    });
  }

  /// One direction ended: pass the half-close on; both ended: close.
  void end_direction(bool relay_side) {
    error_code ignored;
    if (relay_side) {
      relay_done_ = true;
      local_.shutdown(asio::socket_base::shutdown_send, ignored);
    } else {
      local_done_ = true;
      stream_.lowest_layer().shutdown(asio::socket_base::shutdown_send, ignored);
    }
    if (relay_done_ && local_done_) close();
  }

  void close() {
    error_code ignored;
    stream_.lowest_layer().close(ignored);
    local_.close(ignored);
  }

  ssl::stream<tcp::socket> stream_;
  tcp::socket local_;
  std::array<char, 16 * 1024> in_{};
  std::array<char, 16 * 1024> out_{};
  bool relay_done_ = false;
  bool local_done_ = false;
  bool abandoned_ = false;
};

/// The socket is the bridge's from here on, so the abort closes the bridge (and with it
/// the relay's socket) and drops libcurl's job once the handshake has started one.
relay_open_abort open_tls(tcp::socket& socket, const tcp::endpoint& relay_ep,
                          std::shared_ptr<const relay_target> relay, std::string host,
                          std::uint16_t port, std::chrono::milliseconds timeout,
                          relay_open_handler done) {
  auto ex = socket.get_executor();
  auto bridge = std::make_shared<tls_bridge>(std::move(socket), *relay->tls_context);
  auto curl_abort = std::make_shared<relay_open_abort>();
  const std::string name = relay->host;
  bridge->start(name, [=, done = std::move(done)](int fd, std::string why) mutable {
    if (fd < 0) {
      relay_open_result r;
      r.outcome = relay_outcome::tls_failed;
      r.detail = "relay " + relay->display() + ": " + why;
      return done(std::move(r));
    }
    // On success result.fd is this same end, handed back by curl for the tunnel.
    *curl_abort =
        curl_open_relay(fd, relay_ep, false, relay, host, port, timeout, ex, std::move(done));
  });
  return [weak = std::weak_ptr<tls_bridge>(bridge), curl_abort] {
    if (auto b = weak.lock()) b->abandon();
    if (*curl_abort) (*curl_abort)();
  };
}

}  // namespace

relay_open_abort async_open_relay(tcp::socket& socket, const tcp::endpoint& relay_ep,
                                  std::shared_ptr<const relay_target> relay, std::string host,
                                  std::uint16_t port, std::chrono::milliseconds timeout,
                                  relay_open_handler done) {
  switch (relay->kind()) {
    case relay_kind::plain:
      return open_plain(socket, std::move(relay), std::move(host), port, std::move(done));
    case relay_kind::tls:
      return open_tls(socket, relay_ep, std::move(relay), std::move(host), port, timeout,
                      std::move(done));
    case relay_kind::curl:
      break;
  }
  const int fd = ::fcntl(socket.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    relay_open_result r;
    r.outcome = relay_outcome::refused;
    r.detail = "relay " + relay->display() + ": out of descriptors";
    asio::post(socket.get_executor(), [r, done = std::move(done)]() { done(r); });
    return [] {};
  }
  return curl_open_relay(fd, relay_ep, true, std::move(relay), std::move(host), port, timeout,
                         socket.get_executor(), std::move(done));
}

}  // namespace omsgw::net
