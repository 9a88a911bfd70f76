#include "config/file_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace omsgw::config {
namespace asio = boost::asio;

file_watcher::file_watcher(asio::io_context& ioc, std::string path, callback on_change)
    : stream_(ioc), on_change_(std::move(on_change)) {
  const auto slash = path.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  name_ = slash == std::string::npos ? path : path.substr(slash + 1);
}

file_watcher::~file_watcher() = default;

std::error_code file_watcher::start() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  // Directory watch: catches create/rename-over (editors, our own CLI) and writes.
  if (::inotify_add_watch(fd, dir_.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
    const int e = errno;
    ::close(fd);
    return {e, std::generic_category()};
  }
  stream_.assign(fd);
  do_read();
  return {};
}

void file_watcher::stop() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->stream_.close(ignored);
  });
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
          if (ev.len > 0 && off + sizeof ev + ev.len <= n) {
            const char* name = self->buf_ + off + sizeof ev;
            if (self->name_ == std::string(name, ::strnlen(name, ev.len))) touched = true;
          }
          off += sizeof ev + ev.len;
        }
        if (touched && self->on_change_) self->on_change_();
        self->do_read();
      });
}

}  // namespace omsgw::config
