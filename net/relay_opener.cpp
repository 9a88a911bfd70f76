#include "net/relay_opener.hpp"

#include "net/address.hpp"

namespace omsgw::net {
using boost::system::error_code;

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

std::shared_ptr<relay_opener> make_relay_opener(relay_ptr relay) {
  return std::make_shared<basic_relay_opener>(std::move(relay));
}

void basic_relay_opener::async_open(tcp::socket socket, std::string host, std::uint16_t port,
                                    handler done) {
  socket_ = std::make_unique<tcp::socket>(std::move(socket));
  done_ = std::move(done);
  error_code ignored;
  const tcp::endpoint relay_endpoint = socket_->remote_endpoint(ignored);
  async_relay_handshake(
      *socket_, *relay_, host, port,
      [self = shared_from_this(), relay_endpoint, host, port](const error_code& ec,
                                                              relay_answer answer) {
        if (!self->done_) return;  // cancelled: the owner has moved on
        auto done = std::move(self->done_);
        self->done_ = nullptr;
        const relay_target& relay = *self->relay_;
        upstream_outcome out;
        out.endpoint = relay_endpoint;
        if (ec) {
          out.why = connect_failure::refused;
          out.detail = "relay " + relay.display() + " failed during CONNECT " +
                       authority_text(host, port) + ": " + ec.message();
        } else if (answer.status != relay_status::established) {
          out.why = connect_failure::relay_refused;
          out.detail = describe(relay, host, port, answer);
        } else {
          out.stream = std::make_unique<socket_stream>(std::move(*self->socket_));
          out.early = std::move(answer.leftover);
        }
        done(std::move(out));
      });
}

void basic_relay_opener::cancel() {
  done_ = nullptr;
  error_code ignored;
  if (socket_) socket_->close(ignored);
}

}  // namespace omsgw::net
