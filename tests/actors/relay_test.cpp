// The relay configuration: reading relay_proxy (address, username, password file
// and its mode) into a target, and the relay actor's hot swap.
#include "actors/relay.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/temp_dir.hpp"

namespace omsgw::actors {
namespace {

constexpr const char* secret = "s3cr3t-Pa55";

/// A temp directory with one password file, removed at the end.
class RelayConfig : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    return tmp_.write(name, content, mode);
  }
  config::relay_proxy_config cfg(const std::string& pw_file, std::string user = "svc") {
    config::relay_proxy_config c;
    c.address = "http://127.0.0.1:3128";
    c.username = std::move(user);
    c.password_file = pw_file;
    return c;
  }
  static void expect_no_secret(const relay_load_result& r) {
    EXPECT_EQ(r.error.find(secret), std::string::npos) << r.error;
  }

  omsgw::testing::temp_dir tmp_{"omsgw-relay-test"};
  std::string dir_ = tmp_.path();
};

TEST_F(RelayConfig, EmptyAddressMeansDirect) {
  config::relay_proxy_config c;
  c.username = "ignored";
  c.password_file = "/nonexistent";
  const auto r = load_relay_target(c);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.target, nullptr);
  EXPECT_EQ(relay_display(r.target), "direct");
}

TEST_F(RelayConfig, AddressWithoutUsernameHasNoCredentials) {
  const auto r = load_relay_target(cfg("", ""));
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_NE(r.target, nullptr);
  EXPECT_EQ(r.target->host, "127.0.0.1");
  EXPECT_EQ(r.target->port, 3128);
  EXPECT_TRUE(r.target->authorization.empty());
  EXPECT_EQ(relay_display(r.target), "127.0.0.1:3128");
}

TEST_F(RelayConfig, OwnerOnlyPasswordFileGivesBasicCredentials) {
  for (mode_t mode : {0600, 0400}) {
    const auto r = load_relay_target(cfg(write("pw", std::string(secret) + "\n", mode)));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.target->authorization, net::basic_authorization("svc", secret));
  }
}

TEST_F(RelayConfig, OnlyTheFirstLineWithoutItsLineEndIsThePassword) {
  const auto r = load_relay_target(cfg(write("pw", std::string(secret) + "\r\nsecond\n", 0600)));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.target->authorization, net::basic_authorization("svc", secret));
  const auto bare = load_relay_target(cfg(write("pw2", secret, 0600)));
  ASSERT_TRUE(bare.ok()) << bare.error;
  EXPECT_EQ(bare.target->authorization, r.target->authorization);
}

TEST_F(RelayConfig, PasswordFileOpenToGroupOrOthersIsRefused) {
  for (mode_t mode : {0640, 0604, 0644, 0660, 0602, 0610}) {
    const auto r = load_relay_target(cfg(write("pw", secret, mode)));
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.target, nullptr);
    EXPECT_EQ(r.key, "relay_proxy.password_file");
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(r.error.find(std::string("mode ") + text), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("chmod 600"), std::string::npos) << r.error;
    expect_no_secret(r);
  }
}

TEST_F(RelayConfig, MissingEmptyOrOversizedPasswordFilesAreRefused) {
  const auto missing = load_relay_target(cfg(dir_ + "/absent"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error.find("absent"), std::string::npos);
  const auto empty = load_relay_target(cfg(write("empty", "\n", 0600)));
  EXPECT_FALSE(empty.ok());
  EXPECT_NE(empty.error.find("empty"), std::string::npos);
  const auto big = load_relay_target(cfg(write("big", std::string(5000, 'x'), 0600)));
  EXPECT_FALSE(big.ok());
  const auto dir = load_relay_target(cfg(dir_));
  EXPECT_FALSE(dir.ok());
}

TEST_F(RelayConfig, ControlCharactersInThePasswordAreRefusedWithoutPrintingIt) {
  const auto r = load_relay_target(cfg(write("pw", std::string(secret) + "\x01" + "x\n", 0600)));
  EXPECT_FALSE(r.ok());
  expect_no_secret(r);
}

TEST_F(RelayConfig, UsernameAndPasswordFileGoTogether) {
  const auto no_file = load_relay_target(cfg("", "svc"));
  EXPECT_FALSE(no_file.ok());
  EXPECT_EQ(no_file.key, "relay_proxy.password_file");
  const auto no_user = load_relay_target(cfg(write("pw", secret, 0600), ""));
  EXPECT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.key, "relay_proxy.username");
  // RFC 7617 2: a user-id with a colon cannot be sent.
  const auto colon = load_relay_target(cfg(write("pw2", secret, 0600), "a:b"));
  EXPECT_FALSE(colon.ok());
  EXPECT_EQ(colon.key, "relay_proxy.username");
}

TEST_F(RelayConfig, FallbacksFormAChainAndBypassStaysOnTheFirstRelay) {
  auto c = cfg(write("pw", secret, 0600));
  c.fallback = {"http://10.0.0.2:3128", "http://10.0.0.3:8080"};
  c.bypass = {"*.internal.example"};
  c.auth = config::relay_auth::ntlm;
  const auto r = load_relay_target(c);
  ASSERT_TRUE(r.ok()) << r.error;
  std::vector<std::string> chain;
  for (auto t = r.target; t; t = t->fallback) {
    chain.push_back(t->display());
    EXPECT_EQ(t->kind(), net::relay_kind::curl);  // ntlm: libcurl answers the 407s
    EXPECT_EQ(t->password, secret);
  }
  EXPECT_EQ(chain, (std::vector<std::string>{"127.0.0.1:3128", "10.0.0.2:3128", "10.0.0.3:8080"}));
  EXPECT_EQ(r.target->bypass, c.bypass);
  EXPECT_TRUE(r.target->fallback->bypass.empty());
}

TEST_F(RelayConfig, RelayKindFollowsSchemeAndAuth) {
  auto c = cfg(write("pw", secret, 0600));
  c.auth = config::relay_auth::basic;
  EXPECT_EQ(load_relay_target(c).target->kind(), net::relay_kind::plain);  // preemptive Basic
  c.auth = config::relay_auth::auto_;
  EXPECT_EQ(load_relay_target(c).target->kind(), net::relay_kind::curl);
  EXPECT_EQ(load_relay_target(cfg("", "")).target->kind(), net::relay_kind::plain);
  c.address = "https://proxy.example:8443";
  const auto tls = load_relay_target(c);
  ASSERT_TRUE(tls.ok()) << tls.error;  // the system store
  EXPECT_EQ(tls.target->kind(), net::relay_kind::tls);
  EXPECT_NE(tls.target->tls_context, nullptr);
}

TEST_F(RelayConfig, CaFileMustHoldPemCertificates) {
  auto c = cfg("", "");
  c.address = "https://proxy.example:8443";
  c.ca_file = write("ca.pem", "not a certificate\n", 0644);
  const auto r = load_relay_target(c);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.key, "relay_proxy.ca_file");
  c.ca_file = dir_ + "/absent.pem";
  EXPECT_EQ(load_relay_target(c).key, "relay_proxy.ca_file");
}

TEST_F(RelayConfig, KeytabOpenToGroupOrOthersOrMissingIsRefused) {
  auto c = cfg("", "");
  c.auth = config::relay_auth::negotiate;
  for (mode_t mode : {0640, 0604, 0644}) {
    c.keytab = write("kt", "\x05\x02", mode);
    const auto r = load_relay_target(c);
    EXPECT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.key, "relay_proxy.keytab");
    EXPECT_NE(r.error.find("chmod 600"), std::string::npos) << r.error;
  }
  c.keytab = dir_ + "/absent.keytab";
  EXPECT_EQ(load_relay_target(c).key, "relay_proxy.keytab");
  c.keytab = write("kt2", "\x05\x02", 0600);
  const auto ok = load_relay_target(c);
  ASSERT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.target->kind(), net::relay_kind::curl);  // negotiate without a password
}

TEST(SameRelay, ComparesAddressAndCredentials) {
  auto make = [](std::string host, std::string auth) {
    auto t = std::make_shared<net::relay_target>();
    t->host = std::move(host);
    t->port = 3128;
    t->authorization = std::move(auth);
    return net::relay_ptr(std::move(t));
  };
  EXPECT_TRUE(same_relay(nullptr, nullptr));
  EXPECT_FALSE(same_relay(make("a", ""), nullptr));
  EXPECT_TRUE(same_relay(make("a", "x"), make("a", "x")));
  EXPECT_FALSE(same_relay(make("a", "x"), make("a", "y")));
  EXPECT_FALSE(same_relay(make("a", "x"), make("b", "x")));
}

TEST(RelayActor, HandsOutTheTargetInForceAndSwapsItOnUpdate) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto first = std::make_shared<const net::relay_target>(*net::parse_relay_address("http://a:1"));
  auto second = std::make_shared<const net::relay_target>(*net::parse_relay_address("http://b:2"));
  auto gens = std::make_shared<route_generations>();
  auto r = sys.spawn(relay, net::relay_ptr(first), gens);
  register_relay(sys, r);
  ASSERT_TRUE(find_relay(sys));
  caf::scoped_actor self{sys};
  auto get = [&] {
    net::relay_ptr out;
    self->request(r, std::chrono::seconds(5), caf::get_atom::value)
        .receive([&](const net::relay_ptr& p) { out = p; },
                 [&](const caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return out;
  };
  EXPECT_EQ(get(), first);
  EXPECT_EQ(gens->relay.load(), 0u);
  // A subscriber (the listener) hears the target in force at once, then every swap,
  // each with the generation the relay actor publishes for sessions.
  self->send(r, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  auto heard = [&] {
    std::pair<net::relay_ptr, std::uint64_t> out;
    self->receive(
        [&](update_atom, const net::relay_ptr& p, std::uint64_t g) {
          out = {p, g};
        },
        caf::after(std::chrono::seconds(5)) >> [] { ADD_FAILURE() << "no update"; });
    return out;
  };
  EXPECT_EQ(heard(), std::make_pair(net::relay_ptr(first), std::uint64_t{0}));
  // Every update is acknowledged with the generation in force once it is published.
  auto update = [&](net::relay_ptr next) {
    std::uint64_t in_force = ~std::uint64_t{0};
    self->request(r, std::chrono::seconds(5), update_atom::value, std::move(next))
        .receive([&](std::uint64_t g) { in_force = g; },
                 [&](const caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    EXPECT_EQ(in_force, gens->relay.load());
    return in_force;
  };
  EXPECT_EQ(update(second), 1u);
  EXPECT_EQ(heard(), std::make_pair(net::relay_ptr(second), std::uint64_t{1}));
  EXPECT_EQ(get(), second);  // same sender: the update is processed first
  EXPECT_EQ(gens->relay.load(), 1u);
  // An update to the same target changes nothing, so sessions keep their fast path.
  EXPECT_EQ(update(std::make_shared<const net::relay_target>(*second)), 1u);
  EXPECT_EQ(get(), second);
  EXPECT_EQ(gens->relay.load(), 1u);
  EXPECT_EQ(update(nullptr), 2u);
  EXPECT_EQ(heard(), std::make_pair(net::relay_ptr(), std::uint64_t{2}));
  EXPECT_EQ(get(), nullptr);
  unregister_relay(sys);
  EXPECT_FALSE(find_relay(sys));
  self->send_exit(r, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace omsgw::actors
