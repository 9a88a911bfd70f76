#include "net/io_pool.hpp"

#include <algorithm>

namespace omsgw::net {

io_pool::io_pool(unsigned threads) {
  const unsigned n = std::max(1u, threads);
  load_ = std::shared_ptr<std::atomic<long>[]>(new std::atomic<long>[n]());
  contexts_.reserve(n);
  work_.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    // Hint 1: one thread runs this context (Asio keeps the locking that posts from
    // other threads, such as the actors', need).
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    work_.push_back(boost::asio::make_work_guard(*contexts_.back()));
  }
}

io_pool::~io_pool() {
  stop();
  join();
}

placement io_pool::place(std::size_t home) {
  const long home_load = load_[home].load(std::memory_order_relaxed);
  std::size_t least = home;
  long least_load = home_load;
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    const long l = load_[i].load(std::memory_order_relaxed);
    if (l < least_load) {
      least = i;
      least_load = l;
    }
  }
  const std::size_t pick = home_load <= least_load + k_spill_slack ? home : least;
  // The token shares the counts' ownership, pointing at its own context's.
  return {contexts_[pick].get(), load_token({load_, &load_[pick]})};
}

std::vector<boost::asio::io_context*> io_pool::contexts() const {
  std::vector<boost::asio::io_context*> out;
  for (const auto& c : contexts_) out.push_back(c.get());
  return out;
}

void io_pool::run() {
  for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
}

void io_pool::release_work() {
  for (auto& w : work_) w.reset();
}

bool io_pool::stopped() const {
  return std::all_of(contexts_.begin(), contexts_.end(),
                     [](const auto& c) { return c->stopped(); });
}

void io_pool::stop() {
  for (auto& c : contexts_) c->stop();
}

void io_pool::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace omsgw::net
