#pragma once
/// \file
/// The gateway's resolver: c-ares, one channel per I/O thread, so a slow or dead DNS
/// server delays only the lookups that need it (Boost 1.74's tcp::resolver runs each
/// io_context's lookups one after another on one private thread). On top of c-ares:
/// - a cache by TTL (net/dns_cache: capped positive TTL, short negative TTL, bounded);
/// - one query per name and thread at a time (later askers join it);
/// - a deadline per lookup (dns_error::timeout, the gateway's 504);
/// - a bound on lookups in flight per client (dns_error::busy at once when over it).
/// It knows nothing of metrics: every finished lookup is reported to on_lookup.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/ares_channel.hpp"
#include "net/dns_cache.hpp"
#include "net/resolver.hpp"

namespace omsgw::net {

/// How a lookup ended, for metrics (omsgw_dns_lookups_total{result}).
enum class lookup_result { ok, cached, not_found, timeout, busy, failure };
const char* to_string(lookup_result r);

struct dns_resolver_options {
  ares_settings ares;                          ///< servers (default: resolv.conf), retries
  std::chrono::milliseconds timeout{5000};     ///< per lookup, from when it is asked
  std::size_t max_in_flight_per_client = 32;   ///< more at once: dns_error::busy
  dns_cache::limits cache;
  /// Called once per lookup, on an I/O thread; seconds is the time to the answer
  /// (0 for cached and busy). Must not block.
  std::function<void(lookup_result, double seconds)> on_lookup;
};

/// Hold it in a shared_ptr (make_shared): pending work keeps it alive. Teardown:
/// shutdown(), stop the I/O threads, close(), then destroy the io_contexts.
class dns_resolver final : public resolver,
                           public std::enable_shared_from_this<dns_resolver> {
 public:
  /// One c-ares channel per context (throws std::runtime_error if c-ares cannot start).
  /// A lookup asked with an executor of another context is answered with failure.
  dns_resolver(const std::vector<boost::asio::io_context*>& contexts, dns_resolver_options options);
  ~dns_resolver() override;

  void async_resolve(const std::string& host, const std::string& client_key,
                     boost::asio::any_io_executor ex, handler done) override;

  /// Ends every lookup in flight with dns_error::failure and lets c-ares close its
  /// sockets, so the I/O threads can run out of work (gateway stop). Any thread.
  void shutdown();
  /// Destroys the c-ares channels (and their sockets and timers) now. Call once no
  /// thread runs the contexts any more and before they are destroyed; later lookups
  /// fail. Needed because the resolver may outlive a context (connections on another
  /// context, or a context's resolver slot, may hold the last reference).
  void close();

 private:
  struct waiter;
  struct query;
  struct lane;
  lane* lane_for(const boost::asio::any_io_executor& ex);
  void start(lane& l, const std::string& host, waiter w);
  void on_answer(lane& l, const std::shared_ptr<query>& q, ares_result answer);
  void finish(lane& l, const std::shared_ptr<query>& q, boost::system::error_code ec,
              const std::vector<boost::asio::ip::address>& addresses, lookup_result result);
  void answer(waiter& w, boost::system::error_code ec,
              std::vector<boost::asio::ip::address> addresses, lookup_result result);
  bool take_client_slot(const std::string& client_key);
  void release_client_slot(const std::string& client_key);

  dns_resolver_options options_;
  std::vector<std::unique_ptr<lane>> lanes_;
  std::mutex mutex_;  // guards cache_ and in_flight_ (touched by every I/O thread)
  dns_cache cache_;
  std::unordered_map<std::string, std::size_t> in_flight_;  // by client key
};

}  // namespace omsgw::net
