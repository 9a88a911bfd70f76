#pragma once
/// \file
/// Answers kept by their TTL, like Squid's ipcache: positive TTLs are capped, a negative
/// answer (no such name / no address) is kept for a fixed short time, and the number of
/// names is bounded (least recently used goes first). Pure and single-threaded: the
/// caller passes the time and does the locking.

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace omsgw::net {

class dns_cache {
 public:
  using clock = std::chrono::steady_clock;
  struct limits {
    std::size_t max_entries = 4096;
    std::chrono::seconds max_positive_ttl{300};
    std::chrono::seconds negative_ttl{30};
  };
  /// A cached answer: empty addresses = negative (the name has no address).
  struct answer {
    std::vector<boost::asio::ip::address> addresses;
  };

  explicit dns_cache(limits l) : limits_(l) {}

  /// The answer for host if one is cached and not expired at now (refreshes its use).
  std::optional<answer> find(const std::string& host, clock::time_point now);
  /// Keeps addresses for min(ttl, max_positive_ttl); ttl <= 0 keeps nothing.
  void put_positive(const std::string& host, std::vector<boost::asio::ip::address> addresses,
                    std::chrono::seconds ttl, clock::time_point now);
  /// Keeps "no address" for negative_ttl.
  void put_negative(const std::string& host, clock::time_point now);
  std::size_t size() const { return map_.size(); }

 private:
  struct entry {
    std::string host;
    answer value;
    clock::time_point expires;
  };
  void put(const std::string& host, answer value, clock::time_point expires);

  limits limits_;
  std::list<entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<entry>::iterator> map_;
};

}  // namespace omsgw::net
