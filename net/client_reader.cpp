#include "net/client_reader.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t read_chunk = 4096;
const proxy_outcome no_header{};
}  // namespace

void client_reader::read_proxy_header(proxy_handler done) {
  proxy_ = std::make_unique<proxy_header_reader>();
  proxy_done_ = std::move(done);
  read_more();
}

void client_reader::read_request(std::size_t header_limit, request_handler done) {
  request_ = std::make_unique<request_reader>(header_limit);
  request_done_ = std::move(done);
  if (!prefetched_.empty()) {
    const std::string early = std::move(prefetched_);
    prefetched_.clear();
    on_request_bytes(early.data(), early.size());
    return;
  }
  read_more();
}

const proxy_outcome& client_reader::proxy_so_far() const {
  return proxy_ ? proxy_->outcome() : no_header;
}

void client_reader::cancel() {
  ++generation_;
  proxy_done_ = nullptr;
  request_done_ = nullptr;
  error_code ignored;
  socket_.cancel(ignored);
}

std::string client_reader::take_leftover() {
  std::string out = request_ ? request_->leftover() : std::string();
  request_.reset();
  buf_.reset();
  return out;
}

void client_reader::read_more() {
  if (!buf_) buf_.reset(new char[read_chunk]);
  // The handler is kept inside the pending operation, so whatever it captures (the
  // owner) stays alive until the read completes, even after cancel().
  auto keep = proxy_done_ ? std::shared_ptr<void>(std::make_shared<proxy_handler>(proxy_done_))
                          : std::shared_ptr<void>(std::make_shared<request_handler>(request_done_));
  socket_.async_read_some(
      asio::buffer(buf_.get(), read_chunk),
      [this, keep, gen = generation_](const error_code& ec, std::size_t n) {
        if (gen != generation_) return;  // cancelled
        if (ec) {
          const std::string why = " (" + ec.message() + ")";
          if (auto done = std::exchange(proxy_done_, nullptr)) {
            proxy_outcome gone;
            gone.detail = "client closed before sending a PROXY header" + why;
            return done(gone);
          }
          if (auto done = std::exchange(request_done_, nullptr)) {
            request_outcome gone;
            gone.detail = "client closed before sending a complete request" + why;
            done(gone);
          }
          return;
        }
        if (proxy_done_) return on_proxy_bytes(n);
        on_request_bytes(buf_.get(), n);
      });
}

void client_reader::on_proxy_bytes(std::size_t n) {
  const auto& out = proxy_->feed(buf_.get(), n);
  if (out.status == proxy_status::need_more) return read_more();
  if (out.status == proxy_status::ok) prefetched_ = proxy_->leftover();
  std::exchange(proxy_done_, nullptr)(out);
}

void client_reader::on_request_bytes(const char* data, std::size_t n) {
  const auto& out = request_->feed(data, n);
  if (out.status == request_status::need_more) return read_more();
  std::exchange(request_done_, nullptr)(out);
}

}  // namespace omsgw::net
