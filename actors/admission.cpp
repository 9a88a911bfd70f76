#include "actors/admission.hpp"

#include "actors/refusal.hpp"
#include "actors/session.hpp"
#include "actors/session_link.hpp"
#include "metrics/events.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"
#include "net/limits.hpp"

namespace omsgw::actors {

admission::admission(caf::actor_system& sys, services_ptr svc, net::policy_ptr initial)
    : sys_(sys), svc_(std::move(svc)) {
  route_ = route_view{std::move(initial), nullptr, route_view::unknown_generation};
  refresh_route();
}

route_view admission::refresh_route() {
  auto next = current_route(route_, *svc_->generations);
  if (next.policy) route_ = std::move(next);  // nothing published yet: keep the initial one
  return route_;
}

void admission::publish_gauges() {
  svc_->metrics->active_client_connections.Set(static_cast<double>(live_.size()));
  svc_->metrics->connected_clients.Set(static_cast<double>(per_client_.size()));
}

namespace {
std::uint32_t count_of(const std::unordered_map<std::string, std::uint32_t>& m,
                       const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

/// The connections a new one from addr would join: admitted and waiting for a header.
net::connection_load admission::load_for(const std::string& addr) const {
  return {live_.size() + waiting_.size(),
          count_of(per_client_, addr) + count_of(waiting_per_peer_, addr)};
}

std::string admission::limit_message(const net::policy_snapshot& p,
                                     const net::connection_load& load) const {
  const auto capacity = net::effective_capacity(p, svc_->capacity);
  return load.active >= capacity ? fmt::format("max_connections ({}) reached", capacity)
                                 : fmt::format("max_connections_per_client ({}) reached",
                                               p.config->limits.max_connections_per_client);
}

void admission::accepted(std::shared_ptr<net::connection> conn) {
  route_view route;
  bool closing = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing = shut_;
    if (!closing) route = refresh_route();
  }
  if (closing) return conn->close();
  // While draining this is a connection the kernel completed before the listening
  // socket closed: it is served like any other (see acceptor::stop).
  if (route.policy->config->listen.proxy_protocol)
    return await_proxy_header(std::move(conn), route);
  admit(std::move(conn), route);
}

/// Admits a connection whose client address is final (after any PROXY header):
/// clients.allow, then max_connections and max_connections_per_client.
void admission::admit(std::shared_ptr<net::connection> conn, const route_view& route) {
  const auto addr = net::display_address(conn->client().address());
  const std::string client_text = net::authority_text(addr, conn->client().port());
  const events::context ctx{conn->id(), client_text, {}};  // views client_text
  auto& m = *svc_->metrics;
  const auto& policy = *route.policy;
  if (const auto v = net::decide_client(policy, conn->client().address()); v.refused()) {
    record_refusal(m, ctx, v, "client address not in clients.allow: connection closed");
    return conn->close();
  } else if (v.reported()) {
    record_refusal(m, ctx, v, "client address not in clients.allow");
  }
  const auto b = book(policy, addr, [&] {
    live_.emplace(conn->id(), live_session{nullptr, addr});
    ++per_client_[addr];
    publish_gauges();
  });
  if (b.closing) return conn->close();
  if (b.limits.refused()) {
    record_refusal(m, ctx, b.limits, limit_message(policy, b.load) + ": 503 Service Unavailable");
    return conn->reply_and_close(503);
  }
  spawn_session(std::move(conn), route, client_text);
}

/// The session (lazy: it first runs when its connection ends or it is stopped) and its
/// link, and the request read starts.
void admission::spawn_session(std::shared_ptr<net::connection> conn, const route_view& route,
                              std::string client) {
  const auto id = conn->id();
  const admission_release release{weak_from_this(), id};
  auto s = sys_.spawn<session, caf::lazy_init>(conn, client, release);
  bool stop_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = live_.find(id);
    if (it != live_.end()) it->second.session = s;
    stop_now = shut_;  // shut() ran while it was spawned: it could not stop it
  }
  const auto timeout = std::chrono::seconds(route.policy->config->limits.header_timeout_s);
  auto& io = conn->io_context();
  conn->begin(make_session_link({s, &io, svc_, route, id, std::move(client), std::move(release)}),
              net::max_header_bytes, timeout);
  if (stop_now) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

/// listen.proxy_protocol: a peer outside proxy_protocol_trusted is closed before a byte
/// is read; a trusted one waits for its header counted against the limits (over one:
/// closed, no HTTP answer: the balancer has not named the client yet).
void admission::await_proxy_header(std::shared_ptr<net::connection> conn, const route_view& route) {
  const auto peer = net::display_address(conn->client().address());
  const std::string peer_text = net::authority_text(peer, conn->client().port());
  const events::context ctx{conn->id(), peer_text, {}};  // views peer_text
  auto& m = *svc_->metrics;
  const auto& policy = *route.policy;
  if (const auto v = net::decide_proxy_peer(policy, conn->client().address()); v.refused()) {
    record_refusal(
        m, ctx, v,
        "peer not in listen.proxy_protocol_trusted: closed before reading a PROXY header");
    return conn->close();
  }
  const auto b = book(policy, peer, [&] {
    waiting_.emplace(conn->id(), waiting_conn{conn, peer});
    ++waiting_per_peer_[peer];
  });
  if (b.closing) return conn->close();
  if (b.limits.refused()) {
    record_refusal(m, ctx, b.limits,
                   limit_message(policy, b.load) + " while waiting for PROXY headers: closed");
    return conn->close();
  }
  std::weak_ptr<admission> weak = weak_from_this();
  conn->read_proxy_header(std::chrono::seconds(policy.config->limits.header_timeout_s),
                          [weak, id = conn->id()](const net::proxy_outcome& out, bool timed_out) {
                            if (auto self = weak.lock()) self->on_proxied(id, out, timed_out);
                          });
}

/// A PROXY header read (or not), on the connection's strand: a valid one names the
/// client, who is then admitted.
void admission::on_proxied(std::uint64_t id, const net::proxy_outcome& out, bool timed_out) {
  std::shared_ptr<net::connection> conn;
  route_view route;
  bool draining = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = waiting_.find(id);
    if (it == waiting_.end()) return;  // closed meanwhile (drain deadline)
    conn = std::move(it->second.conn);
    const auto pc = waiting_per_peer_.find(it->second.peer);
    if (pc != waiting_per_peer_.end() && --pc->second == 0) waiting_per_peer_.erase(pc);
    waiting_.erase(it);
    route = refresh_route();
    draining = draining_;
  }
  if (out.status != net::proxy_status::ok) {
    const auto peer = net::display_address(conn->client().address());
    events::context ctx{conn->id(), peer, {}};
    OMSGW_EVENT(
        warn, not_connect, ctx, "no valid PROXY protocol header: {}",
        timed_out ? std::string("not received within limits.header_timeout_s") : out.detail);
    conn->close();
  } else {
    admit(std::move(conn), route);
  }
  if (draining) notify_listener();  // the drain may be over
}

/// A connection ended (its link, on the I/O thread) or its session did (attach_functor,
/// on an actor thread): whichever comes first frees the place, the other finds nothing.
void admission::release(std::uint64_t id) {
  bool draining = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = live_.find(id);
    if (it == live_.end()) return;
    const auto pc = per_client_.find(it->second.addr);
    if (pc != per_client_.end() && --pc->second == 0) per_client_.erase(pc);
    live_.erase(it);
    publish_gauges();
    draining = draining_;
  }
  if (draining) notify_listener();
}

void admission_release::operator()() const {
  if (auto g = gate.lock()) g->release(id);
}

void admission::notify_listener() {
  if (auto l = caf::actor_cast<caf::actor>(listener_)) caf::anon_send(l, released_atom::value);
}

listener_status admission::status() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto route = refresh_route();
  return listener_status{live_.size(), per_client_.size(),
                         net::effective_capacity(*route.policy, svc_->capacity), draining_};
}

void admission::set_listener(caf::actor_addr listener) { listener_ = std::move(listener); }

void admission::start_drain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool admission::idle() {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.empty() && waiting_.empty();
}

std::uint64_t admission::shut() {
  std::vector<caf::actor> sessions;
  std::vector<std::shared_ptr<net::connection>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_ = true;
    for (auto& [id, l] : live_) {
      if (l.session) sessions.push_back(l.session);  // null: spawn_session stops it
    }
    for (auto& [id, w] : waiting_) waiting.push_back(std::move(w.conn));
    waiting_.clear();
    waiting_per_peer_.clear();
  }
  for (auto& s : sessions) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  for (auto& c : waiting) c->close();
  return sessions.size();
}

}  // namespace omsgw::actors
