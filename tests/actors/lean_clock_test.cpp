// actors/lean_clock: an actor system on CAF's work-sharing coordinator whose clock
// skips the end-of-life cancellation of actors that set no timeout (no clock-thread
// wake), forwards everything else, and still cancels for an actor that did set one.
#include "actors/lean_clock.hpp"

#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace omsgw::actors {
namespace {

using namespace std::chrono_literals;

/// Quits on its first message. With a silent peer it first sends it a request whose
/// timeout (a minute) sits on the clock until cancelled.
class ending_actor : public caf::event_based_actor, public rare_timeouts {
 public:
  ending_actor(caf::actor_config& cfg, caf::actor silent, std::shared_ptr<std::atomic<int>> gone)
      : caf::event_based_actor(cfg), silent_(std::move(silent)), gone_(std::move(gone)) {}
  ~ending_actor() override { ++*gone_; }
  caf::behavior make_behavior() override {
    if (silent_) request(silent_, 60s, 1).then([](int) {}, [](caf::error&) {});
    return {[this](int) { quit(); }};
  }

 private:
  caf::actor silent_;
  std::shared_ptr<std::atomic<int>> gone_;
};

/// The same without rare_timeouts: CAF's clock is told of its end as usual.
class plain_actor : public caf::event_based_actor {
 public:
  using caf::event_based_actor::event_based_actor;
  caf::behavior make_behavior() override {
    return {[this](int) { quit(); }};
  }
};

caf::behavior silent(caf::event_based_actor*) {
  return {[](int) -> caf::result<int> { return caf::delegated<int>(); }};
}

/// Thread ids named "caf.clock" in this process.
std::set<std::string> clock_threads() {
  std::set<std::string> out;
  DIR* d = ::opendir("/proc/self/task");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name) && name == "caf.clock") out.insert(e->d_name);
  }
  if (d) ::closedir(d);
  return out;
}

/// The clock thread a new actor system starts (the one not among before; it names
/// itself once running).
std::string new_clock_thread(const std::set<std::string>& before) {
  for (int i = 0; i < 200; ++i) {
    for (const auto& t : clock_threads()) {
      if (!before.count(t)) return t;
    }
    std::this_thread::sleep_for(5ms);
  }
  return {};
}

long voluntary_switches(const std::string& tid) {
  std::ifstream status("/proc/self/task/" + tid + "/status");
  std::string key;
  long n = -1;
  while (status >> key) {
    if (key == "voluntary_ctxt_switches:") status >> n;
  }
  return n;
}

/// Spawns n actors of type A, ends each with a message, waits until every one is gone.
template <class A, class... Ts>
void spawn_and_end(caf::actor_system& sys, int n, Ts... args) {
  for (int i = 0; i < n; ++i) {
    auto a = sys.spawn<A>(args...);
    caf::anon_send(a, 1);
    std::this_thread::sleep_for(1ms);  // one end at a time: each would find the clock idle
  }
  sys.await_all_actors_done();
}

TEST(LeanClock, AnActorThatSetNoTimeoutEndsWithoutWakingTheClockThread) {
  const auto before = clock_threads();
  caf::actor_system_config cfg;
  use_lean_clock(cfg, {rare_type_of<ending_actor>()});
  caf::actor_system sys{cfg};
  const auto clock = new_clock_thread(before);
  ASSERT_FALSE(clock.empty());
  ASSERT_NE(lean_clock_of(sys), nullptr);
  std::this_thread::sleep_for(50ms);  // the clock thread settles into its wait
  const long at_start = voluntary_switches(clock);
  auto gone = std::make_shared<std::atomic<int>>(0);
  spawn_and_end<ending_actor>(sys, 50, caf::actor{}, gone);
  EXPECT_EQ(*gone, 50);
  EXPECT_EQ(lean_clock_of(sys)->skipped(), 50u);
  EXPECT_EQ(voluntary_switches(clock), at_start) << "the clock thread was woken";
}

TEST(LeanClock, WithoutItEveryEndWakesTheClockThread) {
  // The control for the test above: the measure sees CAF's wake.
  const auto before = clock_threads();
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};
  const auto clock = new_clock_thread(before);
  ASSERT_FALSE(clock.empty());
  EXPECT_EQ(lean_clock_of(sys), nullptr);
  std::this_thread::sleep_for(50ms);
  const long at_start = voluntary_switches(clock);
  spawn_and_end<plain_actor>(sys, 50);
  EXPECT_GE(voluntary_switches(clock), at_start + 10);
}

TEST(LeanClock, AnActorThatSetATimeoutHasItCancelledAtItsEnd) {
  // Its pending request timeout holds a reference to it: skipped, the actor would live
  // on for the minute until the timeout fired.
  caf::actor_system_config cfg;
  use_lean_clock(cfg, {rare_type_of<ending_actor>()});
  caf::actor_system sys{cfg};
  auto peer = sys.spawn(silent);
  auto gone = std::make_shared<std::atomic<int>>(0);
  {
    auto a = sys.spawn<ending_actor>(peer, gone);
    std::this_thread::sleep_for(50ms);  // its request is out
    caf::anon_send(a, 1);
  }
  for (int i = 0; i < 200 && *gone == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(*gone, 1) << "still alive: its timeout was not cancelled";
  EXPECT_EQ(lean_clock_of(sys)->skipped(), 0u);
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
}

TEST(LeanClock, TimeoutsAndDelayedMessagesStillArrive) {
  caf::actor_system_config cfg;
  use_lean_clock(cfg, {rare_type_of<ending_actor>()});
  caf::actor_system sys{cfg};
  auto peer = sys.spawn(silent);
  std::promise<std::string> got;
  auto result = got.get_future();
  sys.spawn([&got, peer](caf::event_based_actor* self) -> caf::behavior {
    self->request(peer, 20ms, 1)
        .then([](int) {},
              [self](caf::error&) { self->delayed_send(self, 20ms, std::string("delayed")); });
    return {[&got, self](const std::string& s) {
      got.set_value("timed out, then " + s);
      self->quit();
    }};
  });
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(result.get(), "timed out, then delayed");
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace omsgw::actors
