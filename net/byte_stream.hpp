#pragma once
/// \file
/// The upstream side of a tunnel as a byte stream: a plain TCP socket today, a TLS
/// stream to an https relay later. The pumps use it in the readiness style Asio's
/// reactor and libcurl's curl_easy_recv/send share: wait until an operation may make
/// progress, then try it without blocking. A buffer is thus only needed while bytes
/// are actually there (an idle tunnel holds none).

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>

namespace omsgw::net {

using tcp = boost::asio::ip::tcp;

class byte_stream {
 public:
  virtual ~byte_stream() = default;
  enum class wait_for { read, write };
  using wait_handler = std::function<void(const boost::system::error_code&)>;
  /// Calls done (on the stream's executor) once a read_some/write_some may make
  /// progress, or with an error (operation_aborted after close()).
  virtual void async_wait(wait_for what, wait_handler done) = 0;
  /// Non-blocking; would_block/try_again when nothing can be done now, eof at the end.
  virtual std::size_t read_some(boost::asio::mutable_buffer buf, boost::system::error_code& ec) = 0;
  virtual std::size_t write_some(boost::asio::const_buffer buf, boost::system::error_code& ec) = 0;
  /// Passes a half-close on (TCP FIN; close_notify is not a half-close in TLS).
  virtual void shutdown_send() = 0;
  virtual void close() = 0;
  /// The TCP socket whose bytes are the stream's bytes, when there is one (splice(2)
  /// may then move them in the kernel); null for a stream that transforms bytes.
  virtual tcp::socket* plain_socket() = 0;
};

/// A plain TCP socket as a byte_stream.
class socket_stream final : public byte_stream {
 public:
  explicit socket_stream(tcp::socket socket);
  void async_wait(wait_for what, wait_handler done) override;
  std::size_t read_some(boost::asio::mutable_buffer buf, boost::system::error_code& ec) override;
  std::size_t write_some(boost::asio::const_buffer buf, boost::system::error_code& ec) override;
  void shutdown_send() override;
  void close() override;
  tcp::socket* plain_socket() override { return &socket_; }
  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
};

}  // namespace omsgw::net
