// net::dns_resolver against a real (tiny) DNS server on 127.0.0.1: concurrency (no
// head-of-line blocking), TTL and negative caching, the per-client bound, the timeout.
#include "net/dns_resolver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/strand.hpp>
#include <cstdlib>
#include <future>
#include <map>
#include <thread>

#include "tests/net/fake_dns_server.hpp"

namespace omsgw::net {
namespace {

namespace asio = boost::asio;
using addresses = std::vector<asio::ip::address>;

struct outcome {
  boost::system::error_code ec;
  addresses found;
};

class DnsResolver : public ::testing::Test {
 protected:
  void SetUp() override {
    dns.answer("fast.test", {{"192.0.2.10"}, {}, 60});
    dns.answer("both.test", {{"192.0.2.11"}, {"2001:db8::11"}, 60});
    dns.answer("short.test", {{"192.0.2.12"}, {}, 0});
    dns.silent("silent.test");
    dns.silent("silent2.test");
    dns.silent("silent3.test");
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    resolver->shutdown();
    guard.reset();
    thread.join();
    resolver->close();
    resolver.reset();
  }
  void make(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
            std::size_t per_client = 8) {
    dns_resolver_options o;
    o.ares.servers = dns.servers();
    o.ares.try_timeout = std::chrono::milliseconds(10000);  // our deadline decides
    o.timeout = timeout;
    o.max_in_flight_per_client = per_client;
    o.on_lookup = [this](lookup_result r, double) {
      std::lock_guard<std::mutex> lock(mutex);
      ++results[r];
    };
    resolver = std::make_shared<dns_resolver>(std::vector<asio::io_context*>{&io}, o);
  }
  std::future<outcome> ask(const std::string& host, const std::string& client = "192.0.2.1") {
    auto p = std::make_shared<std::promise<outcome>>();
    auto f = p->get_future();
    resolver->async_resolve(host, client, asio::make_strand(io),
                            [p](boost::system::error_code ec, addresses a) {
                              p->set_value({ec, std::move(a)});
                            });
    return f;
  }
  int count(lookup_result r) {
    std::lock_guard<std::mutex> lock(mutex);
    return results[r];
  }

  test::fake_dns_server dns;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
  std::shared_ptr<dns_resolver> resolver;
  std::mutex mutex;
  std::map<lookup_result, int> results;
};

/// name answers count IPv4 addresses (192.0.2.1, ...), no IPv6.
void fake_dns_server_record_many(test::fake_dns_server& dns, const std::string& name, int count) {
  test::fake_dns_server::record r;
  for (int i = 1; i <= count; ++i) r.v4.push_back("192.0.2." + std::to_string(i));
  dns.answer(name, r);
}

bool ready(std::future<outcome>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

TEST_F(DnsResolver, AnswersAAndAaaa) {
  make();
  auto r = ask("both.test").get();
  ASSERT_FALSE(r.ec) << r.ec.message();
  ASSERT_EQ(r.found.size(), 2u);
  EXPECT_TRUE(std::count(r.found.begin(), r.found.end(), asio::ip::make_address("192.0.2.11")));
  EXPECT_TRUE(std::count(r.found.begin(), r.found.end(), asio::ip::make_address("2001:db8::11")));
  EXPECT_EQ(count(lookup_result::ok), 1);
}

TEST_F(DnsResolver, SilentQueryDoesNotHoldUpALaterOne) {
  make(std::chrono::milliseconds(5000));
  auto slow = ask("silent.test");
  auto fast = ask("fast.test");
  auto r = fast.get();
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.found, addresses{asio::ip::make_address("192.0.2.10")});
  EXPECT_FALSE(ready(slow));  // still waiting for its (silent) server
  EXPECT_GE(dns.queries("silent.test"), 1);
}

TEST_F(DnsResolver, SilentNameTimesOut) {
  make(std::chrono::milliseconds(300));
  auto r = ask("silent.test").get();
  EXPECT_EQ(r.ec, make_error_code(dns_error::timeout));
  EXPECT_TRUE(r.found.empty());
  EXPECT_EQ(count(lookup_result::timeout), 1);
}

TEST_F(DnsResolver, SecondLookupWithinTtlSendsNoPacket) {
  make();
  ASSERT_FALSE(ask("fast.test").get().ec);
  const int after_first = dns.queries("fast.test");
  EXPECT_GE(after_first, 2);  // A and AAAA
  auto r = ask("fast.test").get();
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.found, addresses{asio::ip::make_address("192.0.2.10")});
  EXPECT_EQ(dns.queries("fast.test"), after_first);
  EXPECT_EQ(count(lookup_result::cached), 1);
}

TEST_F(DnsResolver, ZeroTtlIsNotCached) {
  make();
  ASSERT_FALSE(ask("short.test").get().ec);
  const int after_first = dns.queries("short.test");
  ASSERT_FALSE(ask("short.test").get().ec);
  EXPECT_GT(dns.queries("short.test"), after_first);
}

TEST_F(DnsResolver, NoSuchNameIsCachedNegatively) {
  make();
  auto r = ask("nx.test").get();
  EXPECT_EQ(r.ec, make_error_code(dns_error::not_found));
  const int after_first = dns.queries("nx.test");
  EXPECT_GE(after_first, 1);
  r = ask("nx.test").get();
  EXPECT_EQ(r.ec, make_error_code(dns_error::not_found));
  EXPECT_EQ(dns.queries("nx.test"), after_first);
  EXPECT_EQ(count(lookup_result::not_found), 1);
  EXPECT_EQ(count(lookup_result::cached), 1);
}

TEST_F(DnsResolver, ClientOverItsBoundIsBusyOthersAreNot) {
  make(std::chrono::milliseconds(5000), 2);
  auto a = ask("silent.test", "198.51.100.7");
  auto b = ask("silent2.test", "198.51.100.7");
  auto c = ask("silent3.test", "198.51.100.7").get();  // answered at once
  EXPECT_EQ(c.ec, make_error_code(dns_error::busy));
  EXPECT_FALSE(ready(a));
  EXPECT_FALSE(ready(b));
  auto other = ask("fast.test", "198.51.100.8").get();
  EXPECT_FALSE(other.ec) << other.ec.message();
  EXPECT_EQ(count(lookup_result::busy), 1);
}

TEST_F(DnsResolver, SlotsAreGivenBackWhenLookupsEnd) {
  make(std::chrono::milliseconds(200), 1);
  EXPECT_EQ(ask("silent.test", "c").get().ec, make_error_code(dns_error::timeout));
  EXPECT_FALSE(ask("fast.test", "c").get().ec);
  EXPECT_EQ(count(lookup_result::busy), 0);
}

TEST_F(DnsResolver, ConcurrentAskersOfOneNameShareOneQuery) {
  make();
  auto a = ask("both.test", "a");
  auto b = ask("both.test", "b");
  EXPECT_FALSE(a.get().ec);
  EXPECT_FALSE(b.get().ec);
  EXPECT_EQ(dns.queries("both.test"), 2);  // one A, one AAAA
}

TEST_F(DnsResolver, AnAAnswerIsNotLostToASilentAaaaQuery) {
  // A and AAAA are two lookups: the A answer is used after the resolution delay instead
  // of waiting for all of c-ares' retries of the AAAA query (a timeout for everyone
  // waiting, at every expiry of the cache entry).
  dns.answer("v4only.test", {{"192.0.2.20"}, {}, 60});
  dns.silent_aaaa("v4only.test");
  make(std::chrono::milliseconds(3000));
  auto r = ask("v4only.test").get();
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.found, addresses{asio::ip::make_address("192.0.2.20")});
  EXPECT_EQ(count(lookup_result::ok), 1);
  r = ask("v4only.test").get();  // and it was cached
  EXPECT_EQ(r.found, addresses{asio::ip::make_address("192.0.2.20")});
  EXPECT_EQ(count(lookup_result::cached), 1);
}

TEST_F(DnsResolver, OnlyTheNameAskedForIsLookedUpNeverWithASearchDomain) {
  // resolv.conf's search list and ndots (here through c-ares' LOCALDOMAIN and
  // RES_OPTIONS, as a Kubernetes pod's ndots:5) would look up bare.test.corp.test
  // first: an address for a name no allow-list entry names.
  dns.answer("bare.test.corp.test", {{"192.0.2.30"}, {}, 60});
  ::setenv("LOCALDOMAIN", "corp.test", 1);
  ::setenv("RES_OPTIONS", "ndots:5", 1);
  make();
  ::unsetenv("LOCALDOMAIN");
  ::unsetenv("RES_OPTIONS");
  EXPECT_EQ(ask("bare.test").get().ec, make_error_code(dns_error::not_found));
  EXPECT_EQ(ask("fast.test").get().found, addresses{asio::ip::make_address("192.0.2.10")});
  EXPECT_EQ(dns.queries("bare.test.corp.test"), 0);
  EXPECT_EQ(dns.queries("fast.test.corp.test"), 0);
}

TEST_F(DnsResolver, KeepsAtMostSixteenAddressesOfEachFamily) {
  fake_dns_server_record_many(dns, "many.test", 30);
  make();
  auto r = ask("many.test").get();
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.found.size(), max_addresses_per_family);
}

TEST_F(DnsResolver, ExecutorOfAnotherContextIsAFailure) {
  make();
  asio::io_context other;
  std::promise<boost::system::error_code> p;
  resolver->async_resolve("fast.test", "c", other.get_executor(),
                          [&p](boost::system::error_code ec, addresses) { p.set_value(ec); });
  other.run();
  EXPECT_EQ(p.get_future().get(), make_error_code(dns_error::failure));
}

}  // namespace
}  // namespace omsgw::net
