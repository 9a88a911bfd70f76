#include "net/relay_opener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace omsgw::net {
using boost::system::error_code;

const char* to_string(connect_failure f) {
  switch (f) {
    case connect_failure::resolve_failed:
      return "resolve_failed";
    case connect_failure::forbidden_address:
      return "forbidden_address";
    case connect_failure::refused:
      return "refused";
    case connect_failure::timeout:
      return "timeout";
    case connect_failure::relay_refused:
      return "relay_refused";
    case connect_failure::relay_tls_failed:
      return "relay_tls_failed";
    case connect_failure::out_of_descriptors:
      return "out_of_descriptors";
  }
  return "unknown";
}

namespace {
/// What the client is answered (502/504) when an attempt through a relay fails.
connect_failure failure_of(relay_outcome o) {
  switch (o) {
    case relay_outcome::auth_failed:
    case relay_outcome::refused:
      return connect_failure::relay_refused;
    case relay_outcome::tls_failed:
      return connect_failure::relay_tls_failed;
    case relay_outcome::timeout:
      return connect_failure::timeout;
    case relay_outcome::ok:
    case relay_outcome::unreachable:
      break;
  }
  return connect_failure::refused;
}
}  // namespace

std::shared_ptr<relay_opener> make_relay_opener(relay_ptr relay,
                                                std::chrono::milliseconds timeout) {
  return std::make_shared<relay_open_opener>(std::move(relay), timeout);
}

void relay_open_opener::async_open(tcp::socket socket, std::string host, std::uint16_t port,
                                   handler done) {
  socket_ = std::make_unique<tcp::socket>(std::move(socket));
  done_ = std::move(done);
  error_code ignored;
  const tcp::endpoint relay_endpoint = socket_->remote_endpoint(ignored);
  abort_ = async_open_relay(*socket_, relay_endpoint, relay_, std::move(host), port, timeout_,
                            [self = shared_from_this(), relay_endpoint](relay_open_result r) {
                              self->on_opened(relay_endpoint, std::move(r));
                            });
}

void relay_open_opener::on_opened(const tcp::endpoint& relay_endpoint, relay_open_result r) {
  if (!done_) {  // cancelled: the owner has moved on; a late socket is ours to close
    if (r.fd >= 0) ::close(r.fd);
    return;
  }
  auto done = std::move(done_);
  done_ = nullptr;
  // The exchange has ended. A failed one over TLS still has its bridge, which would
  // only half-close towards the relay: closed now. A tunnel's bridge is left alone.
  if (auto abort = std::exchange(abort_, nullptr); abort && r.outcome != relay_outcome::ok) {
    abort();
  }
  error_code ignored;
  if (r.fd >= 0) {
    // libcurl reconnected, or the tunnel goes through the TLS bridge: that is our socket.
    tcp::socket replaced(socket_->get_executor());
    replaced.assign(relay_endpoint.protocol(), r.fd, ignored);
    socket_->close(ignored);
    *socket_ = std::move(replaced);
  }
  upstream_outcome out;
  out.endpoint = relay_endpoint;
  out.relay = relay_;
  out.relay_result = r.outcome;
  if (r.outcome == relay_outcome::ok) {
    out.stream = std::make_unique<socket_stream>(std::move(*socket_));
    out.early = std::move(r.leftover);
  } else {
    out.why = failure_of(r.outcome);
    out.detail = std::move(r.detail);
  }
  done(std::move(out));
}

void relay_open_opener::cancel() {
  done_ = nullptr;
  if (auto abort = std::exchange(abort_, nullptr)) abort();
  close_socket();
}

/// Shut down before the close: libcurl may still hold a duplicate of this descriptor,
/// and only a shutdown ends the connection for both (nothing more reaches the relay).
void relay_open_opener::close_socket() {
  if (!socket_ || !socket_->is_open()) return;
  ::shutdown(socket_->native_handle(), SHUT_RDWR);
  error_code ignored;
  socket_->close(ignored);
}

}  // namespace omsgw::net
