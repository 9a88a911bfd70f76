#pragma once
/// \file
/// Opens the upstream side of one tunnel: resolves the destination (or the relay),
/// applies the address guard to EVERY candidate before it is tried (a refused address
/// is never connected to), connects to the candidates in turn, then, with a relay,
/// lets the relay's opener ask it for the destination. The result is a byte stream.
///
/// With relays (relay_proxy) it also decides the route: a bypassed destination goes
/// direct; otherwise the first relay of the chain not skipped (net/relay_health), and
/// on a refusal or an outage (tries_fallback) the next one, each with its own connect deadline
/// (target.timeout). The connector keeps the connect deadline (limits.connect_timeout_s:
/// per relay tried, or for the direct attempt) and reports timeout when it passes.
/// Everything runs on the executor given (the connection's strand).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/policy.hpp"
#include "net/relay_opener.hpp"
#include "net/resolver.hpp"

namespace omsgw::net {

/// Where the tunnel should go.
struct upstream_target {
  std::string host;  ///< the CONNECT destination, normalised
  std::uint16_t port = 0;
  policy_ptr policy;       ///< the snapshot the CONNECT was allowed under (guard, pins)
  relay_ptr relay;         ///< null: connect directly
  std::string client_key;  ///< the client's address text (the resolver's per-client bound)
  std::chrono::seconds timeout{10};  ///< limits.connect_timeout_s: per relay tried, or direct
  /// One attempt through one relay ended (relay_attempt). May be empty.
  std::function<void(const relay_attempt&)> on_relay_attempt = {};
};

/// relay_proxy.bypass: the destination goes direct (and through the address guard).
bool bypasses_relay(const relay_target& relay, const std::string& host);

class upstream_connector : public std::enable_shared_from_this<upstream_connector> {
 public:
  using handler = std::function<void(upstream_outcome)>;
  upstream_connector(boost::asio::any_io_executor ex, std::shared_ptr<resolver> dns);

  /// Starts the attempt; done is called once on the executor (at the latest when the
  /// deadline of the last route tried passes), unless cancel() came first.
  void start(upstream_target target, handler done);
  /// Stops whatever is pending (lookup results are then ignored, sockets closed) and
  /// drops done. Idempotent.
  void cancel();

 private:
  void connect_direct();
  void connect_via_relay();
  void on_deadline();
  void arm_deadline();
  void on_relay_opened(upstream_outcome out);
  void relay_attempt_failed(relay_outcome outcome, connect_failure why, std::string detail);
  void resolve(const std::string& name);
  void on_resolved(const boost::system::error_code& ec,
                   const std::vector<boost::asio::ip::address>& addresses);
  void add_candidate(const ip_address& addr, bool from_override);
  void try_next();
  void connect_done(const tcp::endpoint& ep, const boost::system::error_code& ec);
  void on_connected(const tcp::endpoint& ep);
  void fail_exhausted();
  void finish(upstream_outcome out);
  void fail(connect_failure why, std::string detail);

  boost::asio::any_io_executor ex_;
  std::shared_ptr<resolver> dns_;
  upstream_target target_;
  handler done_;
  tcp::socket socket_;
  std::shared_ptr<relay_opener> opener_;
  std::vector<tcp::endpoint> candidates_;
  std::size_t next_ = 0;
  int forbidden_ = 0;
  std::string last_error_;
  boost::asio::steady_timer deadline_;  ///< this attempt's connect deadline
  std::uint32_t attempt_ = 0;           ///< +1 per fallback: results of older attempts are dropped
  std::string relay_trail_;             ///< why each relay tried so far failed
};

}  // namespace omsgw::net
