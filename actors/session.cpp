#include "actors/session.hpp"

#include "metrics/events.hpp"

namespace omsgw::actors {

session::session(caf::actor_config& cfg, std::shared_ptr<net::connection> conn, std::string client,
                 admission_release release)
    : caf::event_based_actor(cfg),
      conn_(std::move(conn)),
      client_(std::move(client)),
      release_(std::move(release)) {}

caf::behavior session::make_behavior() {
  return {
      [this](closed_atom, const session_end& end) { on_end(end); },
  };
}

void session::on_exit() {
  if (conn_) conn_->close();
  conn_.reset();  // freed here, on the thread that ran the session's end
  release_();
}

void session::on_end(const session_end&) {
  // The link freed the admission place before it told the end (session_link's on_closed
  // and on_finished), and logged a tunnel's close: on_exit need not free it a second
  // time (a lock and a lookup).
  release_ = {};
  quit();
}

}  // namespace omsgw::actors
