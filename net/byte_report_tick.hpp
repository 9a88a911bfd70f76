#pragma once
/// \file
/// When the byte counts of an I/O thread's tunnels reach their observers: at a tick once
/// a second, kept by one timer per io_context (an Asio service) for all its tunnels. A
/// tunnel that moves bytes joins the next tick once; at the tick every member reports
/// what it has not reported yet and leaves. Before, each tunnel re-armed its own timer at
/// the first bytes of every burst and woke its thread a second later to report them: two
/// timer operations and often one more wake-up per burst, which an agent that POSTs every
/// few seconds pays on every POST (README performance).
///
/// Everything here runs on the context's one thread (io_pool runs each context on one).

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <limits>
#include <vector>

namespace omsgw::net {

class byte_report_tick final : public boost::asio::execution_context::service {
 public:
  /// How often members report.
  static constexpr std::chrono::seconds period{1};

  /// What joins a tick. A member leaves before it goes (stop or destructor).
  class member {
   public:
    /// Reports what has not been reported yet; called at the tick, once per join.
    virtual void report_bytes() = 0;
    bool joined() const { return slot_ != npos; }

   protected:
    member() = default;
    ~member() = default;
    member(const member&) = delete;
    member& operator=(const member&) = delete;

   private:
    friend class byte_report_tick;
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    std::size_t slot_ = npos;  ///< index in members_, or in reporting_ during a tick
    bool in_tick_ = false;     ///< in reporting_: the running tick has yet to call it
  };

  static boost::asio::execution_context::id id;
  /// ctx must be an io_context (the timer runs on it); use_service creates it once.
  explicit byte_report_tick(boost::asio::execution_context& ctx);

  /// The tick of the context that ex runs on.
  template <class Executor>
  static byte_report_tick& of(const Executor& ex) {
    return boost::asio::use_service<byte_report_tick>(
        boost::asio::query(ex, boost::asio::execution::context));
  }

  /// m reports at the next tick; nothing if it has joined already. Arms the timer when
  /// it is idle: a context whose tunnels move nothing keeps no timer pending.
  void join(member& m);
  /// m does not report at the tick; nothing if it has not joined. O(1).
  void leave(member& m);

  /// Members waiting for the tick (for tests).
  std::size_t waiting() const { return members_.size(); }

 private:
  void shutdown() override;
  void tick();

  boost::asio::steady_timer timer_;
  std::vector<member*> members_;
  std::vector<member*> reporting_;  ///< the tick's members, reused between ticks
  bool armed_ = false;
};

}  // namespace omsgw::net
