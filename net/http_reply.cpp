#include "net/http_reply.hpp"

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>
#include <memory>

#include "net/limits.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

std::string_view connection_established() { return "HTTP/1.1 200 Connection established\r\n\r\n"; }

std::string final_reply(int status, std::string_view extra_headers) {
  const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  std::string text = "HTTP/1.1 " + std::to_string(status) + " ";
  text.append(reason.data(), reason.size());
  text += "\r\n";
  text.append(extra_headers.data(), extra_headers.size());
  text += "Content-Length: 0\r\nConnection: close\r\n\r\n";
  return text;
}

namespace {

/// Closers lingering now, all threads (bounded by max_lingering_refusals).
std::atomic<std::size_t> g_lingering{0};

/// Owns the socket from the answer to the close; kept alive by its own handlers.
class closer : public std::enable_shared_from_this<closer> {
 public:
  closer(tcp::socket socket, std::string text, std::function<void()> done)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        text_(std::move(text)),
        done_(std::move(done)) {}
  ~closer() {
    if (lingering_) g_lingering.fetch_sub(1);  // dropped unclosed, at teardown
  }

  void start(std::chrono::steady_clock::duration linger) {
    asio::async_write(socket_, asio::buffer(text_),
                      [self = shared_from_this(), linger](const error_code&, std::size_t) {
                        self->linger(linger);
                      });
  }

 private:
  void linger(std::chrono::steady_clock::duration linger) {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    if (g_lingering.fetch_add(1) >= max_lingering_refusals) {
      g_lingering.fetch_sub(1);
      return close();  // a burst of refusals: the descriptor is needed more
    }
    lingering_ = true;
    timer_.expires_after(linger);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();
    });
    discard();
  }

  void discard() {
    socket_.async_read_some(asio::buffer(sink_, sizeof sink_),
                            [self = shared_from_this()](const error_code& ec, std::size_t) {
                              if (!ec && self->socket_.is_open()) return self->discard();
                              self->close();
                            });
  }

  void close() {
    if (lingering_) g_lingering.fetch_sub(1);
    lingering_ = false;
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    if (auto done = std::move(done_)) {
      done_ = nullptr;
      done();
    }
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string text_;
  std::function<void()> done_;
  bool lingering_ = false;
  char sink_[4096];
};

}  // namespace

void async_reply_and_close(tcp::socket socket, std::string text,
                           std::chrono::steady_clock::duration linger, std::function<void()> done) {
  std::make_shared<closer>(std::move(socket), std::move(text), std::move(done))->start(linger);
}

}  // namespace omsgw::net
