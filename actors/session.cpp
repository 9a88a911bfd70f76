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

void session::on_end(const session_end& end) {
  // The link freed the admission place before it told the end (session_link's on_closed
  // and on_finished): on_exit need not free it a second time (a lock and a lookup).
  release_ = {};
  if (end.tunnel) {
    const auto& stats = end.stats;
    const events::context ctx{conn_->id(), client_, end.dest};
    OMSGW_EVENT_F(info, info, ctx,
                  ({{"reason", net::to_string(stats.reason)},
                    {"bytes_up", std::to_string(stats.bytes_to_upstream)},
                    {"bytes_down", std::to_string(stats.bytes_to_client)},
                    {"seconds", fmt::format("{:.3f}", stats.seconds)}}),
                  "tunnel closed{}{}", stats.detail.empty() ? "" : ": ", stats.detail);
  }
  quit();
}

}  // namespace omsgw::actors
