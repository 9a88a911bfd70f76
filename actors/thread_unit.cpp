#include "actors/thread_unit.hpp"

namespace omsgw::actors {

thread_unit& thread_unit::here() {
  thread_local thread_unit unit;
  return unit;
}

void thread_unit::exec_later(caf::resumable* job) {
  // The job carries the reference its enqueue added; whoever resumes it drops it.
  if (telling_) {
    woken_.push_back(job);
  } else {
    system().scheduler().enqueue(job);  // woken by an actor running here
  }
}

void thread_unit::run() {
  // Swapped, not iterated in place: a job may (indirectly) tell again while it runs.
  while (!woken_.empty()) {
    running_.swap(woken_);
    const auto turn = system().scheduler().max_throughput();
    for (auto* job : running_) {
      switch (job->resume(this, turn)) {
        case caf::resumable::resume_later:
          system().scheduler().enqueue(job);  // keeps its reference
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
        case caf::resumable::shutdown_execution_unit:
          caf::intrusive_ptr_release(job);
          break;
      }
    }
    running_.clear();
  }
}

}  // namespace omsgw::actors
