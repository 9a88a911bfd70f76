#pragma once
/// \file
/// Admission of accepted connections, on the accepting I/O thread: clients.allow,
/// max_connections and max_connections_per_client (and, with listen.proxy_protocol,
/// the trusted balancers and their wait for a PROXY header), decided by
/// net/decision.hpp against the route in force (route_generations) and recorded by
/// record_refusal. An admitted connection gets its session actor, spawned lazily, and
/// its session link, and starts reading its request: no actor thread is woken. The
/// live counts (Active Client Connection, Connected Client) are kept here under one
/// mutex; a session's end releases its place. The listener actor drives the drain and
/// stop through the calls below.

#include <caf/all.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "actors/admission_release.hpp"
#include "actors/messages.hpp"
#include "actors/services.hpp"
#include "net/decision.hpp"

namespace omsgw::actors {

class admission : public std::enable_shared_from_this<admission> {
 public:
  admission(caf::actor_system& sys, services_ptr svc, net::policy_ptr initial);

  /// The listener: hands the sessions' ends on (session_link) and runs the drain. Set
  /// before the first connection is accepted.
  void set_listener(caf::actor_addr listener);

  /// The acceptor's handler (its I/O thread).
  void accepted(std::shared_ptr<net::connection> conn);

  listener_status status();
  /// From now on every session's end is told to the listener (released_atom).
  void start_drain();
  /// Nothing admitted is live and nothing waits for a PROXY header.
  bool idle();
  /// Stops every live session (each closes its connection), closes the connections
  /// waiting for a PROXY header, and from now on closes every accepted connection at
  /// once (the drain deadline, the gateway's stop). Returns how many sessions were live.
  std::uint64_t shut();

 private:
  friend struct admission_release;  // calls release(id)
  struct live_session {
    caf::actor session;  ///< null while it is being spawned
    std::string addr;
  };
  struct waiting_conn {
    std::shared_ptr<net::connection> conn;
    std::string peer;  ///< the balancer's address (display form)
  };
  /// The limits' verdict on one more connection from addr, under the lock; when it is
  /// admitted (and the gateway is not stopping), add() books it under the same lock.
  struct booking {
    bool closing = false;  ///< stopping: the connection is closed at once
    net::connection_load load;
    net::verdict limits;
  };
  template <class Add>
  booking book(const net::policy_snapshot& p, const std::string& addr, Add add) {
    std::lock_guard<std::mutex> lock(mu_);
    booking b{shut_, load_for(addr), {}};
    b.limits = net::decide_limits(p, b.load, svc_->capacity);
    if (!b.closing && !b.limits.refused()) add();
    return b;
  }
  route_view refresh_route();                                    // with mu_ held
  net::connection_load load_for(const std::string& addr) const;  // with mu_ held
  std::string limit_message(const net::policy_snapshot& p, const net::connection_load& load) const;
  void admit(std::shared_ptr<net::connection> conn, const route_view& route);
  /// client: "addr:port" for log lines.
  void spawn_session(std::shared_ptr<net::connection> conn, const route_view& route,
                     std::string client);
  void await_proxy_header(std::shared_ptr<net::connection> conn, const route_view& route);
  void on_proxied(std::uint64_t id, const net::proxy_outcome& out, bool timed_out);
  void release(std::uint64_t id);
  void notify_listener();
  void publish_gauges();  // with mu_ held

  caf::actor_system& sys_;
  services_ptr svc_;
  std::mutex mu_;
  route_view route_;  ///< the route in force as last read (refreshed per accept)
  std::unordered_map<std::uint64_t, live_session> live_;       ///< connection id -> session
  std::unordered_map<std::string, std::uint32_t> per_client_;  ///< client address -> live count
  std::unordered_map<std::uint64_t, waiting_conn> waiting_;    ///< PROXY header not yet read
  std::unordered_map<std::string, std::uint32_t> waiting_per_peer_;
  caf::actor_addr listener_;
  bool draining_ = false;
  bool shut_ = false;
};

}  // namespace omsgw::actors
