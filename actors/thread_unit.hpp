#pragma once
/// \file
/// The calling thread as a CAF execution unit. A message told through it to an actor
/// that is waiting puts that actor on this unit's list instead of CAF's scheduler, and
/// run() resumes it here, on this thread.
///
/// Why: a session actor ends on the I/O thread of its connection (actors/session_link
/// tells it how the connection ended). Through CAF's scheduler, every end woke an actor
/// thread, which then ran the session and freed the connection's memory, allocated on
/// the I/O thread, from another thread (malloc's slow path). Resumed here, a session
/// ends where its connection ran, and no other thread wakes. It is still an actor:
/// its mailbox, its behaviour and CAF's rule that one thread at a time runs it are
/// CAF's own (the enqueue that finds the actor waiting is the one that schedules it).
///
/// What an actor running here wakes in turn (a message it sends, a down message at its
/// exit) goes to CAF's scheduler: only the actors told through tell() run here.

#include <caf/all.hpp>
#include <vector>

namespace omsgw::actors {

class thread_unit final : public caf::execution_unit {
 public:
  /// The calling thread's unit.
  static thread_unit& here();

  /// Puts a message (xs...) without a sender into dest's mailbox. If that wakes dest,
  /// it runs at the next run() on this thread.
  template <class... Ts>
  void tell(const caf::actor& dest, Ts&&... xs) {
    if (!dest) return;
    system_ = &dest->home_system();  // the system of what run() resumes (one per process)
    telling_ = true;
    dest->eq_impl(caf::make_message_id(), nullptr, this, std::forward<Ts>(xs)...);
    telling_ = false;
  }

  /// Resumes every actor tell() woke until it waits for a message or ends; one that has
  /// used its turn (the scheduler's max throughput) is handed to CAF's scheduler.
  void run();

  /// CAF's hook, called by an enqueue that wakes an actor.
  void exec_later(caf::resumable* job) override;

 private:
  std::vector<caf::resumable*> woken_;
  std::vector<caf::resumable*> running_;
  bool telling_ = false;
};

}  // namespace omsgw::actors
