#include "net/upstream_connector.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

upstream_connector::upstream_connector(asio::any_io_executor ex, std::shared_ptr<resolver> dns)
    : ex_(ex), dns_(std::move(dns)), socket_(ex) {}

void upstream_connector::start(upstream_target target, handler done) {
  target_ = std::move(target);
  done_ = std::move(done);
  const auto& t = target_;
  if (t.relay) {
    // Through a relay, the relay resolves and reaches the destination; the gateway
    // only resolves the relay, which the operator configured, so its addresses are
    // not subject to the SSRF guard (a relay on a private network is the normal
    // case). The one destination address known here, an IP literal, is checked.
    if (auto literal = parse_ip_literal(t.host);
        literal && !destination_address_allowed(*t.policy, *literal, false)) {
      return fail(connect_failure::forbidden_address,
                  "destination address refused: " + display_address(*literal) + " is " +
                      to_string(classify_address(*literal)));
    }
    if (auto literal = parse_ip_literal(t.relay->host)) {
      candidates_.emplace_back(*literal, t.relay->port);
      return try_next();
    }
    return resolve(t.relay->host);
  }
  // Pins (upstream.resolve) and IP literals never reach the resolver.
  if (const ip_address* pinned = resolve_override(*t.policy, t.host)) {
    add_candidate(*pinned, true);
    return try_next();
  }
  if (auto literal = parse_ip_literal(t.host)) {
    add_candidate(*literal, false);
    return try_next();
  }
  resolve(t.host);
}

void upstream_connector::resolve(const std::string& name) {
  dns_->async_resolve(name, target_.client_key, ex_,
                      [self = shared_from_this()](error_code ec, std::vector<ip_address> found) {
                        self->on_resolved(ec, found);
                      });
}

void upstream_connector::on_resolved(const error_code& ec, const std::vector<ip_address>& found) {
  if (!done_) return;
  if (ec) {
    const auto& t = target_;
    return fail(ec == dns_error::timeout ? connect_failure::timeout
                                         : connect_failure::resolve_failed,
                (t.relay ? "cannot resolve relay " + t.relay->display()
                         : "cannot resolve " + t.host) +
                    ": " + ec.message());
  }
  for (const auto& addr : found) {
    if (target_.relay) {
      candidates_.emplace_back(addr, target_.relay->port);
    } else {
      add_candidate(addr, false);
    }
  }
  try_next();
}

/// The address guard, applied to each candidate before it can be tried.
void upstream_connector::add_candidate(const ip_address& addr, bool from_override) {
  if (destination_address_allowed(*target_.policy, addr, from_override)) {
    candidates_.emplace_back(addr, target_.port);
  } else {
    ++forbidden_;
    last_error_ = display_address(addr) + " is " + to_string(classify_address(addr));
  }
}

void upstream_connector::try_next() {
  if (!done_) return;
  if (next_ >= candidates_.size()) return fail_exhausted();
  const tcp::endpoint ep = candidates_[next_++];
  error_code ignored;
  socket_.close(ignored);
  socket_.async_connect(ep, [self = shared_from_this(), ep](const error_code& ec) {
    if (!self->done_) return;
    if (ec) {
      self->last_error_ = display_address(ep.address()) + ": " + ec.message();
      return self->try_next();
    }
    self->on_connected(ep);
  });
}

void upstream_connector::on_connected(const tcp::endpoint& ep) {
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (!target_.relay) {
    upstream_outcome out;
    out.endpoint = ep;
    out.stream = std::make_unique<socket_stream>(std::move(socket_));
    return finish(std::move(out));
  }
  opener_ = make_relay_opener(target_.relay);
  opener_->async_open(std::move(socket_), target_.host, target_.port,
                      [self = shared_from_this()](upstream_outcome out) {
                        self->finish(std::move(out));
                      });
}

void upstream_connector::fail_exhausted() {
  const auto& t = target_;
  if (t.relay) {
    return fail(candidates_.empty() ? connect_failure::resolve_failed : connect_failure::refused,
                "cannot connect to relay " + t.relay->display() + ": " +
                    (candidates_.empty() ? "no address" : last_error_));
  }
  if (candidates_.empty() && forbidden_ > 0) {
    return fail(connect_failure::forbidden_address, "destination address refused: " + last_error_);
  }
  if (candidates_.empty()) return fail(connect_failure::resolve_failed, "no address for " + t.host);
  fail(connect_failure::refused,
       "cannot connect to " + t.host + ":" + std::to_string(t.port) + ": " + last_error_);
}

void upstream_connector::fail(connect_failure why, std::string detail) {
  upstream_outcome out;
  out.why = why;
  out.detail = std::move(detail);
  finish(std::move(out));
}

void upstream_connector::finish(upstream_outcome out) {
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  opener_.reset();
  error_code ignored;
  socket_.close(ignored);
  done(std::move(out));
}

void upstream_connector::cancel() {
  done_ = nullptr;
  if (opener_) opener_->cancel();
  opener_.reset();
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace omsgw::net
