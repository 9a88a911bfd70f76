#pragma once
/// \file
/// CAF 0.17's clock thread ("caf.clock") is woken by every actor that ends:
/// local_actor::cleanup cancels the actor's timeouts through it, unconditionally. At
/// normal priority the woken clock thread preempts the worker that ended the actor
/// (the kernel favours the thread it just woke), and the two contend for the clock's
/// queue lock: about two context switches per session, the largest share of what the
/// actors cost per tunnel (measured with perf sched_switch, loadgen rate mode). At
/// nice 19 it no longer preempts: it runs when a core is free and takes every
/// cancellation queued by then at once. Its work stays tiny (timeouts of admin
/// requests, the drain deadline), so it is never starved for long.

namespace omsgw::actors {

/// Lowers the priority of the actor system's clock thread (nice 19). Call right after
/// the actor system is created; returns false when the thread was not found by name
/// (e.g. another CAF version), which changes nothing but speed.
bool lower_clock_thread_priority();

}  // namespace omsgw::actors
