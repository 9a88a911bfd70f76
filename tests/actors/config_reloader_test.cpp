// The config reloader's answer: a reload is reported (the /reload answer, event 100)
// only once the policy store and the relay actor have put the new snapshot and relay
// target in force, and a store that cannot confirm fails the reload instead.
#include "actors/config_reloader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "config/config_file.hpp"
#include "tests/temp_dir.hpp"

namespace omsgw::actors {
namespace {

using namespace std::chrono_literals;

/// Stands for the store or relay actor on a loaded machine: each update reaches the
/// real actor only after a pause. Detached, so the pause blocks nobody else.
template <class Handle, class Value>
typename Handle::behavior_type late(typename Handle::pointer self, Handle real) {
  return {
      [=](caf::get_atom) -> caf::result<Value> {
        auto rp = self->template make_response_promise<Value>();
        self->request(real, caf::infinite, caf::get_atom::value).then([=](Value v) mutable {
          rp.deliver(std::move(v));
        });
        return rp;
      },
      [=](update_atom, Value next) -> caf::result<std::uint64_t> {
        std::this_thread::sleep_for(300ms);
        auto rp = self->template make_response_promise<std::uint64_t>();
        self->request(real, caf::infinite, update_atom::value, std::move(next))
            .then([=](std::uint64_t in_force) mutable { rp.deliver(in_force); });
        return rp;
      },
      [=](subscribe_atom, caf::actor who) { self->send(real, subscribe_atom::value, who); },
  };
}

class ConfigReloader : public ::testing::Test {
 protected:
  void SetUp() override {
    svc_->version = "test";
    svc_->metrics = std::make_shared<metrics::gateway_metrics>(svc_->version);
  }

  void write(const std::string& text) { dir_.write("omsgw.yaml", text); }
  config::loaded_config load() {
    auto r = config::load_source({path_, false});
    EXPECT_TRUE(r.ok());
    return *r.loaded;
  }
  /// Spawns the reloader on the file as it is now, with store and relays as given.
  caf::actor reloader(const policy_store_actor& store, const relay_actor& relays) {
    return sys_.spawn<caf::detached>(config_reloader, path_, load(), store, svc_, relays,
                                     net::relay_ptr());
  }
  reload_result reload(const caf::actor& reloader) {
    reload_result out;
    caf::scoped_actor self{sys_};
    self->request(reloader, 10s, reload_atom::value, std::string("test"))
        .receive([&](const reload_result& r) { out = r; },
                 [&](const caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return out;
  }
  double count(prometheus::Counter& c) { return c.Value(); }
  template <class... Handles>
  static void stop(const Handles&... actors) {
    (caf::anon_send_exit(actors, caf::exit_reason::user_shutdown), ...);
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  std::shared_ptr<services> svc_ = std::make_shared<services>();
  std::shared_ptr<route_generations> gens_ = std::make_shared<route_generations>();
  omsgw::testing::temp_dir dir_{"omsgw-reloader-test"};
  std::string path_ = dir_.path() + "/omsgw.yaml";
};

TEST_F(ConfigReloader, AnswersOnlyOnceTheNewPolicyIsInForce) {
  write("allowed_hosts:\n  - a.example.com\n");
  auto real = sys_.spawn(policy_store, net::make_policy(load().config, 1, "h1"), gens_);
  auto store = sys_.spawn<caf::detached>(late<policy_store_actor, net::policy_ptr>, real);
  auto relays = sys_.spawn(relay, net::relay_ptr(), gens_);
  auto r = reloader(store, relays);
  write("allowed_hosts:\n  - a.example.com\n  - b.example.com\n");
  const auto result = reload(r);
  EXPECT_TRUE(result.ok);
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.version, 2u);
  // Whoever reads the answer finds version 2 deciding the next CONNECT.
  EXPECT_EQ(gens_->policy.load(), 2u);
  EXPECT_EQ(count(svc_->metrics->reloads_success), 1);
  stop(store, real, relays, r);
}

TEST_F(ConfigReloader, AnswersOnlyOnceTheNewRelayIsInForce) {
  write("allowed_hosts:\n  - a.example.com\n");
  auto store = sys_.spawn(policy_store, net::make_policy(load().config, 1, "h1"), gens_);
  auto real = sys_.spawn(relay, net::relay_ptr(), gens_);
  auto relays = sys_.spawn<caf::detached>(late<relay_actor, net::relay_ptr>, real);
  auto r = reloader(store, relays);
  write("allowed_hosts:\n  - a.example.com\nrelay_proxy:\n  address: http://127.0.0.1:3128\n");
  const auto result = reload(r);
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(gens_->policy.load(), 2u);
  EXPECT_EQ(gens_->relay.load(), 1u);  // the relay actor's first swap
  EXPECT_NE(gens_->in_force().relay, nullptr);
  stop(store, real, relays, r);
}

TEST_F(ConfigReloader, FailsTheReloadWhenTheStoreCannotConfirmIt) {
  write("allowed_hosts:\n  - a.example.com\n");
  auto store = sys_.spawn(policy_store, net::make_policy(load().config, 1, "h1"), gens_);
  auto relays = sys_.spawn(relay, net::relay_ptr(), gens_);
  auto r = reloader(store, relays);
  {
    caf::scoped_actor self{sys_};
    self->monitor(store);
    caf::anon_send_exit(store, caf::exit_reason::kill);
    self->receive([](const caf::down_msg&) {});
  }
  write("allowed_hosts:\n  - b.example.com\n");
  const auto result = reload(r);
  EXPECT_FALSE(result.ok);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].find("the policy store did not confirm"), std::string::npos)
      << result.errors[0];
  EXPECT_EQ(count(svc_->metrics->reloads_success), 0);
  EXPECT_EQ(count(svc_->metrics->reloads_failure), 1);
  stop(relays, r);
}

}  // namespace
}  // namespace omsgw::actors
