#include "net/byte_stream.hpp"

namespace omsgw::net {
using boost::system::error_code;

socket_stream::socket_stream(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ignored;
  if (!socket_.non_blocking()) socket_.non_blocking(true, ignored);  // each is an ioctl
}

void socket_stream::async_wait(wait_for what, wait_handler done) {
  socket_.async_wait(what == wait_for::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                     std::move(done));
}

std::size_t socket_stream::read_some(boost::asio::mutable_buffer buf, error_code& ec) {
  return socket_.read_some(buf, ec);
}

std::size_t socket_stream::write_some(boost::asio::const_buffer buf, error_code& ec) {
  return socket_.write_some(buf, ec);
}

void socket_stream::shutdown_send() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void socket_stream::close() {
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace omsgw::net
