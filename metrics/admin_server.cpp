#include "metrics/admin_server.hpp"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "metrics/admin_auth.hpp"
#include "net/limits.hpp"

namespace omsgw::metrics {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

/// A request must arrive within this; an answer must be taken within admin_timeout.
constexpr auto admin_read_timeout = std::chrono::seconds(10);
constexpr auto admin_timeout = std::chrono::seconds(30);
constexpr std::size_t admin_body_limit = 64 * 1024;
/// An accept error (EMFILE: the process is out of descriptors) pauses accepting this
/// long: retrying at once would spin a core and still accept nothing.
constexpr auto accept_pause = std::chrono::milliseconds(100);

/// Counts the admin connections open now: held by each session, released with it.
class connection_slot {
 public:
  explicit connection_slot(std::shared_ptr<std::atomic<std::size_t>> live)
      : live_(std::move(live)) {
    live_->fetch_add(1);
  }
  ~connection_slot() { live_->fetch_sub(1); }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

 private:
  std::shared_ptr<std::atomic<std::size_t>> live_;
};

class admin_session : public std::enable_shared_from_this<admin_session> {
 public:
  admin_session(tcp::socket socket, std::shared_ptr<const admin_handlers> handlers,
                std::shared_ptr<std::atomic<std::size_t>> live)
      : slot_(std::move(live)), stream_(std::move(socket)), handlers_(std::move(handlers)) {}

  void start() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(admin_body_limit);
    parser_->header_limit(net::max_header_bytes);
    stream_.expires_after(admin_read_timeout);
    http::async_read(
        stream_, buffer_, *parser_, [self = shared_from_this()](const error_code& ec, std::size_t) {
          if (ec == http::error::header_limit) {
            self->keep_alive_ = false;
            return self->send(431, "request header fields too large\n", "text/plain", "");
          }
          if (ec) return;  // closed, timed out or malformed: drop it
          self->handle(self->parser_->release());
        });
  }

  /// 421 / 401 before routing (admin_auth.hpp); true when the request may go on.
  template <class Reply>
  bool admitted(const http::request<http::string_body>& req, const std::string& target,
                const Reply& reply) {
    if (req.count(http::field::host) > 1 || !admin_host_allowed(req[http::field::host])) {
      reply(421, "misdirected request: use an IP address or localhost\n", "text/plain", "");
      return false;
    }
    const auto& token = handlers_->token;
    if (token && !admin_path_is_open(target) && !token->admits(req[http::field::authorization])) {
      reply(401, "unauthorized: send Authorization: Bearer <admin.token_file's token>\n",
            "text/plain", "");
      return false;
    }
    return true;
  }

  void handle(http::request<http::string_body> req) {
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    const auto target = std::string(req.target().substr(0, req.target().find('?')));
    const auto method = req.method();
    auto self = shared_from_this();
    auto reply = [self](int status, std::string body, std::string type, std::string allow) {
      asio::post(self->stream_.get_executor(),
                 [self, status, body = std::move(body), type = std::move(type),
                  allow = std::move(allow)] { self->send(status, body, type, allow); });
    };
    if (!admitted(req, target, reply)) return;
    route(method, target, reply);
  }

  template <class Reply>
  void route(http::verb method, const std::string& target, const Reply& reply) {
    const bool get = method == http::verb::get || method == http::verb::head;
    if (target == "/metrics" || target == "/healthz" || target == "/readyz" ||
        target == "/status") {
      if (!get) return reply(405, "method not allowed\n", "text/plain", "GET, HEAD");
      if (target == "/metrics") {
        return reply(200, serialize_metrics(*handlers_->registry),
                     "text/plain; version=0.0.4; charset=utf-8", "");
      }
      if (target == "/healthz") return reply(200, "ok\n", "text/plain", "");
      if (target == "/readyz") {
        return handlers_->ready() ? reply(200, "ready\n", "text/plain", "")
                                  : reply(503, "draining\n", "text/plain", "");
      }
      return handlers_->status([reply](int status, std::string body) {
        reply(status, std::move(body), "application/json", "");
      });
    }
    if (target == "/reload") {
      if (method != http::verb::post)
        return reply(405, "method not allowed\n", "text/plain", "POST");
      return handlers_->reload([reply](int status, std::string body) {
        reply(status, std::move(body), "application/json", "");
      });
    }
    reply(404, "not found\n", "text/plain", "");
  }

  void send(int status, const std::string& body, const std::string& type,
            const std::string& allow) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(status), version_);
    res->set(http::field::server, "omsgw");
    res->set(http::field::content_type, type);
    if (!allow.empty()) res->set(http::field::allow, allow);
    if (status == 401) res->set(http::field::www_authenticate, "Bearer");
    if (status == 421) keep_alive_ = false;
    res->keep_alive(keep_alive_);
    if (head_) {
      // HEAD: the GET answer's headers, Content-Length included, and no body
      // (RFC 9110 section 9.3.2); sending the body would desync a keep-alive client.
      res->content_length(body.size());
    } else {
      res->body() = body;
      res->prepare_payload();
    }
    stream_.expires_after(admin_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](const error_code& ec, std::size_t) {
                        if (ec) return;
                        if (!res->keep_alive()) {
                          error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->do_read();
                      });
  }

  connection_slot slot_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<const admin_handlers> handlers_;
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
};

}  // namespace

struct admin_server::impl : std::enable_shared_from_this<admin_server::impl> {
  impl(asio::io_context& ioc, const tcp::endpoint& ep, admin_handlers h)
      : ioc(ioc),
        acceptor(asio::make_strand(ioc)),
        handlers(std::make_shared<const admin_handlers>(std::move(h))) {
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  }
  void do_accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [self = shared_from_this()](const error_code& ec, tcp::socket s) {
                            if (ec == asio::error::operation_aborted || !self->acceptor.is_open())
                              return;
                            if (ec) return self->pause(ec);
                            self->admit(std::move(s));
                            self->do_accept();
                          });
  }

  void admit(tcp::socket s) {
    if (live->load() >= net::max_admin_connections) {
      error_code ignored;
      s.close(ignored);
      if (!full)
        notice("admin endpoint: " + std::to_string(net::max_admin_connections) +
               " connections open; new ones are closed until some end");
      full = true;
      return;
    }
    full = false;
    std::make_shared<admin_session>(std::move(s), handlers, live)->start();
  }

  void pause(const error_code& ec) {
    notice("admin endpoint: accept failed: " + ec.message() + " (pausing accept)");
    pause_timer.expires_after(accept_pause);
    pause_timer.async_wait([self = shared_from_this()](const error_code& tec) {
      if (!tec && self->acceptor.is_open()) self->do_accept();
    });
  }

  void notice(const std::string& line) const {
    if (handlers->problem) handlers->problem(line);
  }

  asio::io_context& ioc;
  tcp::acceptor acceptor;
  asio::steady_timer pause_timer{acceptor.get_executor()};
  std::shared_ptr<const admin_handlers> handlers;
  std::shared_ptr<std::atomic<std::size_t>> live = std::make_shared<std::atomic<std::size_t>>(0);
  bool full = false;  ///< at the limit since the last admitted connection (logged once)
};

admin_server::admin_server(asio::io_context& ioc, const tcp::endpoint& ep, admin_handlers handlers)
    : impl_(std::make_shared<impl>(ioc, ep, std::move(handlers))) {}

admin_server::~admin_server() = default;

tcp::endpoint admin_server::local_endpoint() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

void admin_server::start() {
  asio::post(impl_->acceptor.get_executor(), [i = impl_] { i->do_accept(); });
}

void admin_server::stop() {
  asio::post(impl_->acceptor.get_executor(), [i = impl_] {
    error_code ignored;
    i->acceptor.close(ignored);
    i->pause_timer.cancel();
  });
}

std::string serialize_metrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace omsgw::metrics
