#pragma once
/// \file
/// The I/O threads: one io_context per thread. A connection lives on one context for
/// its whole life, so its handlers never hop between threads and no thread has to
/// wake another to run them (with one io_context shared by N threads, the thread
/// waiting in epoll hands completions to threads parked on a condition variable: a
/// futex wake and a context switch each). New connections are spread round-robin.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace omsgw::net {

class io_pool {
 public:
  /// threads >= 1 contexts, each kept running (work guard) until release_work().
  explicit io_pool(unsigned threads);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// The first context: listening sockets, the admin server, signals, file watching.
  boost::asio::io_context& primary() { return *contexts_.front(); }
  /// The context for the next connection (round-robin; any thread).
  boost::asio::io_context& next();
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
  std::vector<guard> work_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
};

}  // namespace omsgw::net
