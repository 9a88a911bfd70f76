#include "net/resolver.hpp"

namespace omsgw::net {
namespace {

class dns_category_impl : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "dns"; }
  std::string message(int ev) const override {
    switch (static_cast<dns_error>(ev)) {
      case dns_error::not_found: return "name not found";
      case dns_error::timeout: return "lookup timed out";
      case dns_error::busy: return "too many lookups in flight for this client";
      case dns_error::failure: return "lookup failed";
    }
    return "unknown dns error";
  }
};

}  // namespace

const boost::system::error_category& dns_category() {
  static const dns_category_impl category;
  return category;
}

}  // namespace omsgw::net
