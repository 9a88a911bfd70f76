#include "net/byte_report_tick.hpp"

namespace omsgw::net {

boost::asio::execution_context::id byte_report_tick::id;

byte_report_tick::byte_report_tick(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx),
      timer_(static_cast<boost::asio::io_context&>(ctx)) {}

void byte_report_tick::join(member& m) {
  if (m.joined()) return;
  m.slot_ = members_.size();
  members_.push_back(&m);
  if (armed_) return;
  armed_ = true;
  timer_.expires_after(period);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    armed_ = false;
    if (!ec) tick();
  });
}

void byte_report_tick::leave(member& m) {
  if (!m.joined()) return;
  if (m.in_tick_) {  // gone during a tick (another member's report ended it)
    reporting_[m.slot_] = nullptr;
    m.in_tick_ = false;
    m.slot_ = member::npos;
    return;
  }
  member* last = members_.back();
  members_[m.slot_] = last;
  last->slot_ = m.slot_;
  members_.pop_back();
  m.slot_ = member::npos;
}

void byte_report_tick::tick() {
  // Each member leaves just before it reports: bytes moved during a report join the
  // next tick. A member that goes during the tick (a report may end a tunnel) takes
  // itself out of reporting_ (leave).
  reporting_.swap(members_);  // slots stay valid: same indices, now in reporting_
  for (std::size_t i = 0; i < reporting_.size(); ++i) reporting_[i]->in_tick_ = true;
  for (std::size_t i = 0; i < reporting_.size(); ++i) {
    member* m = reporting_[i];
    if (!m) continue;
    m->in_tick_ = false;
    m->slot_ = member::npos;
    m->report_bytes();
  }
  reporting_.clear();
}

void byte_report_tick::shutdown() {
  // The context is going: its pending handlers are destroyed after this, and the
  // tunnels they hold leave as they go; they find themselves out already.
  for (member* m : members_) m->slot_ = member::npos;
  members_.clear();
  for (member* m : reporting_) {
    if (!m) continue;
    m->slot_ = member::npos;
    m->in_tick_ = false;
  }
  reporting_.clear();
}

}  // namespace omsgw::net
