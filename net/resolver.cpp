#include "net/resolver.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <mutex>

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

class dns_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "omsgw.dns"; }
  std::string message(int ev) const override {
    switch (static_cast<dns_error>(ev)) {
      case dns_error::not_found: return "name not found";
      case dns_error::timeout: return "DNS lookup timed out";
      case dns_error::busy: return "too many DNS lookups in flight";
      case dns_error::failure: return "DNS lookup failed";
    }
    return "unknown DNS error";
  }
};

/// One resolver per execution context, kept as an Asio service so it lives and dies
/// with the io_context its connections run on.
class resolver_slot final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit resolver_slot(asio::execution_context& ctx) : service(ctx) {}
  std::shared_ptr<resolver> get() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!resolver_) resolver_ = std::make_shared<asio_resolver>();
    return resolver_;
  }
  void set(std::shared_ptr<resolver> r) {
    std::lock_guard<std::mutex> lock(mutex_);
    resolver_ = std::move(r);
  }

 private:
  void shutdown() override {}
  std::mutex mutex_;
  std::shared_ptr<resolver> resolver_;
};
asio::execution_context::id resolver_slot::id;

}  // namespace

const boost::system::error_category& dns_category() {
  static const dns_category_impl category;
  return category;
}

error_code make_error_code(dns_error e) { return {static_cast<int>(e), dns_category()}; }

void asio_resolver::async_resolve(const std::string& host, const std::string& /*client_key*/,
                                  asio::any_io_executor ex, handler done) {
  auto r = std::make_shared<asio::ip::tcp::resolver>(ex);
  r->async_resolve(host, "0", asio::ip::tcp::resolver::numeric_service,
                   [r, done = std::move(done)](const error_code& ec,
                                               asio::ip::tcp::resolver::results_type res) {
    std::vector<asio::ip::address> addresses;
    if (!ec) {
      for (const auto& entry : res) addresses.push_back(entry.endpoint().address());
    }
    if (ec == asio::error::host_not_found || ec == asio::error::no_data ||
        (!ec && addresses.empty())) {
      return done(make_error_code(dns_error::not_found), {});
    }
    done(ec, std::move(addresses));
  });
}

std::shared_ptr<resolver> resolver_for(asio::execution_context& ctx) {
  return asio::use_service<resolver_slot>(ctx).get();
}

void install_resolver(asio::execution_context& ctx, std::shared_ptr<resolver> r) {
  asio::use_service<resolver_slot>(ctx).set(std::move(r));
}

}  // namespace omsgw::net
