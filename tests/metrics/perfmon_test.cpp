// Unit tests for metrics/perfmon: the PDH-CSV 4.0 bytes (header, rows, quoting, time
// zone bias) and the log file's open / append / rotate / error behaviour.

#include "metrics/perfmon.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <regex>
#include <string>

#include "tests/temp_dir.hpp"

namespace omsgw::metrics {
namespace {

namespace fs = std::filesystem;

constexpr const char* k_utc = "Coordinated Universal Time";

// The header a Windows host "GW01" in UTC would get, byte for byte.
constexpr const char* k_gw01_utc_header =
    R"csv("(PDH-CSV 4.0) (Coordinated Universal Time)(0)","\\GW01\OMS Gateway\Active Client Connection","\\GW01\OMS Gateway\Error Count","\\GW01\OMS Gateway\Connected Client","\\GW01\OMS Gateway\Rejection Count")csv"
    "\r\n";

perfmon_time at(int year, int month, int day, int hour, int minute, int second, int ms,
                std::string zone = k_utc, int bias = 0) {
  perfmon_time t;
  t.year = year;
  t.month = month;
  t.day = day;
  t.hour = hour;
  t.minute = minute;
  t.second = second;
  t.millisecond = ms;
  t.zone_name = std::move(zone);
  t.bias_minutes = bias;
  return t;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A fresh directory per test, removed afterwards.
class PerfmonLog : public ::testing::Test {
 protected:
  omsgw::testing::temp_dir tmp_{"omsgw-perfmon"};
  fs::path dir_ = tmp_.path();
  fs::path file_ = dir_ / "counters.csv";
};

// Sets TZ for one test and restores the previous value.
class scoped_tz {
 public:
  explicit scoped_tz(const char* tz) {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~scoped_tz() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

std::chrono::system_clock::time_point utc(std::int64_t unix_ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms));
}

TEST(PerfmonFormat, HeaderIsTheExactTypeperfBytes) {
  EXPECT_EQ(perfmon_header("GW01", k_utc, 0), k_gw01_utc_header);
}

TEST(PerfmonFormat, HeaderCarriesZoneNameAndSignedBias) {
  const std::string east = perfmon_header("h", "CET", -60);
  EXPECT_EQ(east.rfind(R"csv("(PDH-CSV 4.0) (CET)(-60)",)csv", 0), 0u) << east;
  const std::string west = perfmon_header("h", "Eastern Daylight Time", 240);
  EXPECT_EQ(west.rfind(R"csv("(PDH-CSV 4.0) (Eastern Daylight Time)(240)",)csv", 0), 0u) << west;
}

TEST(PerfmonFormat, QuoteInHostNameIsDoubled) {
  const std::string h = perfmon_header("a\"b", k_utc, 0);
  EXPECT_NE(h.find(R"csv(,"\\a""b\OMS Gateway\Active Client Connection",)csv"), std::string::npos)
      << h;
  EXPECT_EQ(perfmon_quote(R"(say "hi")"), R"("say ""hi""")");
  EXPECT_EQ(perfmon_quote(""), R"("")");
}

TEST(PerfmonFormat, RowHasZeroPaddedLocalTimeWithMilliseconds) {
  const perfmon_sample s{3, 0, 2, 1};
  EXPECT_EQ(perfmon_row(at(2025, 7, 4, 9, 5, 3, 7), s),
            "\"07/04/2025 09:05:03.007\",\"3\",\"0\",\"2\",\"1\"\r\n");
  EXPECT_EQ(perfmon_row(at(2024, 12, 31, 23, 59, 59, 999), s),
            "\"12/31/2024 23:59:59.999\",\"3\",\"0\",\"2\",\"1\"\r\n");
  EXPECT_EQ(perfmon_row(at(2026, 1, 2, 0, 0, 0, 0), s).substr(0, 26),
            "\"01/02/2026 00:00:00.000\",");
}

TEST(PerfmonFormat, IntegersHaveNoDecimalsAndGaugesKeepTheirFraction) {
  EXPECT_EQ(perfmon_value(0), "0");
  EXPECT_EQ(perfmon_value(-0.0), "0");
  EXPECT_EQ(perfmon_value(42), "42");
  EXPECT_EQ(perfmon_value(123456789012.0), "123456789012");
  EXPECT_EQ(perfmon_value(0.25), "0.25");
  EXPECT_EQ(perfmon_value(2.5), "2.5");
  EXPECT_EQ(perfmon_value(std::nan("")), " ");  // PDH's blank: no valid data
  EXPECT_EQ(perfmon_value(std::numeric_limits<double>::infinity()), " ");
  EXPECT_EQ(perfmon_row(at(2025, 1, 1, 0, 0, 0, 0), {1.5, 7, 0, 12}),
            "\"01/01/2025 00:00:00.000\",\"1.5\",\"7\",\"0\",\"12\"\r\n");
}

TEST(PerfmonFormat, RotationStampIsLocalDateAndTime) {
  EXPECT_EQ(perfmon_rotation_stamp(at(2025, 7, 4, 9, 5, 3, 7)), "20250704-090503");
}

TEST(PerfmonTime, UtcZoneIsNamedAsWindowsNamesIt) {
  scoped_tz tz("UTC0");
  const perfmon_time t = to_perfmon_time(utc(1751619903007));  // 2025-07-04 09:05:03.007Z
  EXPECT_EQ(perfmon_rotation_stamp(t), "20250704-090503");
  EXPECT_EQ(t.millisecond, 7);
  EXPECT_EQ(t.zone_name, k_utc);
  EXPECT_EQ(t.bias_minutes, 0);
}

TEST(PerfmonTime, BiasIsMinutesToAddToLocalTimeToGetUtc) {
  scoped_tz tz("CET-1CEST,M3.5.0,M10.5.0/3");
  const perfmon_time winter = to_perfmon_time(utc(1736942400123));  // 2025-01-15 12:00:00.123Z
  EXPECT_EQ(perfmon_rotation_stamp(winter), "20250115-130000");
  EXPECT_EQ(winter.millisecond, 123);
  EXPECT_EQ(winter.zone_name, "CET");
  EXPECT_EQ(winter.bias_minutes, -60);
  const perfmon_time summer = to_perfmon_time(utc(1752580800000));  // 2025-07-15 12:00:00Z
  EXPECT_EQ(perfmon_rotation_stamp(summer), "20250715-140000");
  EXPECT_EQ(summer.zone_name, "CEST");
  EXPECT_EQ(summer.bias_minutes, -120);
}

TEST(PerfmonTime, WestOfGreenwichHasAPositiveBias) {
  scoped_tz tz("EST5EDT,M3.2.0,M11.1.0");
  const perfmon_time t = to_perfmon_time(utc(1752580800000));  // 2025-07-15 12:00:00Z
  EXPECT_EQ(perfmon_rotation_stamp(t), "20250715-080000");
  EXPECT_EQ(t.zone_name, "EDT");
  EXPECT_EQ(t.bias_minutes, 240);
}

TEST_F(PerfmonLog, NewFileGetsHeaderThenRow) {
  perfmon_log log(file_.string(), "GW01");
  const auto r = log.append({3, 0, 2, 1}, at(2025, 7, 4, 9, 5, 3, 7));
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_TRUE(r.rotated_to.empty());
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/04/2025 09:05:03.007\",\"3\",\"0\",\"2\",\"1\"\r\n");
  const ::mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(static_cast<::mode_t>(fs::status(file_).permissions() & fs::perms::all), 0644 & ~mask);
}

TEST_F(PerfmonLog, EveryAppendAddsExactlyOneRow) {
  perfmon_log log(file_.string(), "GW01");
  ASSERT_TRUE(log.append({1, 0, 1, 0}, at(2025, 7, 4, 9, 5, 0, 0)));
  ASSERT_TRUE(log.append({2, 1, 1, 0}, at(2025, 7, 4, 9, 5, 15, 0)));
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/04/2025 09:05:00.000\",\"1\",\"0\",\"1\",\"0\"\r\n"
                                 "\"07/04/2025 09:05:15.000\",\"2\",\"1\",\"1\",\"0\"\r\n");
}

TEST_F(PerfmonLog, ExistingFileWithTheSameHeaderKeepsItsRows) {
  const std::string old_rows =
      std::string(k_gw01_utc_header) + "\"07/03/2025 10:00:00.000\",\"9\",\"8\",\"7\",\"6\"\r\n";
  write_all(file_, old_rows);
  perfmon_log log(file_.string(), "GW01");
  const auto r = log.append({3, 0, 2, 1}, at(2025, 7, 4, 9, 5, 3, 7));
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_TRUE(r.rotated_to.empty());
  EXPECT_EQ(read_all(file_), old_rows + "\"07/04/2025 09:05:03.007\",\"3\",\"0\",\"2\",\"1\"\r\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(PerfmonLog, ExistingFileWithAnotherHeaderIsRotated) {
  const std::string foreign = perfmon_header("OTHERHOST", k_utc, 0) +
                              "\"07/03/2025 10:00:00.000\",\"9\",\"8\",\"7\",\"6\"\r\n";
  write_all(file_, foreign);
  perfmon_log log(file_.string(), "GW01");
  const auto r = log.append({3, 0, 2, 1}, at(2025, 7, 4, 9, 5, 3, 7));
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_EQ(r.rotated_to, file_.string() + ".20250704-090503.old");
  EXPECT_EQ(read_all(r.rotated_to), foreign);
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/04/2025 09:05:03.007\",\"3\",\"0\",\"2\",\"1\"\r\n");
}

TEST_F(PerfmonLog, RotationDoesNotOverwriteAnEarlierRotatedFile) {
  const std::string taken = file_.string() + ".20250704-090503.old";
  write_all(taken, "keep me\r\n");
  write_all(file_, "not a PDH log\n");
  perfmon_log log(file_.string(), "GW01");
  const auto r = log.append({}, at(2025, 7, 4, 9, 5, 3, 7));
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_EQ(r.rotated_to, file_.string() + ".20250704-090503-1.old");
  EXPECT_EQ(read_all(taken), "keep me\r\n");
  EXPECT_EQ(read_all(r.rotated_to), "not a PDH log\n");
}

TEST_F(PerfmonLog, DaylightSavingSwitchStartsANewFile) {
  perfmon_log log(file_.string(), "GW01");
  ASSERT_TRUE(log.append({1, 0, 1, 0}, at(2025, 3, 30, 1, 59, 59, 0, "CET", -60)));
  const auto r = log.append({1, 0, 1, 0}, at(2025, 3, 30, 3, 0, 14, 0, "CEST", -120));
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_EQ(r.rotated_to, file_.string() + ".20250330-030014.old");
  EXPECT_EQ(read_all(r.rotated_to).rfind(R"csv("(PDH-CSV 4.0) (CET)(-60)")csv", 0), 0u);
  EXPECT_EQ(read_all(file_), perfmon_header("GW01", "CEST", -120) +
                                 "\"03/30/2025 03:00:14.000\",\"1\",\"0\",\"1\",\"0\"\r\n");
}

TEST_F(PerfmonLog, StrayPartialLineIsEndedBeforeTheNextRow) {
  write_all(file_, std::string(k_gw01_utc_header) + "\"07/03/2025 10:00:00.000\",\"9");
  perfmon_log log(file_.string(), "GW01");
  ASSERT_TRUE(log.append({3, 0, 2, 1}, at(2025, 7, 4, 9, 5, 3, 7)));
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/03/2025 10:00:00.000\",\"9\r\n"
                                 "\"07/04/2025 09:05:03.007\",\"3\",\"0\",\"2\",\"1\"\r\n");
}

TEST_F(PerfmonLog, FileMovedAwayByLogrotateIsRecreated) {
  perfmon_log log(file_.string(), "GW01");
  ASSERT_TRUE(log.append({1, 0, 1, 0}, at(2025, 7, 4, 9, 5, 0, 0)));
  fs::rename(file_, dir_ / "counters.csv.1");
  ASSERT_TRUE(log.append({2, 0, 1, 0}, at(2025, 7, 4, 9, 5, 15, 0)));
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/04/2025 09:05:15.000\",\"2\",\"0\",\"1\",\"0\"\r\n");
  EXPECT_EQ(
      read_all(dir_ / "counters.csv.1"),
      std::string(k_gw01_utc_header) + "\"07/04/2025 09:05:00.000\",\"1\",\"0\",\"1\",\"0\"\r\n");
}

TEST_F(PerfmonLog, FileTruncatedByLogrotateCopytruncateGetsItsHeaderAgain) {
  perfmon_log log(file_.string(), "GW01");
  ASSERT_TRUE(log.append({1, 0, 1, 0}, at(2025, 7, 4, 9, 5, 0, 0)));
  fs::resize_file(file_, 0);
  ASSERT_TRUE(log.append({2, 0, 1, 0}, at(2025, 7, 4, 9, 5, 15, 0)));
  EXPECT_EQ(read_all(file_), std::string(k_gw01_utc_header) +
                                 "\"07/04/2025 09:05:15.000\",\"2\",\"0\",\"1\",\"0\"\r\n");
}

TEST_F(PerfmonLog, UnwritablePathIsAnErrorValueEveryTime) {
  perfmon_log missing_dir((dir_ / "no-such-dir" / "counters.csv").string(), "GW01");
  for (int i = 0; i < 2; ++i) {
    const auto r = missing_dir.append({}, at(2025, 7, 4, 9, 5, 3, 7));
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error, std::errc::no_such_file_or_directory) << r.error.message();
  }
  write_all(dir_ / "plain-file", "x");
  perfmon_log under_file((dir_ / "plain-file" / "counters.csv").string(), "GW01");
  EXPECT_EQ(under_file.append({}, at(2025, 7, 4, 9, 5, 3, 7)).error, std::errc::not_a_directory);
  perfmon_log is_dir(dir_.string(), "GW01");
  EXPECT_FALSE(is_dir.append({}, at(2025, 7, 4, 9, 5, 3, 7)));
  perfmon_log empty_path("", "GW01");
  EXPECT_FALSE(empty_path.append({}, at(2025, 7, 4, 9, 5, 3, 7)));
}

TEST_F(PerfmonLog, NonRegularFileIsRefused) {
  perfmon_log dev_null("/dev/null", "GW01");
  EXPECT_EQ(dev_null.append({}, at(2025, 7, 4, 9, 5, 3, 7)).error, std::errc::invalid_argument);
}

TEST_F(PerfmonLog, WallClockAppendWritesALocalTimestampRow) {
  scoped_tz tz("UTC0");
  perfmon_log log(file_.string(), perfmon_host_name());
  ASSERT_TRUE(log.append({1, 2, 3, 4}, std::chrono::system_clock::now()));
  const std::string text = read_all(file_);
  EXPECT_EQ(text.rfind(perfmon_header(perfmon_host_name(), k_utc, 0), 0), 0u) << text;
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex(R"csv(\r\n"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d{3}","1","2","3","4"\r\n$)csv")))
      << text;
}

TEST_F(PerfmonLog, MovedLogKeepsWriting) {
  perfmon_log first(file_.string(), "GW01");
  ASSERT_TRUE(first.append({1, 0, 0, 0}, at(2025, 7, 4, 9, 5, 0, 0)));
  perfmon_log second(std::move(first));
  ASSERT_TRUE(second.append({2, 0, 0, 0}, at(2025, 7, 4, 9, 5, 15, 0)));
  EXPECT_EQ(second.path(), file_.string());
  EXPECT_EQ(read_all(file_).size(), std::string(k_gw01_utc_header).size() + 2 * 43);
}

}  // namespace
}  // namespace omsgw::metrics
