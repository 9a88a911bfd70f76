#include "net/upstream_connector.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>

#include "net/host_match.hpp"
#include "net/relay_health.hpp"
#include "net/socket_state.hpp"

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

bool bypasses_relay(const relay_target& relay, const std::string& host) {
  for (const auto& pattern : relay.bypass) {
    if (host_matches(pattern, host)) return true;
  }
  return false;
}

upstream_connector::upstream_connector(asio::any_io_executor ex, std::shared_ptr<resolver> dns)
    : ex_(ex), dns_(std::move(dns)), socket_(ex), deadline_(ex) {}

void upstream_connector::start(upstream_target target, handler done) {
  target_ = std::move(target);
  done_ = std::move(done);
  if (target_.relay && bypasses_relay(*target_.relay, target_.host)) target_.relay.reset();
  if (target_.relay) {
    target_.relay = relay_health::instance().pick(target_.relay, clock_type::now());
  }
  arm_deadline();
  if (!target_.relay) return connect_direct();
  // Through a relay, the relay resolves and reaches the destination; the gateway only
  // resolves the relay, which the operator configured, so its addresses are not
  // subject to the SSRF guard (a relay on a private network is the normal case). The
  // one destination address known here, an IP literal, is checked.
  if (auto literal = parse_ip_literal(target_.host);
      literal && !destination_address_allowed(*target_.policy, *literal, false)) {
    return fail(connect_failure::forbidden_address,
                "destination address refused: " + display_address(*literal) + " is " +
                    to_string(classify_address(*literal)));
  }
  connect_via_relay();
}

void upstream_connector::connect_direct() {
  const auto& t = target_;
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

/// The relay's name is resolved like a destination's: upstream.resolve pins apply.
void upstream_connector::connect_via_relay() {
  const relay_target& relay = *target_.relay;
  if (const ip_address* pinned = resolve_override(*target_.policy, relay.host)) {
    candidates_.emplace_back(*pinned, relay.port);
    return try_next();
  }
  if (auto literal = parse_ip_literal(relay.host)) {
    candidates_.emplace_back(*literal, relay.port);
    return try_next();
  }
  resolve(relay.host);
}

void upstream_connector::arm_deadline() {
  deadline_.expires_after(target_.timeout);
  deadline_.async_wait([self = shared_from_this(), attempt = attempt_](const error_code& ec) {
    if (!ec && attempt == self->attempt_) self->on_deadline();
  });
}

void upstream_connector::on_deadline() {
  if (!done_) return;
  const auto& t = target_;
  if (!t.relay) {
    return fail(connect_failure::timeout, "no connection to " + authority_text(t.host, t.port) +
                                              " within limits.connect_timeout_s");
  }
  relay_attempt_failed(relay_outcome::timeout, connect_failure::timeout,
                       "no tunnel to " + authority_text(t.host, t.port) + " through relay " +
                           t.relay->display() + " within limits.connect_timeout_s");
}

void upstream_connector::resolve(const std::string& name) {
  dns_->async_resolve(name, target_.client_key, ex_,
                      [self = shared_from_this(), attempt = attempt_](
                          error_code ec, std::vector<ip_address> found) {
                        if (attempt == self->attempt_) self->on_resolved(ec, found);
                      });
}

void upstream_connector::on_resolved(const error_code& ec, const std::vector<ip_address>& found) {
  if (!done_) return;
  const auto& t = target_;
  if (ec && t.relay) {
    return relay_attempt_failed(relay_outcome::unreachable, connect_failure::resolve_failed,
                                "cannot resolve relay " + t.relay->display() + ": " + ec.message());
  }
  if (ec) {
    return fail(
        ec == dns_error::timeout ? connect_failure::timeout : connect_failure::resolve_failed,
        "cannot resolve " + t.host + ": " + ec.message());
  }
  for (const auto& addr : found) {
    if (t.relay) {
      candidates_.emplace_back(addr, t.relay->port);
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
  error_code ec;
  socket_.close(ec);
  // A non-blocking connect of our own, not async_connect: Asio's polls the socket once
  // more before it reads SO_ERROR; here writability then SO_ERROR is the whole check.
  // Non-blocking from its socket(2) call on (no ioctl), and Asio knows it.
  ec = open_non_blocking(socket_, ep.protocol());
  if (!ec &&
      ::connect(socket_.native_handle(), ep.data(), static_cast<socklen_t>(ep.size())) != 0 &&
      errno != EINPROGRESS) {
    ec = error_code(errno, asio::error::get_system_category());
  }
  if (ec) {
    return asio::post(ex_, [self = shared_from_this(), ep, ec, attempt = attempt_] {
      if (self->done_ && attempt == self->attempt_) self->connect_done(ep, ec);
    });
  }
  socket_.async_wait(
      tcp::socket::wait_write, [self = shared_from_this(), ep, attempt = attempt_](error_code ec) {
        if (!self->done_ || attempt != self->attempt_) return;
        if (!ec) {
          int err = 0;
          socklen_t len = sizeof err;
          if (::getsockopt(self->socket_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
          }
          if (err) ec = error_code(err, asio::error::get_system_category());
        }
        self->connect_done(ep, ec);
      });
}

/// One candidate's connect ended: on to the tunnel, or to the next candidate.
void upstream_connector::connect_done(const tcp::endpoint& ep, const error_code& ec) {
  if (!ec) return on_connected(ep);
  if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
    // The gateway's own shortage: every other address would fail the same way.
    return fail(connect_failure::out_of_descriptors,
                "no descriptor left for a connection to " + display_address(ep.address()) +
                    ": " + ec.message());
  }
  last_error_ = display_address(ep.address()) + ": " + ec.message();
  try_next();
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
  opener_ = make_relay_opener(
      target_.relay, std::chrono::duration_cast<std::chrono::milliseconds>(target_.timeout));
  opener_->async_open(
      std::move(socket_), target_.host, target_.port,
      [self = shared_from_this()](upstream_outcome out) { self->on_relay_opened(std::move(out)); });
}

void upstream_connector::on_relay_opened(upstream_outcome out) {
  if (!done_) return;
  if (!out.ok()) return relay_attempt_failed(out.relay_result, out.why, std::move(out.detail));
  const bool skipped = relay_health::instance().report(target_.relay->display(), relay_outcome::ok,
                                                       clock_type::now());
  if (target_.on_relay_attempt) {
    relay_attempt ok;
    ok.relay = target_.relay.get();
    ok.skipped = skipped;
    target_.on_relay_attempt(ok);
  }
  finish(std::move(out));
}

/// One relay failed: counted, remembered by relay_health, and unless it was an
/// authentication failure (tries_fallback) the next relay of the chain not skipped now
/// (the last one even if skipped) gets its turn.
void upstream_connector::relay_attempt_failed(relay_outcome outcome, connect_failure why,
                                              std::string detail) {
  const relay_target& relay = *target_.relay;
  auto& health = relay_health::instance();
  const bool skipped = health.report(relay.display(), outcome, clock_type::now());
  relay_ptr next = tries_fallback(outcome) ? relay.fallback : nullptr;
  while (next && next->fallback && health.skipped(next->display(), clock_type::now())) {
    next = next->fallback;
  }
  if (target_.on_relay_attempt) {
    target_.on_relay_attempt({&relay, outcome, skipped, why, detail, next.get()});
  }
  relay_trail_ += (relay_trail_.empty() ? "" : "; ") + detail;
  if (!next) return fail(why, relay_trail_);
  // The next relay gets its own connect deadline; this attempt's late results are dropped.
  ++attempt_;
  target_.relay = std::move(next);
  if (opener_) opener_->cancel();
  opener_.reset();
  candidates_.clear();
  next_ = 0;
  error_code ignored;
  socket_.close(ignored);
  arm_deadline();
  connect_via_relay();
}

void upstream_connector::fail_exhausted() {
  const auto& t = target_;
  if (t.relay) {
    return relay_attempt_failed(
        relay_outcome::unreachable,
        candidates_.empty() ? connect_failure::resolve_failed : connect_failure::refused,
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
  deadline_.cancel();
  // The opener keeps itself alive while its exchange is pending: dropping it would
  // leave the relay's socket open (and a late TLS handshake sending its CONNECT).
  if (opener_) opener_->cancel();
  opener_.reset();
  error_code ignored;
  socket_.close(ignored);
  out.relay = target_.relay;
  done(std::move(out));
}

void upstream_connector::cancel() {
  done_ = nullptr;
  deadline_.cancel();
  if (opener_) opener_->cancel();
  opener_.reset();
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace omsgw::net
