#pragma once
/// \file
/// Reads what a client sends before its tunnel: the PROXY protocol header a load
/// balancer puts first (listen.proxy_protocol) and the CONNECT request header, with
/// the pure parsers net/proxy_protocol and net/connect_request. Bytes past each header
/// are kept: those after the PROXY header start the request, those after the request
/// (a ClientHello sent without waiting for the 200) start the tunnel.
///
/// It has no timer: the connection bounds each read with its deadline and cancels.

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "net/connect_request.hpp"
#include "net/limits.hpp"
#include "net/proxy_protocol.hpp"

namespace omsgw::net {

using tcp = boost::asio::ip::tcp;

class client_reader {
 public:
  explicit client_reader(tcp::socket& socket) : socket_(socket) {}
  client_reader(const client_reader&) = delete;
  client_reader& operator=(const client_reader&) = delete;

  /// Terminal outcome, or status need_more with detail when the client went away.
  using proxy_handler = std::function<void(const proxy_outcome&)>;
  using request_handler = std::function<void(const request_outcome&)>;

  /// Reads one PROXY v1/v2 header. done runs once (on the socket's executor) unless
  /// cancel() comes first; it keeps its captures (the owner) alive meanwhile.
  void read_proxy_header(proxy_handler done);
  /// Reads the request header, at most header_limit octets; same contract.
  void read_request(std::size_t header_limit, request_handler done);
  /// The outcome so far (need_more, with a detail, when the client is just slow).
  const proxy_outcome& proxy_so_far() const;
  /// Stops reading; the pending handler is dropped. The socket stays open.
  void cancel();
  /// Bytes after the CONNECT header (valid once it was read); leaves none behind.
  std::string take_leftover();

 private:
  void read_more();
  void on_proxy_bytes(std::size_t n);
  void on_request_bytes(const char* data, std::size_t n);

  tcp::socket& socket_;
  std::unique_ptr<char[]> buf_;
  std::unique_ptr<proxy_header_reader> proxy_;
  std::unique_ptr<request_reader> request_;
  proxy_handler proxy_done_;
  request_handler request_done_;
  std::string prefetched_;  ///< read past the PROXY header
  std::uint64_t generation_ = 0;  ///< bumped by cancel(): older completions are stale
};

}  // namespace omsgw::net
