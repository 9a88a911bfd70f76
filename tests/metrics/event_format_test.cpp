#include "metrics/event_format.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <spdlog/details/log_msg.h>

namespace omsgw::events {
namespace {

using config::log_format;

constexpr std::int64_t t0_ms = 1700000000123;  // 2023-11-14T22:13:20.123Z

const std::string hostile = std::string("a\0b\"c\\d\n\xff=e ", 12);

log_format g_format = log_format::text;
log_format format_now() { return g_format; }

/// What the logger's sink writes for one packed record at level lvl and time t0.
std::string through_formatter(level lvl, const std::string& payload) {
  spdlog::details::log_msg msg(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(t0_ms)),
      spdlog::source_loc{}, "omsgw",
      lvl == level::warn ? spdlog::level::warn : spdlog::level::info,
      spdlog::string_view_t(payload.data(), payload.size()));
  event_formatter f(&format_now);
  spdlog::memory_buf_t out;
  f.format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(EventRecord, PacksAndUnpacksEveryByte) {
  const context ctx{42, hostile, "dest.test:443"};
  const auto packed = pack_record(id::tls_rejected, ctx, hostile, {{"k", hostile}, {"", ""}});
  record_view r;
  ASSERT_TRUE(unpack_record(packed, r));
  EXPECT_EQ(r.event, id::tls_rejected);
  EXPECT_EQ(r.ctx.conn_id, 42u);
  EXPECT_EQ(r.ctx.client, hostile);
  EXPECT_EQ(r.ctx.dest, "dest.test:443");
  EXPECT_EQ(r.message, hostile);
  ASSERT_EQ(r.fields.size(), 2u);
  EXPECT_EQ(r.fields[0].first, "k");
  EXPECT_EQ(r.fields[0].second, hostile);
  EXPECT_TRUE(r.fields[1].first.empty() && r.fields[1].second.empty());
}

TEST(EventRecord, RefusesEveryTruncationAndTrailingBytes) {
  const auto packed = pack_record(id::info, {1, "c", "d"}, "message", {{"a", "b"}});
  for (std::size_t n = 0; n < packed.size(); ++n) {
    record_view r;
    EXPECT_FALSE(unpack_record(std::string_view(packed).substr(0, n), r)) << n;
  }
  record_view r;
  EXPECT_FALSE(unpack_record(packed + "x", r));
  EXPECT_FALSE(unpack_record("plain text", r));
}

TEST(EventFormatter, WritesWhatFormatLineWouldPlusANewline) {
  const context ctx{7, "192.0.2.7:5000", "evil.test:443"};
  const auto packed = pack_record(id::not_allowed, ctx, hostile, {{"reason", "host"}});
  for (const auto format : {log_format::text, log_format::json}) {
    g_format = format;
    EXPECT_EQ(through_formatter(level::warn, packed),
              format_line(format, level::warn, id::not_allowed, ctx, hostile,
                          {{"reason", "host"}}, t0_ms) + "\n");
  }
  g_format = log_format::text;
}

TEST(EventFormatter, FollowsTheFormatInForceAtWriteTime) {
  const auto packed = pack_record(id::started, {}, "started", {});
  g_format = log_format::text;
  EXPECT_EQ(through_formatter(level::info, packed),
            "2023-11-14T22:13:20.123Z info event_id=101 msg=started\n");
  g_format = log_format::json;
  EXPECT_EQ(through_formatter(level::info, packed),
            R"({"time":"2023-11-14T22:13:20.123Z","level":"info","event_id":101,"msg":"started"})"
            "\n");
  g_format = log_format::text;
}

TEST(EventFormatter, WritesAMessageThatIsNotARecordAsItIs) {
  EXPECT_EQ(through_formatter(level::info, "from elsewhere"), "from elsewhere\n");
}

}  // namespace
}  // namespace omsgw::events
