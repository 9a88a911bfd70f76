// Unit tests for actors/telemetry and actors/perfmon_writer: the /status JSON (every
// string escaped), the OMS counters PerfMon samples, and the once-per-error rule.

#include "actors/perfmon_writer.hpp"
#include "actors/telemetry.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace omsgw::actors {
namespace {

std::shared_ptr<services> make_services() {
  auto svc = std::make_shared<services>();
  svc->version = "1.2.3";
  svc->metrics = std::make_shared<metrics::gateway_metrics>(svc->version);
  return svc;
}

net::policy_ptr make_snapshot(config::gateway_config cfg, std::string hash) {
  return net::make_policy(std::make_shared<const config::gateway_config>(std::move(cfg)), 7,
                          std::move(hash));
}

std::size_t index_of(net::deny_reason r) { return static_cast<std::size_t>(r); }

TEST(JsonQuote, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_quote(""), "\"\"");
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(json_quote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
  // JSON text must be UTF-8: bytes that are not become U+FFFD.
  EXPECT_EQ(json_quote("a\xff" "b\xc3"), "\"a\\ufffdb\\ufffd\"");
  EXPECT_EQ(json_quote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
}

TEST(StatusJson, CarriesTheFourOmsCountersVersionAndConfig) {
  auto svc = make_services();
  auto& m = *svc->metrics;
  m.errors.Increment(2);
  m.count_rejection(index_of(net::deny_reason::host));
  m.count_rejection(index_of(net::deny_reason::host));
  m.count_rejection(index_of(net::deny_reason::not_tls));
  m.connect_requests.Increment(6);
  config::gateway_config cfg;
  cfg.perfmon.csv_file = "/var/log/omsgw/omsgw.csv";
  cfg.perfmon.interval_s = 5;
  listener_status ls{3, 1, 1000, false};
  const auto json = status_json(*svc, ls, *make_snapshot(cfg, "0123456789ab"), 12.5);
  EXPECT_EQ(json,
            "{\"version\":\"1.2.3\",\"uptime_seconds\":12.500,\"config_version\":7,"
            "\"config_hash\":\"0123456789ab\",\"mode\":\"enforce\",\"draining\":false,"
            "\"capacity\":1000,\"active_client_connections\":3,\"connected_clients\":1,"
            "\"error_count\":2,\"rejection_count\":3,\"connect_requests\":6,"
            "\"relay_proxy\":\"direct\","
            "\"perfmon\":{\"csv_file\":\"/var/log/omsgw/omsgw.csv\",\"interval_s\":5}}");
}

TEST(StatusJson, EscapesEveryStringItCarries) {
  auto svc = make_services();
  config::gateway_config cfg;
  cfg.perfmon.csv_file = "C:\\logs\\\"odd\".csv";
  cfg.relay_proxy.address = "http://relay:3128";
  listener_status ls{0, 0, 10, true};
  const auto json = status_json(*svc, ls, *make_snapshot(cfg, "h\"x"), 0);
  EXPECT_NE(json.find("\"config_hash\":\"h\\\"x\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"csv_file\":\"C:\\\\logs\\\\\\\"odd\\\".csv\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"draining\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"relay_proxy\":\""), std::string::npos) << json;  // a string
}

TEST(ReadOmsCounters, SumsRejectionsOverEveryReason) {
  auto svc = make_services();
  auto& m = *svc->metrics;
  m.active_client_connections.Set(4);
  m.connected_clients.Set(2);
  m.errors.Increment();
  for (auto r : {net::deny_reason::host, net::deny_reason::port, net::deny_reason::client,
                 net::deny_reason::limit, net::deny_reason::tls_version,
                 net::deny_reason::sni_mismatch, net::deny_reason::client_cert,
                 net::deny_reason::not_tls, net::deny_reason::tls_parse}) {
    m.count_rejection(index_of(r));
  }
  m.count_would_deny(index_of(net::deny_reason::host));  // report mode: not a rejection
  const auto s = read_oms_counters(m);
  EXPECT_EQ(s.active_client_connections, 4);
  EXPECT_EQ(s.connected_clients, 2);
  EXPECT_EQ(s.error_count, 1);
  EXPECT_EQ(s.rejection_count, 9);
}

TEST(PerfmonWriter, LogsAnErrorOnlyWhenItDiffersFromTheLastOne) {
  EXPECT_TRUE(perfmon_error_is_new("", "Permission denied"));
  EXPECT_FALSE(perfmon_error_is_new("Permission denied", "Permission denied"));
  EXPECT_TRUE(perfmon_error_is_new("Permission denied", "No space left on device"));
  EXPECT_FALSE(perfmon_error_is_new("Permission denied", ""));
}

}  // namespace
}  // namespace omsgw::actors
