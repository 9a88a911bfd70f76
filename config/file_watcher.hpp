#pragma once
/// \file
/// Watches one configuration file for changes with inotify on the directories that
/// decide what the path names, so editors that write a temp file and rename it over the
/// original are caught as well as in-place writes -- and so is a symlinked path: an
/// operator's link into another directory (the CLI replaces the link's target beside
/// it) and the Kubernetes ConfigMap layout (omsgw.yaml -> ..data/omsgw.yaml, where
/// `..data` is itself a link swapped atomically for a new directory). A change of any
/// link on the way or of the final file is a change. The watch set is re-resolved
/// after every event, so it follows the links to wherever they point now.
/// Runs on an Asio io_context; calls back on every event that touches the file (the
/// caller debounces bursts and compares contents).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace omsgw::config {

/// One name in one directory whose change changes what a path names.
struct watch_point {
  std::string dir;
  std::string name;
  bool operator<(const watch_point& o) const {
    return std::tie(dir, name) < std::tie(o.dir, o.name);
  }
  bool operator==(const watch_point& o) const { return dir == o.dir && name == o.name; }
};

/// The names that decide what `path` names: the path's own entry, every symlink among
/// its directories, and (recursively) the same for each symlink's target. Pure
/// function of the file system as it is now (lstat/readlink only).
std::vector<watch_point> watch_points(const std::string& path);

class file_watcher : public std::enable_shared_from_this<file_watcher> {
 public:
  using callback = std::function<void()>;
  file_watcher(boost::asio::io_context& ioc, std::string path, callback on_change);
  ~file_watcher();
  /// Starts watching; returns an error if inotify is unavailable or the path's own
  /// directory cannot be watched.
  std::error_code start();
  void stop();

 private:
  void do_read();
  /// Re-resolves the watch points and adds/removes directory watches to match.
  void refresh();
  /// True when the event (watch descriptor, name) is about one of the watch points.
  bool touches(int wd, const std::string& name) const;

  boost::asio::posix::stream_descriptor stream_;
  std::string path_;
  callback on_change_;
  std::map<std::string, int> dir_watch_;          ///< watched directory -> descriptor
  std::map<int, std::set<std::string>> names_;     ///< descriptor -> names that matter
  alignas(8) char buf_[8192];
};

}  // namespace omsgw::config
