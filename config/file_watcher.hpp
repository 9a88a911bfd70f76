#pragma once
/// \file
/// Watches one configuration file for changes with inotify on its directory, so
/// editors that write a temp file and rename it over the original are caught as
/// well as in-place writes. Runs on an Asio io_context; calls back on every event
/// that touches the file (the caller debounces bursts).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace omsgw::config {

class file_watcher : public std::enable_shared_from_this<file_watcher> {
 public:
  using callback = std::function<void()>;
  file_watcher(boost::asio::io_context& ioc, std::string path, callback on_change);
  ~file_watcher();
  /// Starts watching; returns an error if inotify is unavailable.
  std::error_code start();
  void stop();

 private:
  void do_read();
  boost::asio::posix::stream_descriptor stream_;
  std::string dir_;
  std::string name_;
  callback on_change_;
  alignas(8) char buf_[8192];
};

}  // namespace omsgw::config
