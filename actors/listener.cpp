#include "actors/listener.hpp"

#include "actors/session.hpp"
#include "metrics/events.hpp"
#include "net/address.hpp"

namespace omsgw::actors {
namespace {

void publish_gauges(listener_state& st) {
  st.svc->metrics->active_client_connections.Set(static_cast<double>(st.active));
  st.svc->metrics->connected_clients.Set(static_cast<double>(st.per_client.size()));
}

void maybe_drained(listener_state& st) {
  if (st.draining && st.accept_stopped && st.active == 0 && st.awaiting_proxy_header == 0 &&
      st.on_drained) {
    auto done = std::move(st.on_drained);
    st.on_drained = nullptr;
    done();
  }
}

/// Admits a connection whose client address is final (after any PROXY header):
/// clients.allow, then max_connections and max_connections_per_client.
void admit(caf::stateful_actor<listener_state>* self, std::shared_ptr<net::connection> conn) {
  auto& s = self->state;
  const auto& cfg = *s.snapshot->config;
  const auto addr = net::display_address(conn->client().address());
  const std::string client_text = net::authority_text(addr, conn->client().port());
  events::context ctx{conn->id(), client_text, {}};
  if (!net::client_allowed(*s.snapshot, conn->client().address())) {
    const auto idx = static_cast<std::size_t>(net::deny_reason::client);
    if (!s.snapshot->report_mode) {
      s.svc->metrics->count_rejection(idx);
      OMSGW_EVENT_F(warn, not_allowed, ctx, ({{"reason", "client"}}),
                    "client address not in clients.allow: connection closed");
      conn->close();
      return;
    }
    s.svc->metrics->count_would_deny(idx);
    OMSGW_EVENT_F(warn, not_allowed, ctx, ({{"reason", "client"}, {"would_deny", "true"}}),
                  "client address not in clients.allow (report mode: let through)");
  }
  const std::uint64_t capacity =
      cfg.limits.max_connections ? cfg.limits.max_connections : s.svc->capacity;
  auto pc = s.per_client.find(addr);
  const std::uint32_t from_client = pc == s.per_client.end() ? 0 : pc->second;
  if (s.active >= capacity || from_client >= cfg.limits.max_connections_per_client) {
    s.svc->metrics->count_rejection(static_cast<std::size_t>(net::deny_reason::limit));
    OMSGW_EVENT_F(warn, application_error, ctx, ({{"reason", "limit"}}),
                  "{}: 503 Service Unavailable",
                  s.active >= capacity ? fmt::format("max_connections ({}) reached", capacity)
                                       : fmt::format("max_connections_per_client ({}) reached",
                                                     cfg.limits.max_connections_per_client));
    conn->reply_and_close(503);
    return;
  }
  auto sess = self->spawn<caf::monitored>(session, conn, s.policy, s.svc,
                                          route_view{s.snapshot, s.relay, s.relay_generation});
  s.sessions.emplace(sess.address(), addr);
  ++s.per_client[addr];
  ++s.active;
  publish_gauges(s);
}

}  // namespace

caf::behavior listener(caf::stateful_actor<listener_state>* self,
                       std::shared_ptr<net::acceptor> acceptor, policy_store_actor policy,
                       services_ptr svc, net::policy_ptr initial,
                       std::function<void()> on_drained) {
  auto& st = self->state;
  st.acceptor = std::move(acceptor);
  st.policy = std::move(policy);
  st.svc = std::move(svc);
  st.snapshot = std::move(initial);
  st.on_drained = std::move(on_drained);
  self->send(caf::actor_cast<caf::actor>(st.policy), subscribe_atom::value,
             caf::actor_cast<caf::actor>(self));
  // The relay in force reaches sessions with their admission (route_view); without a
  // relay actor every tunnel connects directly and generation 0 never changes.
  if (auto relays = find_relay(self->home_system())) {
    self->send(relays, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  } else {
    st.relay_generation = 0;
  }

  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    auto it = s.sessions.find(dm.source);
    if (it == s.sessions.end()) return;
    auto pc = s.per_client.find(it->second);
    if (pc != s.per_client.end() && --pc->second == 0) s.per_client.erase(pc);
    s.sessions.erase(it);
    --s.active;
    publish_gauges(s);
    maybe_drained(s);
  });
  // Stopping the listener stops every session it spawned (each closes its tunnel).
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& [addr, client] : self->state.sessions) {
      self->send_exit(addr, caf::exit_reason::user_shutdown);
    }
    if (self->state.acceptor) self->state.acceptor->stop();
    self->quit(em.reason);
  });

  return {
      [=](accepted_atom, std::shared_ptr<net::connection> conn) {
        // While draining this is a connection the kernel completed before the
        // listening socket closed: it is served like any other (see acceptor::stop).
        auto& s = self->state;
        const auto& cfg = *s.snapshot->config;
        if (cfg.listen.proxy_protocol) {
          // The load balancer's PROXY header comes first and names the real client.
          caf::actor me = caf::actor_cast<caf::actor>(self);
          ++s.awaiting_proxy_header;  // a drain waits for it, like for a session
          conn->read_proxy_header(
              std::chrono::seconds(cfg.limits.header_timeout_s),
              [me, conn](const net::proxy_outcome& out, bool timed_out) {
                caf::anon_send(me, proxied_atom::value, proxy_msg{conn, out, timed_out});
              });
          return;
        }
        admit(self, std::move(conn));
      },
      [=](proxied_atom, const proxy_msg& msg) {
        auto& s = self->state;
        if (s.awaiting_proxy_header > 0) --s.awaiting_proxy_header;
        if (msg.outcome.status != net::proxy_status::ok) {
          const auto peer = net::display_address(msg.conn->client().address());
          events::context ctx{msg.conn->id(), peer, {}};
          OMSGW_EVENT(warn, not_connect, ctx, "no valid PROXY protocol header: {}",
                      msg.timed_out ? std::string("not received within limits.header_timeout_s")
                                    : msg.outcome.detail);
          msg.conn->close();
          maybe_drained(s);
          return;
        }
        admit(self, msg.conn);
        maybe_drained(s);  // admission may have refused it (limits, clients.allow)
      },
      [=](update_atom, net::policy_ptr next) { self->state.snapshot = std::move(next); },
      [=](update_atom, net::relay_ptr next, std::uint64_t generation) {
        self->state.relay = std::move(next);
        self->state.relay_generation = generation;
      },
      [=](drain_atom, std::uint32_t timeout_s) {
        auto& s = self->state;
        if (s.draining) return;
        s.draining = true;
        if (s.acceptor) {
          s.acceptor->stop([me = caf::actor_cast<caf::actor>(self)] {
            caf::anon_send(me, stopped_atom::value);
          });
        } else {
          s.accept_stopped = true;
        }
        OMSGW_EVENT(info, info, events::context{}, "draining: {} live connection(s), up to {} s",
                    s.active, timeout_s);
        self->delayed_send(self, std::chrono::seconds(timeout_s), deadline_atom::value);
        maybe_drained(s);
      },
      [=](stopped_atom) {
        self->state.accept_stopped = true;
        maybe_drained(self->state);
      },
      [=](deadline_atom) {
        auto& s = self->state;
        if (s.active > 0) {
          OMSGW_EVENT(warn, info, events::context{},
                      "drain_timeout_s reached: closing {} remaining connection(s)", s.active);
          for (auto& [addr, client] : s.sessions) {
            self->send_exit(addr, caf::exit_reason::user_shutdown);
          }
        }
        // Past the deadline nothing else is waited for (teardown closes what is left).
        s.awaiting_proxy_header = 0;
        s.accept_stopped = true;
        maybe_drained(s);
      },
      [=](status_atom) {
        auto& s = self->state;
        return listener_status{s.active, s.per_client.size(), s.svc->capacity, s.draining};
      },
  };
}

}  // namespace omsgw::actors
