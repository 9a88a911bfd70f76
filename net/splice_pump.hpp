#pragma once
/// \file
/// Moves bytes one way between two TCP sockets with splice(2): socket -> pipe ->
/// socket inside the kernel, no copy to user space. A pipe costs two descriptors, so a
/// tunnel holds one only while bytes are in flight; empty pipes go back to a small
/// per-thread pool. With 1 MiB pipes one wake-up moves up to 1 MiB (README
/// performance: about a third of the CPU per GiB of a 32 KiB copy).

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/byte_stream.hpp"
#include "net/pump.hpp"

namespace omsgw::net {

/// The pipes of one I/O thread, sized within the per-user pipe quota: once a user's
/// pipes hold more than /proc/sys/fs/pipe-user-pages-soft pages, the kernel refuses
/// F_SETPIPE_SZ and gives new pipes 2 pages (pipe(7)), which would silently cut every
/// splice to 8 KiB. So pipes are enlarged only while the enlarged pages of this
/// process stay within half that quota (the rest is left for default-sized pipes);
/// beyond it, new pipes keep the default size. A refusal by the kernel is reported
/// once through the notice hook.
class pipe_pool {
 public:
  /// Bytes a pipe is enlarged to.
  static constexpr std::size_t pipe_bytes = 1 << 20;
  /// Empty pipes kept per thread.
  static constexpr std::size_t cap = 16;

  /// The pool of the calling thread.
  static pipe_pool& local();
  ~pipe_pool();

  struct pipe {
    int r = -1;
    int w = -1;
    bool enlarged = false;
    explicit operator bool() const { return r >= 0; }
  };
  /// A pipe, or one with r < 0 when no descriptor is left.
  pipe acquire();
  /// Takes p back (kept when empty and there is room, else closed); p is reset.
  void release(pipe& p, bool empty);

  /// Pages (4 KiB) this process may spend on enlarged pipes, all threads together.
  /// 0: no bound (the process may exceed the quota, e.g. CAP_SYS_RESOURCE). Read from
  /// the system at first use unless set.
  static void set_budget_pages(long pages);
  static long budget_pages();
  /// Called once per kind of event (the kernel refused to enlarge a pipe; the budget
  /// was reached), with a line for the log. Set at start-up, before any I/O thread runs.
  static void set_notice(std::function<void(const std::string&)> notice);

 private:
  pipe_pool() = default;
  std::vector<pipe> free_;
};

class splice_pump {
 public:
  splice_pump(direction d, tcp::socket& from, tcp::socket& to) : dir_(d), from_(from), to_(to) {}
  ~splice_pump() { stop(); }
  splice_pump(const splice_pump&) = delete;
  splice_pump& operator=(const splice_pump&) = delete;

  /// One cycle: waits until from_ is readable, splices what is there (up to a pipe's
  /// size) into a pipe and from it to to_, waiting while to_ cannot take more.
  void run(std::shared_ptr<pump_listener> owner);
  /// No callback after this; the pipe goes back to the pool (closed if not empty).
  void stop();

 private:
  void splice_in(const std::shared_ptr<pump_listener>& owner);
  void splice_out(std::shared_ptr<pump_listener> owner);

  direction dir_;
  tcp::socket& from_;
  tcp::socket& to_;
  pipe_pool::pipe pipe_;
  std::size_t in_pipe_ = 0;
  bool stopped_ = false;
};

}  // namespace omsgw::net
