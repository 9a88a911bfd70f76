#pragma once
/// \file
/// Name resolution for the upstream connector, behind an interface so another
/// resolver (c-ares, with per-client bounds) plugs in without touching the connector.
/// Each I/O thread (io_context) has one resolver: asio_resolver (getaddrinfo on Asio's
/// resolver thread) unless another was installed with install_resolver.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace omsgw::net {

/// Why a name did not resolve. timeout maps to 504 (like a connect timeout), the
/// others to 502.
enum class dns_error {
  not_found = 1,  ///< NXDOMAIN or no A/AAAA record
  timeout,        ///< no answer in time
  busy,           ///< too many lookups in flight (for this client or in all)
  failure,        ///< the resolver failed (SERVFAIL, refused, no server, ...)
};
const boost::system::error_category& dns_category();
boost::system::error_code make_error_code(dns_error e);

/// Name resolution for the upstream connector. IP literals and upstream.resolve pins
/// never reach it (the connector handles them inline).
class resolver {
 public:
  virtual ~resolver() = default;
  /// done is called exactly once, via `ex` (the connection's strand); ec is one of
  /// the dns_error codes or a system error; addresses is every A/AAAA answer.
  using handler = std::function<void(boost::system::error_code ec,
                                     std::vector<boost::asio::ip::address> addresses)>;
  /// client_key: the client's address text, for per-client bounds on lookups in flight.
  virtual void async_resolve(const std::string& host, const std::string& client_key,
                             boost::asio::any_io_executor ex, handler done) = 0;
};

/// The default: Asio's tcp::resolver (getaddrinfo on a background thread). Lookups
/// have no bound of their own; the connect deadline bounds what the connection waits.
class asio_resolver final : public resolver {
 public:
  void async_resolve(const std::string& host, const std::string& client_key,
                     boost::asio::any_io_executor ex, handler done) override;
};

/// The resolver of ctx (an I/O thread's io_context): the installed one, else an
/// asio_resolver created on first use. Safe from any thread.
std::shared_ptr<resolver> resolver_for(boost::asio::execution_context& ctx);
/// Makes r the resolver connections on ctx use from now on (before run(), typically).
void install_resolver(boost::asio::execution_context& ctx, std::shared_ptr<resolver> r);

}  // namespace omsgw::net

namespace boost::system {
template <>
struct is_error_code_enum<omsgw::net::dns_error> : std::true_type {};
}  // namespace boost::system
