// The tunnel phase (net/tunnel_relay) on its own, over real loopback sockets: the
// "200 Connection established" and the bytes a relay passed on before it reach the
// client whole and in order, whether the first send takes them all or the client
// reads slowly and the rest goes out asynchronously; the owner hears "established"
// only once all of it is out.
#include "net/tunnel_relay.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/http_reply.hpp"
#include "tests/net/loopback.hpp"

namespace omsgw::net {
namespace {

using namespace omsgw::net::testing;
namespace asio = boost::asio;

struct recorder final : connection_observer {
  int established = 0;
  int byte_reports = 0;
  std::uint64_t up = 0, down = 0;
  next_step on_request(const request_outcome&, bool) override { return {}; }
  next_step on_connect_failed(connect_failure, const std::string&) override { return {}; }
  void on_established(const established_info&) override { ++established; }
  void on_inspected(const tls::inspection_result&) override {}
  void on_bytes(std::uint64_t to_upstream, std::uint64_t to_client) override {
    ++byte_reports;
    up += to_upstream;
    down += to_client;
  }
  void on_closed(const tunnel_stats&) override {}
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7919) % 26);
  return s;
}

struct TunnelRelay : ::testing::Test {
  asio::io_context ctx;
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  tcp::socket client{ctx};  ///< the client's end
  tcp::socket far{ctx};     ///< the upstream's end
  std::shared_ptr<tunnel_relay> relay;

  /// A tunnel whose relay already passed `early` on; client_buffer bounds the kernel
  /// buffers between the gateway and the client (0: the defaults).
  void start(const std::string& early, int client_buffer) {
    auto [c, gw_client] = connected_pair(ctx, ctx.get_executor());
    auto [gw_upstream, f] = connected_pair(ctx, ctx.get_executor());
    client = std::move(c);
    far = std::move(f);
    if (client_buffer) {
      client.set_option(asio::socket_base::receive_buffer_size(client_buffer));
      gw_client.set_option(asio::socket_base::send_buffer_size(client_buffer));
    }
    gw_client.non_blocking(true);  // as the connection leaves it
    tunnel_relay::setup s{
        std::move(gw_client), {}, {}, {}, std::chrono::steady_clock::now(), {}, {}, rec};
    s.upstream.stream = std::make_unique<socket_stream>(std::move(gw_upstream));
    s.upstream.early = early;
    s.limits.idle = std::chrono::seconds(30);
    s.limits.handshake = std::chrono::seconds(30);
    relay = std::make_shared<tunnel_relay>(std::move(s), [](close_reason, std::string) {});
    relay->start();
  }

  /// Reads n bytes from the client's end, or from `from` (fewer if it ends first or the
  /// bound passes).
  std::string read_exactly(std::size_t n) { return read_exactly(client, n); }
  std::string read_exactly(tcp::socket& from, std::size_t n) {
    auto got = std::make_shared<std::string>();
    auto done = std::make_shared<bool>(false);
    asio::async_read(from, asio::dynamic_buffer(*got), asio::transfer_exactly(n),
                     [got, done](auto, std::size_t) { *done = true; });
    run_until(ctx, [&] { return *done; });
    return *got;
  }

  void TearDown() override {
    if (relay) relay->stop(close_reason::shutdown, {});
    relay.reset();
    settle(ctx);
  }
};

TEST_F(TunnelRelay, TheAnswerAndEarlyBytesGoOutAtOnceWhenTheyFit) {
  start("early", 0);
  // Sent during start(): nothing had to wait for the scheduler.
  EXPECT_EQ(rec->established, 1);
  EXPECT_EQ(read_exactly(connection_established().size() + 5),
            std::string(connection_established()) + "early");
}

TEST_F(TunnelRelay, WhatTheFirstSendCannotTakeGoesOutWhenTheClientReads) {
  const std::string early = pattern(4 << 20);  // far beyond the shrunken buffers
  start(early, 1 << 16);
  EXPECT_EQ(rec->established, 0) << "established before everything was sent";
  const std::string want = std::string(connection_established()) + early;
  const std::string got = read_exactly(want.size());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "bytes differ";
  EXPECT_TRUE(run_until(ctx, [&] { return rec->established == 1; }));
}

TEST_F(TunnelRelay, BytesAreReportedWhileTheTunnelIsQuietAndTheRestAtItsEnd) {
  start("", 0);
  ASSERT_EQ(read_exactly(connection_established().size()), connection_established());
  asio::write(client, asio::buffer(std::string(100, 'u')));
  asio::write(far, asio::buffer(std::string(30, 'd')));
  // The bytes are relayed, then nothing moves: they are reported at the next tick.
  EXPECT_EQ(read_exactly(30), std::string(30, 'd'));
  EXPECT_EQ(read_exactly(far, 100), std::string(100, 'u'));
  ASSERT_TRUE(run_until(ctx, [&] { return rec->up == 100 && rec->down == 30; }));
  const int reports = rec->byte_reports;
  EXPECT_GE(reports, 1);
  EXPECT_LE(reports, 2);  // a tick may fall between the two directions
  // Bytes after the last tick are reported when the tunnel stops.
  asio::write(client, asio::buffer(std::string(7, 'u')));
  ASSERT_EQ(read_exactly(far, 7), std::string(7, 'u'));
  relay->stop(close_reason::shutdown, {});
  EXPECT_EQ(rec->up, 107u);
  EXPECT_EQ(rec->down, 30u);
}

}  // namespace
}  // namespace omsgw::net
