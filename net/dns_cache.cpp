#include "net/dns_cache.hpp"

#include <algorithm>

namespace omsgw::net {

std::optional<dns_cache::answer> dns_cache::find(const std::string& host, clock::time_point now) {
  auto it = map_.find(host);
  if (it == map_.end()) return std::nullopt;
  if (it->second->expires <= now) {
    lru_.erase(it->second);
    map_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void dns_cache::put_positive(const std::string& host,
                             std::vector<boost::asio::ip::address> addresses,
                             std::chrono::seconds ttl, clock::time_point now) {
  ttl = std::min(ttl, limits_.max_positive_ttl);
  if (ttl.count() <= 0 || addresses.empty()) return;
  put(host, answer{std::move(addresses)}, now + ttl);
}

void dns_cache::put_negative(const std::string& host, clock::time_point now) {
  if (limits_.negative_ttl.count() <= 0) return;
  put(host, answer{}, now + limits_.negative_ttl);
}

void dns_cache::put(const std::string& host, answer value, clock::time_point expires) {
  if (limits_.max_entries == 0) return;
  if (auto it = map_.find(host); it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  // Full: drop the least recently used (an expired entry is as good as gone anyway).
  while (map_.size() >= limits_.max_entries) {
    map_.erase(lru_.back().host);
    lru_.pop_back();
  }
  lru_.push_front(entry{host, std::move(value), expires});
  map_.emplace(host, lru_.begin());
}

}  // namespace omsgw::net
