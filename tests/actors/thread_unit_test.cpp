// The calling thread as a CAF execution unit (actors/thread_unit): an actor told
// through it runs on that thread at run(); what it wakes in turn, and what is left
// once its turn is used, runs on CAF's own threads.
#include "actors/thread_unit.hpp"

#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace omsgw::actors {
namespace {

using namespace std::chrono_literals;

/// Which thread handled each message, in order.
struct seen {
  std::mutex mu;
  std::vector<std::thread::id> threads;
  std::promise<void> all;
  std::size_t expected = 1;
  void add() {
    std::lock_guard<std::mutex> lock(mu);
    threads.push_back(std::this_thread::get_id());
    if (threads.size() == expected) all.set_value();
  }
};

caf::behavior recorder(caf::event_based_actor*, std::shared_ptr<seen> s) {
  return {[s](int) { s->add(); }};
}

TEST(ThreadUnit, RunsAToldActorOnTheCallingThreadAtRun) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto s = std::make_shared<seen>();
  auto done = s->all.get_future();
  auto a = sys.spawn<caf::lazy_init>(recorder, s);
  auto& unit = thread_unit::here();
  unit.tell(a, 1);
  EXPECT_EQ(done.wait_for(50ms), std::future_status::timeout) << "ran before run()";
  unit.run();
  ASSERT_EQ(done.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(s->threads.at(0), std::this_thread::get_id());
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

struct ends_here_state {
  std::shared_ptr<std::thread::id> freed_on;
  ~ends_here_state() {
    if (freed_on) *freed_on = std::this_thread::get_id();
  }
};

caf::behavior ends_on_message(caf::stateful_actor<ends_here_state>* self,
                              std::shared_ptr<std::thread::id> freed_on) {
  self->state.freed_on = std::move(freed_on);
  return {[self](int) { self->quit(); }};
}

TEST(ThreadUnit, AnActorThatEndsIsReleasedOnTheCallingThread) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto freed_on = std::make_shared<std::thread::id>();
  {
    auto a = sys.spawn<caf::lazy_init>(ends_on_message, freed_on);
    thread_unit::here().tell(a, 1);
  }  // only the unit's job holds the actor now
  thread_unit::here().run();
  EXPECT_EQ(*freed_on, std::this_thread::get_id())
      << "the actor's state (a session's connection) must be freed where it ran";
}

caf::behavior forwarder(caf::event_based_actor* self, caf::actor next) {
  return {[self, next](int x) { self->send(next, x); }};
}

TEST(ThreadUnit, WhatAnActorRunningHereWakesRunsOnCafsThreads) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto s = std::make_shared<seen>();
  auto done = s->all.get_future();
  auto last = sys.spawn(recorder, s);
  auto first = sys.spawn<caf::lazy_init>(forwarder, last);
  thread_unit::here().tell(first, 1);
  thread_unit::here().run();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_NE(s->threads.at(0), std::this_thread::get_id())
      << "an actor the unit was not told to run must not take over this (I/O) thread";
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(last, caf::exit_reason::user_shutdown);
}

TEST(ThreadUnit, AnActorThatUsedItsTurnContinuesOnCafsThreads) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-throughput", std::size_t{1});
  caf::actor_system sys{cfg};
  auto s = std::make_shared<seen>();
  s->expected = 2;
  auto done = s->all.get_future();
  auto a = sys.spawn<caf::lazy_init>(recorder, s);
  auto& unit = thread_unit::here();
  unit.tell(a, 1);  // wakes it: it will run here
  unit.tell(a, 2);  // waits in its mailbox
  unit.run();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready) << "the second message was lost";
  EXPECT_EQ(s->threads.at(0), std::this_thread::get_id());
  EXPECT_NE(s->threads.at(1), std::this_thread::get_id());
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace omsgw::actors
