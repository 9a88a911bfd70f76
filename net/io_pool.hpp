#pragma once
/// \file
/// The I/O threads: one io_context per thread. A connection lives on one context for
/// its whole life, so its handlers never hop between threads and no thread has to
/// wake another to run them (with one io_context shared by N threads, the thread
/// waiting in epoll hands completions to threads parked on a condition variable: a
/// futex wake and a context switch each). New connections are placed by load (place()).

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
  /// The context for a connection accepted on the primary context: the primary itself
  /// while it holds at most k_spill_slack connections more than the least loaded
  /// context, else the least loaded one. A burst of short-lived connections then stays
  /// mostly on the accepting thread, which need not wake a sleeping thread for each
  /// (round-robin cost about two context switches per tunnel, this 0.4, and 10-17 % less
  /// CPU per set-up in rate mode); a thread that falls behind holds its connections
  /// longer and so spills to the others, and long-lived tunnels end up balanced within
  /// the slack. Any thread.
  placement place();
  /// Measured in rate mode (32 concurrent clients, 2 threads). While a session's end
  /// woke a CAF thread, 24 did best (8 spread too early: more wake-ups; 64 kept
  /// everything on one thread, its rate capped at one core). Since sessions end on
  /// their connection's thread (actors/thread_unit), 8 does: the same CPU per set-up,
  /// and the two cores idle 6 % of the time instead of 9 %, for 4 % more set-ups/s
  /// (5 alternating rounds each of 4, 8, 12, 16 and 24).
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
