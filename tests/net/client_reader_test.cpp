// The client reader over a real loopback connection: the PROXY header's tail starts
// the request, the request's tail is kept for the tunnel, a client that leaves is
// reported, and cancel() drops the pending handler.
#include "net/client_reader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <optional>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

struct ClientReader : ::testing::Test {
  asio::io_context ctx;
  tcp::socket client{ctx}, server{ctx};
  void SetUp() override {
    auto [a, b] = connected_pair(ctx, ctx.get_executor());
    client = std::move(a);
    server = std::move(b);
  }
  void send(const std::string& bytes) { asio::write(client, asio::buffer(bytes)); }
};

TEST_F(ClientReader, KeepsWhatFollowsEachHeader) {
  client_reader reader(server);
  std::optional<proxy_outcome> proxy;
  std::optional<request_outcome> request;
  reader.read_proxy_header([&](const proxy_outcome& o) {
    proxy = o;
    reader.read_request(max_header_bytes, [&](const request_outcome& r) { request = r; });
  });
  send("PROXY TCP4 198.51.100.7 192.0.2.1 40000 3128\r\nCONNECT a.example:443 HTTP/1.1\r\n");
  settle(ctx);
  ASSERT_TRUE(proxy.has_value());
  EXPECT_EQ(proxy->status, proxy_status::ok);
  EXPECT_FALSE(request.has_value());  // the request is not complete yet
  send("\r\n\x16\x03\x01");
  ASSERT_TRUE(run_until(ctx, [&] { return request.has_value(); }));
  EXPECT_EQ(request->status, request_status::connect);
  EXPECT_EQ(request->host, "a.example");
  EXPECT_EQ(reader.take_leftover(), "\x16\x03\x01");
}

TEST_F(ClientReader, ReportsAClientThatLeavesBeforeItsRequest) {
  client_reader reader(server);
  std::optional<request_outcome> request;
  int calls = 0;
  reader.read_request(max_header_bytes, [&](const request_outcome& r) {
    ++calls;
    request = r;
  });
  send("CONNECT a.exa");
  client.close();
  ASSERT_TRUE(run_until(ctx, [&] { return request.has_value(); }));
  settle(ctx);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(request->status, request_status::need_more);
  EXPECT_NE(request->detail.find("client closed"), std::string::npos) << request->detail;
}

TEST_F(ClientReader, CancelDropsThePendingHandler) {
  client_reader reader(server);
  int calls = 0;
  reader.read_request(max_header_bytes, [&](const request_outcome&) { ++calls; });
  settle(ctx);
  reader.cancel();
  send("CONNECT a.example:443 HTTP/1.1\r\n\r\n");
  settle(ctx);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace omsgw::net
