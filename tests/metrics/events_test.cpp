#include "metrics/events.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace omsgw::events {
namespace {

using config::log_format;
using std::chrono::milliseconds;
using time_point = flood_limiter::time_point;

constexpr std::int64_t t0_ms = 1700000000123;  // 2023-11-14T22:13:20.123Z

std::string text(level lvl, id event, const context& ctx, std::string_view msg,
                 std::initializer_list<field> fields = {}) {
  return format_line(log_format::text, lvl, event, ctx, msg, fields, t0_ms);
}

std::string json(level lvl, id event, const context& ctx, std::string_view msg,
                 std::initializer_list<field> fields = {}) {
  return format_line(log_format::json, lvl, event, ctx, msg, fields, t0_ms);
}

/// A fake steady clock: time_point{} + ms.
time_point at(std::int64_t ms) { return time_point{} + milliseconds(ms); }

TEST(EventsFormat, WritesTextLinesWithEventIdContextAndFields) {
  EXPECT_EQ(text(level::warn, id::not_allowed, {7, "192.0.2.7:5000", "evil.test:443"},
                 "destination not allowed", {{"reason", "host"}}),
            "2023-11-14T22:13:20.123Z warn event_id=105 conn=7 client=192.0.2.7:5000 "
            "dest=evil.test:443 reason=host msg=\"destination not allowed\"");
  EXPECT_EQ(text(level::info, id::started, {}, "started"),
            "2023-11-14T22:13:20.123Z info event_id=101 msg=started");
}

TEST(EventsFormat, WritesJsonLinesWithEventIdContextAndFields) {
  EXPECT_EQ(json(level::error, id::network_error, {9, "[2001:db8::1]:4000", "a.test:443"}, "refused",
                 {{"reason", "refused"}, {"would_deny", "true"}}),
            R"({"time":"2023-11-14T22:13:20.123Z","level":"error","event_id":403,"conn":9,)"
            R"("client":"[2001:db8::1]:4000","dest":"a.test:443","reason":"refused",)"
            R"("would_deny":true,"msg":"refused"})");
}

TEST(EventsFormat, QuotesAndEscapesTextValuesSoAnEventStaysOneLine) {
  EXPECT_EQ(text(level::warn, id::not_connect, {}, ""),
            "2023-11-14T22:13:20.123Z warn event_id=104 msg=\"\"");
  const auto line = text(level::warn, id::not_connect, {}, "a=b \"q\" back\\slash\r\nnext\x01",
                         {{"method", std::string_view("G\0T", 3)}});
  EXPECT_EQ(line,
            "2023-11-14T22:13:20.123Z warn event_id=104 method=\"G\\x00T\" "
            "msg=\"a=b \\\"q\\\" back\\\\slash\\x0d\\x0anext\\x01\"");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(EventsFormat, KeepsValidUtf8AndEscapesInvalidBytesInText) {
  EXPECT_EQ(text(level::info, id::info, {}, "caf\xc3\xa9"),
            "2023-11-14T22:13:20.123Z info event_id=100 msg=caf\xc3\xa9");
  // A stray continuation byte, an overlong '/', a surrogate and a truncated sequence.
  EXPECT_EQ(text(level::info, id::info, {}, "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82"),
            "2023-11-14T22:13:20.123Z info event_id=100 "
            "msg=\"a\\x80b\\xc0\\xafc\\xed\\xa0\\x80d\\xe2\\x82\"");
  EXPECT_EQ(text(level::info, id::info, {}, "del\x7f"),
            "2023-11-14T22:13:20.123Z info event_id=100 msg=\"del\\x7f\"");
}

TEST(EventsFormat, EscapesJsonStringsAndReplacesInvalidUtf8) {
  static constexpr char message[] = "q\" b\\ n\n r\r t\t nul\0 one\x01 del\x7f";
  const auto line = json(level::warn, id::not_connect, {0, "c\"1", {}},
                         std::string_view(message, sizeof message - 1),
                         {{"k\"ey", "caf\xc3\xa9 \xff\xfe"}});
  EXPECT_EQ(line,
            R"({"time":"2023-11-14T22:13:20.123Z","level":"warn","event_id":104,"client":"c\"1",)"
            R"("k\"ey":"caf)" "\xc3\xa9" R"( \ufffd\ufffd",)"
            R"("msg":"q\" b\\ n\n r\r t\t nul\u0000 one\u0001 del\u007f"})");
}

TEST(EventsFormat, CutsOverlongValuesWithoutSplittingUtf8) {
  const std::string long_msg(max_message_bytes + 100, 'a');
  const auto line = text(level::warn, id::not_connect, {}, long_msg);
  EXPECT_NE(line.find("msg=" + std::string(max_message_bytes, 'a') + "..."), std::string::npos);
  EXPECT_LT(line.size(), max_message_bytes + 100);

  // A two-byte character straddling the limit is dropped whole.
  std::string field(max_field_bytes - 1, 'b');
  field += "\xc3\xa9tail";
  const auto cut = json(level::info, id::info, {}, "m", {{"subject", field}});
  EXPECT_NE(cut.find("\"subject\":\"" + std::string(max_field_bytes - 1, 'b') + "...\""),
            std::string::npos);
  EXPECT_EQ(cut.find("\\ufffd"), std::string::npos);
}

TEST(EventsFlood, LimitsOnlyRefusalsAtWarnOrError) {
  for (id e : {id::not_connect, id::not_allowed, id::tls_rejected, id::application_error,
               id::tls_parse_error, id::network_error}) {
    EXPECT_TRUE(flood_limited(level::warn, e)) << static_cast<int>(e);
    EXPECT_TRUE(flood_limited(level::error, e)) << static_cast<int>(e);
    EXPECT_FALSE(flood_limited(level::info, e)) << static_cast<int>(e);
    EXPECT_FALSE(flood_limited(level::debug, e)) << static_cast<int>(e);
  }
  for (id e : {id::info, id::started, id::stopped, id::connect_received, id::tls_verified,
               id::wrong_configuration}) {
    EXPECT_FALSE(flood_limited(level::warn, e)) << static_cast<int>(e);
    EXPECT_FALSE(flood_limited(level::error, e)) << static_cast<int>(e);
  }
}

TEST(EventsFlood, KeysByClientAddressWithoutThePort) {
  EXPECT_EQ(client_address("192.0.2.7:5000"), "192.0.2.7");
  EXPECT_EQ(client_address("[2001:db8::1]:5000"), "2001:db8::1");
  EXPECT_EQ(client_address("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(client_address("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(client_address(""), "");
  EXPECT_EQ(client_address("[broken"), "broken");
}

TEST(EventsFlood, WritesTheFirstBurstOfAWindowThenCountsTheRest) {
  flood_limiter lim({3, milliseconds(10'000), 64, 4});
  std::vector<flood_summary> ended;
  std::vector<bool> written;
  for (int i = 0; i < 10; ++i) {
    written.push_back(lim.admit(id::not_allowed, level::warn, "192.0.2.7", at(i * 100), ended));
  }
  EXPECT_EQ(written, (std::vector<bool>{true, true, true, false, false, false, false, false,
                                        false, false}));
  EXPECT_TRUE(ended.empty());
  EXPECT_EQ(lim.size(), 1u);
}

TEST(EventsFlood, TheKeysNextEventAfterTheWindowWritesTheSummary) {
  flood_limiter lim({2, milliseconds(10'000), 64, 4});
  std::vector<flood_summary> ended;
  for (int i = 0; i < 4812; ++i) lim.admit(id::not_allowed, level::warn, "192.0.2.7", at(i), ended);
  ASSERT_TRUE(ended.empty());
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "192.0.2.7", at(10'000), ended));
  ASSERT_EQ(ended.size(), 1u);
  const auto& s = ended[0];
  EXPECT_EQ(s.event, id::not_allowed);
  EXPECT_EQ(s.lvl, level::warn);
  EXPECT_EQ(s.client, "192.0.2.7");
  EXPECT_EQ(s.repeated, 4812u);
  EXPECT_EQ(s.suppressed, 4810u);
  EXPECT_EQ(s.message(),
            "event 105 repeated 4812 times from 192.0.2.7 in 10 s (4810 lines suppressed; "
            "counters are exact)");
  // The new window starts with that event: one more line, then suppression again.
  ended.clear();
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "192.0.2.7", at(10'001), ended));
  EXPECT_FALSE(lim.admit(id::not_allowed, level::warn, "192.0.2.7", at(10'002), ended));
  EXPECT_TRUE(ended.empty());
}

TEST(EventsFlood, NoSummaryWhenNothingWasSuppressed) {
  flood_limiter lim({5, milliseconds(1'000), 64, 4});
  std::vector<flood_summary> ended;
  for (int i = 0; i < 5; ++i) lim.admit(id::not_connect, level::warn, "192.0.2.8", at(i), ended);
  EXPECT_TRUE(lim.admit(id::not_connect, level::warn, "192.0.2.8", at(5'000), ended));
  lim.sweep(at(60'000), false, ended);
  EXPECT_TRUE(ended.empty());
  EXPECT_EQ(lim.size(), 0u);
}

TEST(EventsFlood, SweepSummarisesAFloodThatStoppedAndForgetsEndedKeys) {
  flood_limiter lim({1, milliseconds(10'000), 64, 4});
  std::vector<flood_summary> ended;
  for (int i = 0; i < 50; ++i) lim.admit(id::tls_rejected, level::warn, "198.51.100.1", at(i), ended);
  lim.admit(id::tls_rejected, level::warn, "198.51.100.2", at(5'000), ended);
  lim.admit(id::tls_rejected, level::warn, "198.51.100.2", at(5'001), ended);
  lim.sweep(at(9'999), false, ended);  // no window has ended yet
  EXPECT_TRUE(ended.empty());
  EXPECT_EQ(lim.size(), 2u);
  lim.sweep(at(10'000), false, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].client, "198.51.100.1");
  EXPECT_EQ(ended[0].repeated, 50u);
  EXPECT_EQ(ended[0].suppressed, 49u);
  EXPECT_EQ(lim.size(), 1u);  // the second key's window is still open
  ended.clear();
  lim.sweep(at(15'000), false, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].client, "198.51.100.2");
  EXPECT_EQ(lim.size(), 0u);
}

TEST(EventsFlood, SweepingEverythingReportsTheTimeSoFar) {
  flood_limiter lim({1, milliseconds(10'000), 64, 4});
  std::vector<flood_summary> ended;
  for (int i = 0; i < 3; ++i) lim.admit(id::network_error, level::error, "", at(i), ended);
  lim.sweep(at(2'500), true, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].span, milliseconds(2'500));
  EXPECT_EQ(ended[0].lvl, level::error);
  EXPECT_EQ(ended[0].message(),
            "event 403 repeated 3 times in 3 s (2 lines suppressed; counters are exact)");
  EXPECT_EQ(lim.size(), 0u);
}

TEST(EventsFlood, KeysAreIndependentByEventAndByAddress) {
  flood_limiter lim({1, milliseconds(10'000), 64, 4});
  std::vector<flood_summary> ended;
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "192.0.2.1", at(0), ended));
  EXPECT_FALSE(lim.admit(id::not_allowed, level::warn, "192.0.2.1", at(1), ended));
  EXPECT_TRUE(lim.admit(id::not_connect, level::warn, "192.0.2.1", at(2), ended));
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "192.0.2.2", at(3), ended));
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "2001:db8::1", at(4), ended));
  EXPECT_EQ(lim.size(), 4u);
}

TEST(EventsFlood, BoundsItsMemoryWithAnOverflowKeyWhenFull) {
  // One shard of 8 keys: the 9th address and later share the overflow key "*".
  flood_limiter lim({2, milliseconds(10'000), 8, 1});
  std::vector<flood_summary> ended;
  std::size_t written = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::string addr = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    written += lim.admit(id::not_allowed, level::warn, addr, at(i / 10), ended) ? 1 : 0;
  }
  EXPECT_LE(lim.size(), 9u);
  EXPECT_EQ(written, 8u + 2u);  // one line for each tracked address, a burst for the rest
  EXPECT_TRUE(ended.empty());
  lim.sweep(at(20'000), false, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].client, "*");
  EXPECT_EQ(ended[0].repeated, 10'000u - 8u);
  EXPECT_NE(ended[0].message().find("from other clients"), std::string::npos);
}

TEST(EventsFlood, AFullShardEvictsEndedWindowsBeforeOverflowing) {
  flood_limiter lim({1, milliseconds(1'000), 2, 1});
  std::vector<flood_summary> ended;
  lim.admit(id::not_allowed, level::warn, "192.0.2.1", at(0), ended);
  lim.admit(id::not_allowed, level::warn, "192.0.2.1", at(1), ended);  // suppressed
  lim.admit(id::not_allowed, level::warn, "192.0.2.2", at(2), ended);
  EXPECT_TRUE(lim.admit(id::not_allowed, level::warn, "192.0.2.3", at(5'000), ended));
  ASSERT_EQ(ended.size(), 1u);  // 192.0.2.1's summary, written by the eviction
  EXPECT_EQ(ended[0].client, "192.0.2.1");
  EXPECT_EQ(lim.size(), 1u);
}

TEST(EventsFlood, CountsExactlyUnderConcurrentUse) {
  flood_limiter lim({20, milliseconds(10'000), 4096, 16});
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  std::atomic<int> written{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<flood_summary> ended;
      for (int i = 0; i < per_thread; ++i) {
        // Half the events share one key, the rest spread over 100 addresses.
        const std::string addr = i % 2 ? "192.0.2.7" : "10.1.0." + std::to_string((i + t) % 100);
        if (lim.admit(id::not_connect, level::warn, addr, at(i / 100), ended)) ++written;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(written.load(), 20 * 101);
  std::vector<flood_summary> ended;
  lim.sweep(at(100'000), false, ended);
  std::uint64_t repeated = 0;
  std::uint64_t suppressed = 0;
  for (const auto& s : ended) {
    repeated += s.repeated;
    suppressed += s.suppressed;
  }
  EXPECT_EQ(repeated, std::uint64_t{threads} * per_thread);
  EXPECT_EQ(suppressed, std::uint64_t{threads} * per_thread - 20 * 101);
}

TEST(EventsFlood, AdmitAppliesTheProcessWideLimiterToRefusalsOnly) {
  const context ctx{1, "203.0.113.99:40000", "x.test:443"};
  int written = 0;
  for (int i = 0; i < 100; ++i) written += admit(level::warn, id::not_allowed, ctx) ? 1 : 0;
  EXPECT_EQ(written, static_cast<int>(flood_options{}.burst));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(admit(level::info, id::connect_received, ctx));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(admit(level::error, id::wrong_configuration, ctx));
}

}  // namespace
}  // namespace omsgw::events
