#pragma once
/// \file
/// Opens the upstream side of one tunnel: resolves the destination (or the relay),
/// applies the address guard to EVERY candidate before it is tried (a refused address
/// is never connected to), connects to the candidates in turn, then, with a relay,
/// lets the relay's opener ask it for the destination. The result is a byte stream.
///
/// It has no timer: the tunnel bounds the whole attempt with its connect deadline and
/// calls cancel(). Everything runs on the executor given (the connection's strand).

#include <boost/asio/any_io_executor.hpp>
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
  policy_ptr policy;  ///< the snapshot the CONNECT was allowed under (guard, pins)
  relay_ptr relay;    ///< null: connect directly
  std::string client_key;  ///< the client's address text (the resolver's per-client bound)
};

class upstream_connector : public std::enable_shared_from_this<upstream_connector> {
 public:
  using handler = std::function<void(upstream_outcome)>;
  upstream_connector(boost::asio::any_io_executor ex, std::shared_ptr<resolver> dns);

  /// Starts the attempt; done is called once on the executor, unless cancel() came first.
  void start(upstream_target target, handler done);
  /// Stops whatever is pending (lookup results are then ignored, sockets closed) and
  /// drops done. Idempotent.
  void cancel();

 private:
  void resolve(const std::string& name);
  void on_resolved(const boost::system::error_code& ec,
                   const std::vector<boost::asio::ip::address>& addresses);
  void add_candidate(const ip_address& addr, bool from_override);
  void try_next();
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
};

}  // namespace omsgw::net
