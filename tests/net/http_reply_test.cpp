// The gateway's own answers: Beast's reason phrases, and the graceful close that lets
// a client still sending read its answer (no RST).
#include "net/http_reply.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

TEST(HttpReply, UsesBeastsReasonPhrases) {
  for (const auto& [status, line] : std::vector<std::pair<int, std::string>>{
           {400, "HTTP/1.1 400 Bad Request\r\n"},
           {403, "HTTP/1.1 403 Forbidden\r\n"},
           {408, "HTTP/1.1 408 Request Timeout\r\n"},
           {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
           {502, "HTTP/1.1 502 Bad Gateway\r\n"},
           {503, "HTTP/1.1 503 Service Unavailable\r\n"},
           {504, "HTTP/1.1 504 Gateway Timeout\r\n"}}) {
    EXPECT_EQ(final_reply(status), line + "Content-Length: 0\r\nConnection: close\r\n\r\n");
  }
  EXPECT_EQ(final_reply(405, "Allow: CONNECT\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  EXPECT_EQ(connection_established(), "HTTP/1.1 200 Connection established\r\n\r\n");
}

TEST(HttpReply, AClientStillSendingGetsTheWholeAnswerAndAnOrderlyEnd) {
  asio::io_context ctx;
  auto [client, server] = connected_pair(ctx, ctx.get_executor());
  // Unread bytes in the gateway's receive buffer would turn a plain close into RST.
  asio::write(client, asio::buffer(std::string(64 * 1024, 'x')));
  bool closed = false;
  async_reply_and_close(std::move(server), final_reply(400), std::chrono::seconds(5),
                        [&] { closed = true; });
  std::string got;
  boost::system::error_code ec;
  bool done = false;
  asio::async_read(client, asio::dynamic_buffer(got), [&](auto e, std::size_t) {
    ec = e;
    done = true;
  });
  ASSERT_TRUE(run_until(ctx, [&] { return got.size() >= final_reply(400).size(); }));
  client.shutdown(asio::ip::tcp::socket::shutdown_send);  // the client is done too
  ASSERT_TRUE(run_until(ctx, [&] { return done && closed; }));
  EXPECT_EQ(ec, asio::error::eof);  // not connection_reset
  EXPECT_EQ(got, final_reply(400));
}

}  // namespace
}  // namespace omsgw::net
