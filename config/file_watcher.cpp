/// \file
/// The configuration file watcher (see file_watcher.hpp).

#include "config/file_watcher.hpp"
#include "config/path_parts.hpp"

#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace omsgw::config {
namespace asio = boost::asio;

namespace {

/// Symlink hops followed at most (the kernel's own limit, MAXSYMLINKS, is 40).
constexpr int k_max_hops = 40;

/// Events on a directory that can change what one of its names refers to.
constexpr std::uint32_t k_watch_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB;

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::string read_link(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string absolute_target(const std::string& link) {
  const std::string target = read_link(link);
  if (target.empty()) return target;
  return target[0] == '/' ? target : dir_of(link) + "/" + target;
}

/// The symlinks among the directories of `dir` (e.g. "..data" in the ConfigMap
/// layout), and recursively those on the way to each one's target.
void collect_dir(const std::string& dir, int hops, std::vector<watch_point>& out) {
  for (std::size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    const std::string prefix = at == std::string::npos ? dir : dir.substr(0, at);
    if (prefix.size() > 1 && is_symlink(prefix)) {
      out.push_back({dir_of(prefix), base_of(prefix)});
      const std::string target = absolute_target(prefix);
      if (hops < k_max_hops && !target.empty()) collect_dir(target, hops + 1, out);
    }
    if (at == std::string::npos) break;
  }
}

void collect(const std::string& path, int hops, std::vector<watch_point>& out) {
  out.push_back({dir_of(path), base_of(path)});
  collect_dir(dir_of(path), hops, out);
  if (hops < k_max_hops && is_symlink(path)) {
    const std::string target = absolute_target(path);
    if (!target.empty()) collect(target, hops + 1, out);
  }
}

}  // namespace

std::vector<watch_point> watch_points(const std::string& path) {
  std::vector<watch_point> out;
  collect(path, 0, out);
  std::set<watch_point> seen;
  std::vector<watch_point> unique;
  for (auto& p : out) {
    if (seen.insert(p).second) unique.push_back(std::move(p));
  }
  return unique;
}

file_watcher::file_watcher(asio::io_context& ioc, std::string path, callback on_change)
    : stream_(ioc), path_(std::move(path)), on_change_(std::move(on_change)) {}

file_watcher::~file_watcher() = default;

std::error_code file_watcher::start() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  // The path's own directory must be watchable; the others are best effort (a link
  // may point nowhere for a moment while it is swapped).
  if (::inotify_add_watch(fd, dir_of(path_).c_str(), k_watch_mask) < 0) {
    const int e = errno;
    ::close(fd);
    return {e, std::generic_category()};
  }
  stream_.assign(fd);
  refresh();
  do_read();
  return {};
}

void file_watcher::stop() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->stream_.close(ignored);
  });
}

void file_watcher::refresh() {
  std::map<std::string, std::set<std::string>> wanted;
  for (const auto& p : watch_points(path_)) wanted[p.dir].insert(p.name);
  const int fd = stream_.native_handle();
  for (auto it = dir_watch_.begin(); it != dir_watch_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(fd, it->second);  // EINVAL when the directory is gone: fine
    it = dir_watch_.erase(it);
  }
  names_.clear();
  for (const auto& [dir, names] : wanted) {
    // Adding a watch again is cheap and follows a directory symlink to its new target.
    const int wd = ::inotify_add_watch(fd, dir.c_str(), k_watch_mask);
    const auto old = dir_watch_.find(dir);
    if (old != dir_watch_.end() && old->second != wd) {
      ::inotify_rm_watch(fd, old->second);  // the name now leads to another directory
      dir_watch_.erase(old);
    }
    if (wd < 0) continue;  // not there (yet): the next event re-resolves
    dir_watch_[dir] = wd;
    names_[wd].insert(names.begin(), names.end());
  }
}

bool file_watcher::touches(int wd, const std::string& name) const {
  const auto it = names_.find(wd);
  return it != names_.end() && it->second.count(name) > 0;
}

void file_watcher::do_read() {
  stream_.async_read_some(
      asio::buffer(buf_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                      std::size_t n) {
        if (ec) return;  // closed
        bool touched = false;
        for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
          inotify_event ev;
          std::memcpy(&ev, self->buf_ + off, sizeof ev);
          if (ev.mask & IN_Q_OVERFLOW) touched = true;  // events lost: assume a change
          if (ev.len > 0 && off + sizeof ev + ev.len <= n) {
            const char* name = self->buf_ + off + sizeof ev;
            if (self->touches(ev.wd, std::string(name, ::strnlen(name, ev.len)))) touched = true;
          }
          off += sizeof ev + ev.len;
        }
        self->refresh();
        if (touched && self->on_change_) self->on_change_();
        self->do_read();
      });
}

}  // namespace omsgw::config
