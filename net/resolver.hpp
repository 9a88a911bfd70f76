#pragma once
/// \file
/// Name resolution as the upstream connector sees it: one asynchronous call per name,
/// answered exactly once on the caller's executor. IP literals and upstream.resolve pins
/// never get here (the connector handles them inline).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace omsgw::net {

class resolver {
 public:
  virtual ~resolver() = default;
  using handler = std::function<void(boost::system::error_code ec,
                                     std::vector<boost::asio::ip::address> addresses)>;
  /// Resolves host (A and AAAA). client_key names the asking client (its address text)
  /// for per-client bounds. done is called exactly once, via ex.
  virtual void async_resolve(const std::string& host, const std::string& client_key,
                             boost::asio::any_io_executor ex, handler done) = 0;
};

/// Why a lookup gave no address. timeout makes the gateway answer 504, the others 502.
enum class dns_error {
  not_found = 1,  ///< NXDOMAIN, or no A/AAAA record
  timeout,        ///< no answer within the lookup timeout
  busy,           ///< the client has too many lookups in flight
  failure,        ///< server failure, refused, unreachable DNS server, ...
};

const boost::system::error_category& dns_category();
inline boost::system::error_code make_error_code(dns_error e) {
  return {static_cast<int>(e), dns_category()};
}

}  // namespace omsgw::net

template <>
struct boost::system::is_error_code_enum<omsgw::net::dns_error> : std::true_type {};
