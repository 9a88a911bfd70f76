#pragma once
/// \file
/// A session's link on its connection's strand (a net::connection_observer). It
/// decides the CONNECT with the route the listener admitted the client under (or the
/// route in force, when a reload has replaced it: route_generations), records the
/// refusals (actors/refusal), logs the events and counts the metrics of each step, and
/// answers the connection at once: no actor is asked on the set-up path. It tells the
/// session actor one thing, once: how the connection ended -- gathered with the other
/// ends told on the same I/O thread for a moment, then told to each session through
/// the thread's own execution unit (actors/thread_unit), so the session runs and ends
/// there, on its connection's thread, and no actor thread wakes.

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <functional>
#include <memory>
#include <string>

#include "actors/admission_release.hpp"
#include "actors/services.hpp"
#include "net/connection_observer.hpp"

namespace omsgw::actors {

struct session_link_args {
  caf::actor session;
  boost::asio::io_context* io = nullptr;  ///< the connection's I/O context (one thread)
  services_ptr svc;
  route_view admitted;
  std::uint64_t id = 0;
  std::string client;  ///< "addr:port" for log lines
  /// Frees the connection's admission place; called on the I/O thread the moment the
  /// connection ends, so a client that closes and reconnects at once finds its place
  /// free (the session's exit calls it again: it is idempotent).
  admission_release release;
};

std::shared_ptr<net::connection_observer> make_session_link(session_link_args args);

/// The TLS rules of a snapshot for one destination host (pure).
net::tls::inspection_policy make_inspection_policy(const config::gateway_config& cfg,
                                                   const std::string& host);

}  // namespace omsgw::actors
