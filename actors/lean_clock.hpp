#pragma once
/// \file
/// CAF's scheduler without one clock-thread wake per session. When any actor ends, CAF
/// 0.17 (local_actor::cleanup) cancels its timeouts through the clock thread: it queues
/// a cancellation and, when the clock's queue was empty, wakes the thread (a futex wake
/// and two context switches; with ends arriving in batches, about 0.25 wakes per
/// tunnel). A session actor sets no timeout in its life, so that cancellation has
/// nothing to cancel. The lean clock forwards everything to CAF's own clock (whose
/// thread still runs every timeout and delayed message) except that cancellation, for
/// actors of the types it is given (rare_timeouts) that never set one. It is installed through
/// CAF's module factories as the scheduler: CAF's own work-sharing coordinator, with
/// only clock() overridden.

#include <atomic>
#include <caf/actor_system_config.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <typeinfo>
#include <vector>

namespace omsgw::actors {

/// For actors that end in great numbers and rarely set a timeout (the session actor).
/// The lean clock notes any timeout such an actor sets, and skips the end's
/// cancellation only for one that set none.
class rare_timeouts {
 public:
  bool set_any() const { return set_any_.load(std::memory_order_acquire); }
  void note_set() { set_any_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> set_any_{false};
};

/// An actor type deriving from rare_timeouts, as the lean clock recognises it: by its
/// exact type, then a static cast (a dynamic_cast across CAF's actor hierarchy cost
/// about 2,000 instructions per actor, more than the cancellation it saves).
struct rare_type {
  const std::type_info* type;
  rare_timeouts* (*of)(caf::abstract_actor*);
};
template <class T>
rare_type rare_type_of() {
  return {&typeid(T), [](caf::abstract_actor* a) -> rare_timeouts* { return static_cast<T*>(a); }};
}

/// Forwards to target (CAF's clock), minus the cancellations described above.
class lean_clock final : public caf::detail::thread_safe_actor_clock {
 public:
  lean_clock(caf::detail::thread_safe_actor_clock& target, std::vector<rare_type> types)
      : target_(target), types_(std::move(types)) {}

  time_point now() const noexcept override { return target_.now(); }
  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            uint64_t id) override;
  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override;
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         uint64_t id) override;
  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    target_.cancel_ordinary_timeout(self, type);
  }
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    target_.cancel_request_timeout(self, id);
  }
  void cancel_timeouts(caf::abstract_actor* self) override;
  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override {
    target_.schedule_message(t, std::move(receiver), std::move(content));
  }
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    target_.schedule_message(t, std::move(target), std::move(sender), std::move(content));
  }
  void cancel_all() override { target_.cancel_all(); }

  /// Cancellations skipped so far (tests).
  std::uint64_t skipped() const { return skipped_.load(std::memory_order_relaxed); }

 private:
  rare_timeouts* rare(caf::abstract_actor* self) const;
  void note(caf::abstract_actor* self) const;

  caf::detail::thread_safe_actor_clock& target_;
  const std::vector<rare_type> types_;
  std::atomic<std::uint64_t> skipped_{0};
};

/// Makes cfg's actor system run on CAF's work-sharing coordinator with the lean clock,
/// which skips the end's cancellation for actors of the given types (before the
/// system is created; scheduler.max-threads still applies).
void use_lean_clock(caf::actor_system_config& cfg, std::vector<rare_type> types);

/// The lean clock of sys, or null when sys does not use it.
const lean_clock* lean_clock_of(caf::actor_system& sys);

}  // namespace omsgw::actors
