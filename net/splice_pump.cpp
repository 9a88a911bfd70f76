#include "net/splice_pump.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

namespace omsgw::net {
using boost::system::error_code;

namespace {

constexpr long page_bytes = 4096;
constexpr long pages_per_pipe = static_cast<long>(pipe_pool::pipe_bytes) / page_bytes;
constexpr long unread = -1;

std::atomic<long> g_budget{unread};
std::atomic<long> g_enlarged_pages{0};
std::atomic<bool> g_refusal_noticed{false};
std::atomic<bool> g_budget_noticed{false};
std::function<void(const std::string&)> g_notice;

/// True when the process holds CAP_SYS_RESOURCE or CAP_SYS_ADMIN: the kernel does not
/// apply the per-user pipe quota to it (fs/pipe.c, pipe_is_unprivileged_user).
bool quota_exempt() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key != "CapEff:") continue;
    unsigned long long caps = 0;
    status >> std::hex >> caps;
    return (caps & (1ull << 24)) != 0 || (caps & (1ull << 21)) != 0;
  }
  return false;
}

long read_budget() {
  if (quota_exempt()) return 0;
  std::ifstream soft("/proc/sys/fs/pipe-user-pages-soft");
  long pages = 0;
  if (!(soft >> pages) || pages <= 0) return 0;  // 0 in the file: no soft limit
  return pages / 2;
}

void notice_once(std::atomic<bool>& flag, const std::string& line) {
  if (!flag.exchange(true) && g_notice) g_notice(line);
}

/// Enlarges p if the budget allows; best effort (the pipe works at any size).
void enlarge(pipe_pool::pipe& p) {
  const long budget = pipe_pool::budget_pages();
  if (budget > 0 && g_enlarged_pages.fetch_add(pages_per_pipe) + pages_per_pipe > budget) {
    g_enlarged_pages.fetch_sub(pages_per_pipe);
    notice_once(g_budget_noticed,
                "splice pipes: " + std::to_string(budget) +
                    " pages reached (half of fs.pipe-user-pages-soft); new pipes keep the "
                    "default size");
    return;
  }
  if (::fcntl(p.w, F_SETPIPE_SZ, static_cast<int>(pipe_pool::pipe_bytes)) < 0) {
    const int err = errno;
    if (budget > 0) g_enlarged_pages.fetch_sub(pages_per_pipe);
    notice_once(g_refusal_noticed,
                std::string("splice pipes: the kernel refused a 1 MiB pipe (") +
                    std::strerror(err) +
                    "): the per-user pipe quota fs.pipe-user-pages-soft is used up; tunnels "
                    "move smaller chunks");
    return;
  }
  p.enlarged = budget > 0;
}

}  // namespace

pipe_pool& pipe_pool::local() {
  thread_local pipe_pool pool;
  return pool;
}

pipe_pool::~pipe_pool() {
  for (auto& p : free_) {
    ::close(p.r);
    ::close(p.w);
    if (p.enlarged) g_enlarged_pages.fetch_sub(pages_per_pipe);
  }
}

void pipe_pool::set_budget_pages(long pages) { g_budget.store(pages); }

long pipe_pool::budget_pages() {
  long b = g_budget.load();
  if (b == unread) {
    b = read_budget();
    long expected = unread;
    if (!g_budget.compare_exchange_strong(expected, b)) b = expected;
  }
  return b;
}

void pipe_pool::set_notice(std::function<void(const std::string&)> notice) {
  g_notice = std::move(notice);
  g_refusal_noticed = false;
  g_budget_noticed = false;
}

pipe_pool::pipe pipe_pool::acquire() {
  if (!free_.empty()) {
    pipe p = free_.back();
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  pipe p;
  p.r = fds[0];
  p.w = fds[1];
  enlarge(p);
  return p;
}

void pipe_pool::release(pipe& p, bool empty) {
  if (!p) return;
  if (empty && free_.size() < cap) {
    free_.push_back(p);
  } else {
    ::close(p.r);
    ::close(p.w);
    if (p.enlarged) g_enlarged_pages.fetch_sub(pages_per_pipe);
  }
  p = pipe{};
}

void splice_pump::stop() {
  stopped_ = true;
  pipe_pool::local().release(pipe_, in_pipe_ == 0);
  in_pipe_ = 0;
}

void splice_pump::run(std::shared_ptr<pump_listener> owner) {
  if (stopped_) return;
  from_.async_wait(tcp::socket::wait_read, [this, owner](const error_code& ec) {
    if (stopped_) return;
    if (ec) return owner->on_failed(dir_, ec);
    splice_in(owner);
  });
}

void splice_pump::splice_in(const std::shared_ptr<pump_listener>& owner) {
  if (!pipe_) pipe_ = pipe_pool::local().acquire();
  if (!pipe_) return owner->on_splice_unavailable(dir_);  // out of descriptors
  const ssize_t n = ::splice(from_.native_handle(), nullptr, pipe_.w, nullptr,
                             pipe_pool::pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    in_pipe_ = static_cast<std::size_t>(n);
    return splice_out(owner);
  }
  const int err = n == 0 ? 0 : errno;
  pipe_pool::local().release(pipe_, true);
  if (n == 0) return owner->on_end(dir_);  // orderly end of this direction
  if (err == EAGAIN || err == EINTR) return run(owner);
  if (err == EINVAL || err == ENOSYS) return owner->on_splice_unavailable(dir_);
  owner->on_failed(dir_, error_code(err, boost::system::system_category()));
}

void splice_pump::splice_out(std::shared_ptr<pump_listener> owner) {
  std::size_t moved = 0;
  while (in_pipe_ > 0) {
    const ssize_t m = ::splice(pipe_.r, nullptr, to_.native_handle(), nullptr, in_pipe_,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (m > 0) {
      in_pipe_ -= static_cast<std::size_t>(m);
      moved += static_cast<std::size_t>(m);
      continue;
    }
    const int err = m == 0 ? EPIPE : errno;
    if (err == EINTR) continue;
    if (err != EAGAIN)
      return owner->on_failed(dir_, error_code(err, boost::system::system_category()));
    // The receiver is slow: wait until it takes more. Nothing is read from the sender
    // meanwhile, so the kernel's socket buffers push back on it.
    if (moved) owner->on_moved(dir_, moved);
    if (stopped_) return;
    to_.async_wait(tcp::socket::wait_write, [this, owner](const error_code& ec) {
      if (stopped_) return;
      if (ec) return owner->on_failed(dir_, ec);
      splice_out(owner);
    });
    return;
  }
  pipe_pool::local().release(pipe_, true);
  owner->on_moved(dir_, moved);
  if (!stopped_) owner->on_cycle_done(dir_);
}

}  // namespace omsgw::net
