#include "net/socket_state.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/detail/socket_ops.hpp>
#include <cerrno>

namespace omsgw::net {
namespace socket_ops = boost::asio::detail::socket_ops;
using boost::asio::ip::tcp;

namespace {

/// Names Asio's protected implementation member of a socket; a pointer to it applies
/// to any tcp::socket (the standard way to read a protected member from outside).
struct socket_access : tcp::socket {
  static auto impl_member() { return &socket_access::impl_; }
};

socket_ops::state_type& state_of(tcp::socket& s) {
  return (s.*socket_access::impl_member()).get_implementation().state_;
}

}  // namespace

boost::system::error_code open_non_blocking(tcp::socket& s, const tcp& p) {
  boost::system::error_code ec;
  const int fd = ::socket(p.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, p.protocol());
  if (fd < 0) return {errno, boost::system::system_category()};
  s.assign(p, fd, ec);  // registers it with the context's reactor
  if (ec) {
    ::close(fd);
    return ec;
  }
  // user_set: s.non_blocking() answers true, as after non_blocking(true); internal: no
  // operation sets it again. Fresh from socket(2): not a duplicate.
  auto& state = state_of(s);
  state |= socket_ops::user_set_non_blocking | socket_ops::internal_non_blocking;
  state &= static_cast<socket_ops::state_type>(~socket_ops::possible_dup);
  return ec;
}

void known_unshared(tcp::socket& s) {
  if (!s.is_open()) return;
  state_of(s) &= static_cast<socket_ops::state_type>(~socket_ops::possible_dup);
}

socket_state_view asio_state(tcp::socket& s) {
  const auto state = state_of(s);
  return {(state & socket_ops::internal_non_blocking) != 0,
          (state & socket_ops::possible_dup) != 0};
}

}  // namespace omsgw::net
