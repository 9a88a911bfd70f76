#include "actors/session.hpp"

#include "actors/refusal.hpp"
#include "metrics/events.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"

namespace omsgw::actors {
namespace {

std::string endpoint_text(const net::tcp::endpoint& ep) {
  return net::display_endpoint(ep.address(), ep.port());
}

/// Forwards data-plane notifications to the session actor as messages. What needs no
/// decision goes straight from the I/O thread instead, saving a message per tunnel:
/// byte counts (batched by the connection) and the set-up time to the (atomic)
/// metrics, the "tunnel established" debug event to the (thread-safe) log.
class observer final : public net::connection_observer {
 public:
  observer(caf::actor me, std::shared_ptr<metrics::gateway_metrics> m, std::uint64_t id,
           std::string client)
      : me_(std::move(me)), metrics_(std::move(m)), id_(id), client_(std::move(client)) {}
  void on_request(const net::request_outcome& outcome, bool timed_out) override {
    caf::anon_send(me_, request_atom::value, request_msg{outcome, timed_out});
  }
  void on_established(const net::established_info& info) override {
    metrics_->connect_duration.Observe(info.seconds);
    if (!events::enabled(events::level::debug)) return;
    const std::string dest = net::authority_text(info.host, info.port);  // ctx views it
    const events::context ctx{id_, client_, dest};
    if (info.relay) {
      OMSGW_EVENT(debug, info, ctx, "tunnel established through relay {} ({})",
                  info.relay->display(), endpoint_text(info.upstream));
    } else {
      OMSGW_EVENT(debug, info, ctx, "tunnel established to {}", endpoint_text(info.upstream));
    }
  }
  void on_relay_attempt(const net::relay_target& relay, net::relay_outcome outcome,
                        bool skipped) override {
    // Straight from the strand: a metric update is thread-safe and needs no actor.
    if (metrics_) metrics_->count_relay_attempt(relay.display(), net::to_string(outcome), skipped);
  }
  void on_connect_failed(net::connect_failure why, const std::string& detail) override {
    caf::anon_send(me_, failed_atom::value, connect_failure_msg{why, detail});
  }
  void on_inspected(const net::tls::inspection_result& r) override {
    caf::anon_send(me_, inspected_atom::value, r);
  }
  void on_bytes(std::uint64_t up, std::uint64_t down) override {
    if (up) metrics_->bytes_to_upstream.Increment(static_cast<double>(up));
    if (down) metrics_->bytes_to_client.Increment(static_cast<double>(down));
  }
  void on_closed(const net::tunnel_stats& stats) override {
    caf::anon_send(me_, closed_atom::value, stats);
  }

 private:
  caf::actor me_;
  std::shared_ptr<metrics::gateway_metrics> metrics_;
  std::uint64_t id_;
  std::string client_;
};

}  // namespace

net::tls::inspection_policy make_inspection_policy(const config::gateway_config& cfg,
                                                   const std::string& host) {
  net::tls::inspection_policy p;
  p.min_version = static_cast<std::uint16_t>(cfg.tls.min_version);
  p.require_sni_match = cfg.tls.require_sni_match;
  p.connect_host = host;
  for (const auto& s : cfg.allowed_client_certificates) {
    // An unreadable entry is kept as written: it matches no certificate, but the list
    // stays non-empty, so the check stays on (dropping it could turn checking off).
    auto c = net::tls::canonical_subject(s);
    p.allowed_subjects.push_back(c.empty() ? s : std::move(c));
  }
  p.reject_unverifiable_cert =
      cfg.tls.unverifiable_client_cert == config::unverifiable_cert_action::reject;
  return p;
}

namespace {

using session_actor = caf::stateful_actor<session_state>;

events::context ctx(const session_actor* self) {
  return events::context{self->state.conn->id(), self->state.client, self->state.dest};
}

/// Answers status (the connection closes itself after it) and ends the session.
void refuse(session_actor* self, int status, std::string headers = {}) {
  self->state.conn->reply_and_close(status, std::move(headers));
  self->quit();
}

/// Connects upstream through the route's relay, if any, else directly; the connection
/// then answers 200 and relays on its own, under the TLS rules and timeouts of the
/// snapshot the CONNECT was allowed under.
void open_upstream(session_actor* self) {
  auto& s = self->state;
  s.relay = s.route.relay;
  const auto& cfg = *s.snapshot->config;
  net::tunnel_options opts;
  opts.idle_timeout = std::chrono::seconds(cfg.limits.idle_timeout_s);
  opts.handshake_timeout = std::chrono::seconds(cfg.limits.handshake_timeout_s);
  opts.enforce = !s.snapshot->report_mode;
  if (cfg.tls.inspect) opts.inspect = make_inspection_policy(cfg, s.host);
  s.conn->connect_and_relay(s.host, s.port, s.snapshot,
                            std::chrono::seconds(cfg.limits.connect_timeout_s), s.relay,
                            std::move(opts));
}

/// The CONNECT under the route in force (the admitted one while no reload came).
void decide(session_actor* self) {
  auto& s = self->state;
  s.route = current_route(std::move(s.route), *s.svc->generations);
  s.snapshot = s.route.policy;
  const auto v = net::decide_destination(*s.snapshot, s.host, s.port);
  if (v.reason != net::deny_reason::none) {
    record_refusal(*s.svc->metrics, ctx(self), v,
                   fmt::format("destination {} not allowed",
                               v.reason == net::deny_reason::port ? "port" : "host"));
    if (v.refused()) return refuse(self, 403);
  }
  // SPEC.md's wire table: event 103 goes with an accepted CONNECT; a
  // refused one logs only its 105 (which the flood limiter summarises).
  OMSGW_EVENT(info, connect_received, ctx(self), "CONNECT received");
  open_upstream(self);
}

/// The request header's terminal state: a CONNECT goes on to decide(), anything else
/// gets its answer (SPEC.md's wire table) or, when the client left, nothing.
void on_request(session_actor* self, const request_msg& msg) {
  auto& s = self->state;
  const auto& out = msg.outcome;
  switch (out.status) {
    case net::request_status::need_more:
      if (msg.timed_out) {
        OMSGW_EVENT(warn, not_connect, ctx(self), "request header not received in time: {}",
                    out.detail);
        return refuse(self, 408);
      }
      OMSGW_EVENT(debug, info, ctx(self), "{}", out.detail);
      return self->quit();
    case net::request_status::not_connect:
      OMSGW_EVENT(warn, not_connect, ctx(self), "method {} is not allowed, only CONNECT",
                  out.method);
      return refuse(self, 405, "Allow: CONNECT\r\n");
    case net::request_status::bad_request:
    case net::request_status::header_too_large:
      OMSGW_EVENT(warn, not_connect, ctx(self), "malformed request: {}", out.detail);
      return refuse(self, net::http_status_for(out.status));
    case net::request_status::connect:
      break;
  }
  s.host = out.host;
  s.port = out.port;
  s.dest = net::authority_text(out.host, out.port);
  s.svc->metrics->connect_requests.Increment();
  decide(self);
}

void on_connect_failed(session_actor* self, const connect_failure_msg& f) {
  auto& s = self->state;
  if (f.why == net::connect_failure::forbidden_address) {
    // A name that resolves to an internal address is a policy refusal (SSRF guard).
    record_refusal(*s.svc->metrics, ctx(self), net::decide_address(*s.snapshot), f.detail);
    return refuse(self, 403);
  }
  s.svc->metrics->errors.Increment();
  OMSGW_EVENT_F(warn, network_error, ctx(self), ({{"reason", net::to_string(f.why)}}), "{}",
                f.detail);
  refuse(self, f.why == net::connect_failure::timeout ? 504 : 502);
}

/// Logs and counts the inspector's verdict; the data plane has already acted on it
/// (closed the tunnel when the verdict is refused()).
void on_inspected(session_actor* self, const net::tls::inspection_result& r) {
  auto& s = self->state;
  if (r.kind == net::tls::verdict::verified) {
    if (r.client_cert_unverifiable) {
      OMSGW_EVENT(info, info, ctx(self),
                  "TLS 1.3 hides the client certificate: its subject could not be checked "
                  "(tls.unverifiable_client_cert: allow)");
    }
    OMSGW_EVENT(info, tls_verified, ctx(self), "TLS handshake verified: {}", r.detail);
    return;
  }
  if (r.kind == net::tls::verdict::need_more) {
    // An alert ended the handshake before a verdict: the peers refused each other,
    // the gateway did not; nothing is counted.
    OMSGW_EVENT(info, info, ctx(self), "TLS handshake ended: {}", r.detail);
    return;
  }
  const auto v = net::decide_tls(*s.snapshot, r);
  if (r.kind == net::tls::verdict::parse_error) {
    record_refusal(*s.svc->metrics, ctx(self), v, "TLS parse error: " + r.detail);
  } else if (v.reason == net::deny_reason::client_cert) {
    record_refusal(*s.svc->metrics, ctx(self), v,
                   "Invalid client certificate: " +
                       (r.client_subject.empty() ? r.detail : r.client_subject));
  } else {
    record_refusal(*s.svc->metrics, ctx(self), v, "TLS rejected: " + r.detail);
  }
}

void on_closed(session_actor* self, const net::tunnel_stats& stats) {
  auto& s = self->state;
  s.svc->metrics->tunnel_duration.Observe(stats.seconds);
  if (stats.reason == net::close_reason::io_error) s.svc->metrics->errors.Increment();
  OMSGW_EVENT_F(info, info, ctx(self),
                ({{"reason", net::to_string(stats.reason)},
                  {"bytes_up", std::to_string(stats.bytes_to_upstream)},
                  {"bytes_down", std::to_string(stats.bytes_to_client)},
                  {"seconds", fmt::format("{:.3f}", stats.seconds)}}),
                "tunnel closed{}{}", stats.detail.empty() ? "" : ": ", stats.detail);
  self->quit();
}

}  // namespace

caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, services_ptr svc,
                      route_view admitted) {
  auto& st = self->state;
  st.conn = conn;
  st.svc = std::move(svc);
  st.route = std::move(admitted);
  st.snapshot = st.route.policy;
  st.client = endpoint_text(conn->client());
  // Whatever ends this actor (normal end, error, shutdown) closes the connection.
  self->attach_functor([conn](const caf::error&) { conn->close(); });
  conn->set_observer(std::make_shared<observer>(caf::actor_cast<caf::actor>(self),
                                                st.svc->metrics, conn->id(), st.client));
  conn->read_request(net::max_header_bytes,
                     std::chrono::seconds(st.snapshot->config->limits.header_timeout_s));
  return {
      [=](request_atom, const request_msg& msg) { on_request(self, msg); },
      [=](failed_atom, const connect_failure_msg& f) { on_connect_failed(self, f); },
      [=](inspected_atom, const net::tls::inspection_result& r) { on_inspected(self, r); },
      [=](closed_atom, const net::tunnel_stats& stats) { on_closed(self, stats); },
  };
}

}  // namespace omsgw::actors
