#include "actors/lean_clock.hpp"

#include <caf/actor_system.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/scheduler/coordinator.hpp>

namespace omsgw::actors {
namespace {

/// CAF's work-sharing coordinator; its clock thread runs CAF's clock, which the lean
/// clock forwards to.
class lean_coordinator final : public caf::scheduler::coordinator<caf::policy::work_sharing> {
 public:
  lean_coordinator(caf::actor_system& sys, std::vector<rare_type> types)
      : coordinator(sys), lean_(coordinator::clock(), std::move(types)) {}
  caf::detail::thread_safe_actor_clock& clock() noexcept override { return lean_; }

 private:
  lean_clock lean_;
};

}  // namespace

rare_timeouts* lean_clock::rare(caf::abstract_actor* self) const {
  const std::type_info& type = typeid(*self);
  for (const auto& t : types_) {
    if (type == *t.type) return t.of(self);
  }
  return nullptr;
}

void lean_clock::note(caf::abstract_actor* self) const {
  if (auto* r = rare(self)) r->note_set();
}

void lean_clock::set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                                      uint64_t id) {
  note(self);
  target_.set_ordinary_timeout(t, self, type, id);
}

void lean_clock::set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) {
  note(self);
  target_.set_request_timeout(t, self, id);
}

void lean_clock::set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                                   uint64_t id) {
  note(self);
  target_.set_multi_timeout(t, self, type, id);
}

void lean_clock::cancel_timeouts(caf::abstract_actor* self) {
  if (auto* r = rare(self); r && !r->set_any()) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return;  // nothing of this actor's is queued on the clock
  }
  target_.cancel_timeouts(self);
}

void use_lean_clock(caf::actor_system_config& cfg, std::vector<rare_type> types) {
  cfg.module_factories.push_back([types](caf::actor_system& sys) -> caf::actor_system::module* {
    return new lean_coordinator(sys, types);
  });
}

const lean_clock* lean_clock_of(caf::actor_system& sys) {
  return dynamic_cast<const lean_clock*>(&sys.clock());
}

}  // namespace omsgw::actors
