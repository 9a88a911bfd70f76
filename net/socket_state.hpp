#pragma once
/// \file
/// What the gateway knows about a descriptor, told to Asio so that Asio makes no system
/// call to find it out or to make it so. Boost 1.74's reactive sockets keep a few state
/// bits per socket (detail/socket_ops.hpp): whether the descriptor is non-blocking (else
/// Asio's first operation sets O_NONBLOCK with an ioctl) and whether it may be a
/// duplicate (every assigned or accepted descriptor is presumed one, so its close first
/// removes it from epoll with EPOLL_CTL_DEL: a duplicate would keep the registration
/// alive after the close). Per tunnel this is two system calls of about 24. The bits
/// are reached through Asio's protected member (socket_state.cpp), the one place that
/// depends on them; tests/net/socket_state_test.cpp pins their meaning.

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace omsgw::net {

/// Opens s (closed) as a TCP socket for p that is non-blocking and close-on-exec from
/// its socket(2) call on, and tells Asio so: no ioctl follows.
boost::system::error_code open_non_blocking(boost::asio::ip::tcp::socket& s,
                                            const boost::asio::ip::tcp& p);

/// s's descriptor is the only one for its socket: fresh from accept(2) or socket(2),
/// never duplicated, and the process never forks. Its close then removes it from
/// epoll without an EPOLL_CTL_DEL.
void known_unshared(boost::asio::ip::tcp::socket& s);

/// Asio's view of s: non-blocking as Asio knows it, and presumed a possible duplicate.
struct socket_state_view {
  bool non_blocking = false;
  bool possible_duplicate = false;
};
socket_state_view asio_state(boost::asio::ip::tcp::socket& s);

}  // namespace omsgw::net
