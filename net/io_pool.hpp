#pragma once
/// \file
/// The I/O threads: one io_context per thread. A connection lives on one context for
/// its whole life, so its handlers never hop between threads and no thread has to
/// wake another to run them (with one io_context shared by N threads, the thread
/// waiting in epoll hands completions to threads parked on a condition variable: a
/// futex wake and a context switch each). New connections stay on the thread that accepted them,
/// within a bound on the imbalance (place()).

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "net/load_token.hpp"

namespace omsgw::net {

/// Where a new connection lives, and its share in that context's load count.
struct placement {
  boost::asio::io_context* context = nullptr;
  load_token load;
};

class io_pool {
 public:
  /// threads >= 1 contexts, each kept running (work guard) until release_work().
  explicit io_pool(unsigned threads);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// The first context: listening sockets, the admin server, signals, file watching.
  boost::asio::io_context& primary() { return *contexts_.front(); }
  /// The context for a connection accepted by context `home`'s thread (each context
  /// accepts: net/accept_lane): home itself while it holds at most k_spill_slack
  /// connections more than the least loaded context, else the least loaded one. A
  /// connection then starts and lives on the thread that took it from the kernel, which
  /// need not wake another thread for it; a thread that keeps winning the accepts (its
  /// connections live long, e.g. idle or bulk tunnels) spills to the others, so
  /// long-lived tunnels end up balanced within the slack. Any thread.
  placement place(std::size_t home = 0);
  /// Measured in rate mode (32 concurrent clients, 2 threads), while only the primary
  /// context accepted: while a session's end woke a CAF thread, 24 did best (8 spread
  /// too early: more wake-ups; 64 kept everything on one thread, its rate capped at one
  /// core). Once sessions ended on their connection's thread (actors/thread_unit), 8
  /// did: the same CPU per set-up, and the two cores idle 6 % of the time instead of 9 %,
  /// for 4 % more set-ups/s (5 alternating rounds each of 4, 8, 12, 16 and 24). Since
  /// every context accepts, the spill is rare in rate mode.
  static constexpr long k_spill_slack = 8;
  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  /// Every context, primary first (e.g. to give each its own DNS channel).
  std::vector<boost::asio::io_context*> contexts() const;

  /// Starts one thread per context.
  void run();
  /// Lets every context return from run() once it has no more work.
  void release_work();
  /// True when every context has stopped (ran out of work or stop()).
  bool stopped() const;
  /// Stops every context now (pending handlers are not run).
  void stop();
  /// Waits for the threads started by run().
  void join();

 private:
  using guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;  // destroyed last
  /// Live connections per context; shared with the tokens, which may outlive the pool.
  std::shared_ptr<std::atomic<long>[]> load_;
  std::vector<guard> work_;
  std::vector<std::thread> threads_;
};

}  // namespace omsgw::net
