#pragma once
/// \file
/// One connection's share in its I/O context's load count (net/io_pool::place): the
/// count goes up when the token is made and down when it is dropped, with the
/// connection that holds it. The token shares ownership of the count, so a connection
/// that outlives its pool (destroyed with a pending handler at shutdown) still finds
/// it.

#include <atomic>
#include <memory>
#include <utility>

namespace omsgw::net {

class load_token {
 public:
  load_token() = default;
  explicit load_token(std::shared_ptr<std::atomic<long>> count) : count_(std::move(count)) {
    if (count_) count_->fetch_add(1, std::memory_order_relaxed);
  }
  ~load_token() { reset(); }
  load_token(load_token&& o) noexcept = default;
  load_token& operator=(load_token&& o) noexcept {
    if (this != &o) {
      reset();
      count_ = std::move(o.count_);
    }
    return *this;
  }
  load_token(const load_token&) = delete;
  load_token& operator=(const load_token&) = delete;

  void reset() {
    if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
    count_.reset();
  }

 private:
  std::shared_ptr<std::atomic<long>> count_;
};

}  // namespace omsgw::net
