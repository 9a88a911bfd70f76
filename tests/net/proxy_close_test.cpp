// Issue 15 defect 4: a connection closed while its PROXY header is awaited must not keep
// itself alive through the callback it was given (which typically captures it).

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>

#include "net/tunnel.hpp"

namespace omsgw::net {
namespace {

namespace asio = boost::asio;

TEST(ProxyHeaderWait, CloseReleasesAConnectionWhoseCallbackCapturesIt) {
  asio::io_context ioc;
  tcp::acceptor listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(ioc);
  client.connect(listener.local_endpoint());
  tcp::socket accepted(asio::make_strand(ioc));
  listener.accept(accepted);
  bool called = false;
  std::uint64_t before = 0;
  {
    auto conn = std::make_shared<connection>(std::move(accepted), 1);
    before = connection::live_count();
    conn->read_proxy_header(std::chrono::seconds(30),
                            [conn, &called](const proxy_outcome&, bool) { called = true; });
    conn->close();
  }
  ioc.run_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(called);  // closed by its owner: the owner knows, no callback
  EXPECT_EQ(connection::live_count(), before - 1) << "the closed connection is still alive";
}

}  // namespace
}  // namespace omsgw::net
