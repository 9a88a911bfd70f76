#include "actors/listener.hpp"

#include "actors/refusal.hpp"
#include "actors/session.hpp"
#include "metrics/events.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"

namespace omsgw::actors {
namespace {

void publish_gauges(listener_state& st) {
  st.svc->metrics->active_client_connections.Set(static_cast<double>(st.active));
  st.svc->metrics->connected_clients.Set(static_cast<double>(st.per_client.size()));
}

void maybe_drained(listener_state& st) {
  if (st.draining && st.accept_stopped && st.active == 0 && st.waiting.empty() &&
      st.on_drained) {
    auto done = std::move(st.on_drained);
    st.on_drained = nullptr;
    done();
  }
}

std::uint32_t count_of(const std::unordered_map<std::string, std::uint32_t>& m,
                       const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

/// The connections a new one from addr would join: admitted and waiting for a header.
net::connection_load load_for(const listener_state& s, const std::string& addr) {
  return {s.active + s.waiting.size(), count_of(s.per_client, addr) + count_of(s.waiting_per_peer, addr)};
}

std::string limit_message(const listener_state& s, const net::connection_load& load) {
  const auto capacity = net::effective_capacity(*s.snapshot, s.svc->capacity);
  return load.active >= capacity
             ? fmt::format("max_connections ({}) reached", capacity)
             : fmt::format("max_connections_per_client ({}) reached",
                           s.snapshot->config->limits.max_connections_per_client);
}

/// Admits a connection whose client address is final (after any PROXY header):
/// clients.allow, then max_connections and max_connections_per_client.
void admit(caf::stateful_actor<listener_state>* self, std::shared_ptr<net::connection> conn) {
  auto& s = self->state;
  const auto addr = net::display_address(conn->client().address());
  const std::string client_text = net::authority_text(addr, conn->client().port());
  events::context ctx{conn->id(), client_text, {}};
  auto& m = *s.svc->metrics;
  if (const auto v = net::decide_client(*s.snapshot, conn->client().address()); v.refused()) {
    record_refusal(m, ctx, v, "client address not in clients.allow: connection closed");
    conn->close();
    return;
  } else if (v.reported()) {
    record_refusal(m, ctx, v, "client address not in clients.allow");
  }
  const auto load = load_for(s, addr);
  if (const auto v = net::decide_limits(*s.snapshot, load, s.svc->capacity); v.refused()) {
    record_refusal(m, ctx, v, limit_message(s, load) + ": 503 Service Unavailable");
    conn->reply_and_close(503);
    return;
  }
  auto sess = self->spawn<caf::monitored>(session, conn, s.svc, s.route);
  s.sessions.emplace(sess.address(), addr);
  ++s.per_client[addr];
  ++s.active;
  publish_gauges(s);
}

/// listen.proxy_protocol: a peer outside proxy_protocol_trusted is closed before a byte
/// is read; a trusted one waits for its header counted against the limits (over one:
/// closed, no HTTP answer: the balancer has not named the client yet).
void await_proxy_header(caf::stateful_actor<listener_state>* self,
                        std::shared_ptr<net::connection> conn) {
  auto& s = self->state;
  const auto peer = net::display_address(conn->client().address());
  const std::string peer_text = net::authority_text(peer, conn->client().port());
  events::context ctx{conn->id(), peer_text, {}};
  auto& m = *s.svc->metrics;
  if (const auto v = net::decide_proxy_peer(*s.snapshot, conn->client().address());
      v.refused()) {
    record_refusal(m, ctx, v,
                   "peer not in listen.proxy_protocol_trusted: closed before reading a PROXY header");
    conn->close();
    return;
  }
  const auto load = load_for(s, peer);
  if (const auto v = net::decide_limits(*s.snapshot, load, s.svc->capacity); v.refused()) {
    record_refusal(m, ctx, v, limit_message(s, load) + " while waiting for PROXY headers: closed");
    conn->close();
    return;
  }
  s.waiting.emplace(conn->id(), listener_state::waiting_conn{conn, peer});
  ++s.waiting_per_peer[peer];
  caf::actor me = caf::actor_cast<caf::actor>(self);
  const auto id = conn->id();
  conn->read_proxy_header(
      std::chrono::seconds(s.snapshot->config->limits.header_timeout_s),
      [me, id](const net::proxy_outcome& out, bool timed_out) {
        caf::anon_send(me, proxied_atom::value, proxy_msg{id, out, timed_out});
      });
}

/// Reads the route in force when a reload has replaced the one held (route_generations:
/// the one route policy and relay take; two atomic loads while nothing changed).
void refresh_route(listener_state& s) {
  auto next = current_route(s.route, *s.svc->generations);
  if (!next.policy) return;  // nothing published yet: keep the initial snapshot
  s.route = std::move(next);
  s.snapshot = s.route.policy;
}

/// Takes id off the waiting list; returns its connection (null: not waiting any more).
std::shared_ptr<net::connection> stop_waiting(listener_state& s, std::uint64_t id) {
  const auto it = s.waiting.find(id);
  if (it == s.waiting.end()) return nullptr;
  auto conn = std::move(it->second.conn);
  const auto pc = s.waiting_per_peer.find(it->second.peer);
  if (pc != s.waiting_per_peer.end() && --pc->second == 0) s.waiting_per_peer.erase(pc);
  s.waiting.erase(it);
  return conn;
}

/// Closes every connection still waiting for its header (drain deadline, stop).
void close_waiting(listener_state& s) {
  for (auto& [id, w] : s.waiting) w.conn->close();
  s.waiting.clear();
  s.waiting_per_peer.clear();
}

/// A PROXY header read (or not): a valid one names the client, who is then admitted.
void on_proxied(caf::stateful_actor<listener_state>* self, const proxy_msg& msg) {
  auto& s = self->state;
  auto conn = stop_waiting(s, msg.id);
  if (!conn) return;  // closed meanwhile (drain deadline)
  if (msg.outcome.status != net::proxy_status::ok) {
    const auto peer = net::display_address(conn->client().address());
    events::context ctx{conn->id(), peer, {}};
    OMSGW_EVENT(warn, not_connect, ctx, "no valid PROXY protocol header: {}",
                msg.timed_out ? std::string("not received within limits.header_timeout_s")
                              : msg.outcome.detail);
    conn->close();
    maybe_drained(s);
    return;
  }
  refresh_route(s);
  admit(self, std::move(conn));
  maybe_drained(s);  // admission may have refused it (limits, clients.allow)
}

/// Stops accepting and waits up to timeout_s for the live connections to end.
void start_drain(caf::stateful_actor<listener_state>* self, std::uint32_t timeout_s) {
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
}

/// The drain deadline: every connection still open is closed.
void end_drain(caf::stateful_actor<listener_state>* self) {
  auto& s = self->state;
  if (s.active > 0) {
    OMSGW_EVENT(warn, info, events::context{},
                "drain_timeout_s reached: closing {} remaining connection(s)", s.active);
    for (auto& [addr, client] : s.sessions) {
      self->send_exit(addr, caf::exit_reason::user_shutdown);
    }
  }
  // Past the deadline nothing else is waited for.
  close_waiting(s);
  s.accept_stopped = true;
  maybe_drained(s);
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
  st.route = route_view{st.snapshot, nullptr, route_view::unknown_generation};
  refresh_route(st);

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
    close_waiting(self->state);
    if (self->state.acceptor) self->state.acceptor->stop();
    self->quit(em.reason);
  });

  return {
      [=](accepted_atom, std::shared_ptr<net::connection> conn) {
        // While draining this is a connection the kernel completed before the
        // listening socket closed: it is served like any other (see acceptor::stop).
        refresh_route(self->state);
        if (self->state.snapshot->config->listen.proxy_protocol) {
          await_proxy_header(self, std::move(conn));
        } else {
          admit(self, std::move(conn));
        }
      },
      [=](proxied_atom, const proxy_msg& msg) { on_proxied(self, msg); },
      [=](drain_atom, std::uint32_t timeout_s) { start_drain(self, timeout_s); },
      [=](stopped_atom) {
        self->state.accept_stopped = true;
        maybe_drained(self->state);
      },
      [=](deadline_atom) { end_drain(self); },
      [=](status_atom) {
        auto& s = self->state;
        refresh_route(s);
        return listener_status{s.active, s.per_client.size(),
                               net::effective_capacity(*s.snapshot, s.svc->capacity), s.draining};
      },
  };
}

}  // namespace omsgw::actors
