#pragma once
/// \file
/// The admin HTTP endpoint (SPEC.md "Admin endpoint"), served with Boost.Beast:
///   GET  /metrics  Prometheus text exposition of the registry
///   GET  /healthz  200 while the process serves
///   GET  /readyz   200, or 503 while draining (for load balancers)
///   GET  /status   JSON counters, uptime, config version (asked of the telemetry actor)
///   POST /reload   reload now; answers the result
/// Unknown paths 404, wrong methods 405 (with Allow). HTTP/1.1 keep-alive. Before any
/// of that (metrics/admin_auth): a Host that is not an IP literal or "localhost" gets
/// 421; with a token set, a request without it gets 401 (all paths but /healthz and
/// /readyz). At most net::max_admin_connections are open at once (more are closed at
/// once); a request must arrive within 10 s; a head over 16 KiB gets 431; an accept
/// error (out of descriptors) pauses accepting for 100 ms rather than spinning.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace omsgw::metrics {

/// Delivers an answer: HTTP status and a body (JSON for /status and /reload).
using reply_fn = std::function<void(int status, std::string body)>;

class admin_token;

struct admin_handlers {
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<const admin_token> token;  ///< null or empty: no authentication
  std::function<bool()> ready;               ///< false while draining
  std::function<void(reply_fn)> status;      ///< asynchronous; reply from any thread
  std::function<void(reply_fn)> reload;      ///< asynchronous; reply from any thread
  /// The endpoint cannot serve (accept failed, connection limit reached): a line for
  /// the log. Optional; called on the acceptor's strand.
  std::function<void(const std::string&)> problem;
};

class admin_server {
 public:
  /// Binds and listens (throws boost::system::system_error at start-up on failure).
  admin_server(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& ep,
               admin_handlers handlers);
  ~admin_server();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The Prometheus text exposition (version 0.0.4) of a registry.
std::string serialize_metrics(prometheus::Registry& registry);

}  // namespace omsgw::metrics
