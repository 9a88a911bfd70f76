#include "net/relay_health.hpp"

namespace omsgw::net {

relay_health& relay_health::instance() {
  static relay_health h;
  return h;
}

bool relay_health::skipped(const std::string& relay, clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = skip_until_.find(relay);
  return it != skip_until_.end() && now < it->second;
}

bool relay_health::report(const std::string& relay, relay_outcome outcome, clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (skips_relay(outcome)) {
    skip_until_[relay] = now + relay_skip_time;
    return true;
  }
  // It answered (even a refusal or an auth failure): reachable.
  skip_until_.erase(relay);
  return false;
}

std::shared_ptr<const relay_target> relay_health::pick(
    const std::shared_ptr<const relay_target>& head, clock::time_point now) const {
  for (auto r = head; r; r = r->fallback) {
    if (!skipped(r->display(), now)) return r;
  }
  return head;
}

}  // namespace omsgw::net
