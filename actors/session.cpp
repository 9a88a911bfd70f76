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

  auto ctx = [self] {
    return events::context{self->state.conn->id(), self->state.client, self->state.dest};
  };
  auto refuse = [self](int status, std::string headers = {}) {
    self->state.conn->reply_and_close(status, std::move(headers));
    self->quit();
  };
  // Connects upstream through the route's relay, if any, else directly; the connection
  // then answers 200 and relays on its own, under the TLS rules and timeouts of the
  // snapshot the CONNECT was allowed under.
  auto open_upstream = [self] {
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
  };
  // The CONNECT under the route in force (the admitted one while no reload came).
  auto decide = [self, ctx, refuse, open_upstream] {
    auto& s2 = self->state;
    s2.route = current_route(std::move(s2.route), *s2.svc->generations);
    s2.snapshot = s2.route.policy;
    const auto v = net::decide_destination(*s2.snapshot, s2.host, s2.port);
    if (v.reason != net::deny_reason::none) {
      record_refusal(*s2.svc->metrics, ctx(), v,
                     fmt::format("destination {} not allowed",
                                 v.reason == net::deny_reason::port ? "port" : "host"));
      if (v.refused()) {
        refuse(403);
        return;
      }
    }
    // SPEC.md's wire table: event 103 goes with an accepted CONNECT; a
    // refused one logs only its 105 (which the flood limiter summarises).
    OMSGW_EVENT(info, connect_received, ctx(), "CONNECT received");
    open_upstream();
  };

  return {
      [=](request_atom, const request_msg& msg) {
        auto& s = self->state;
        const auto& out = msg.outcome;
        switch (out.status) {
          case net::request_status::need_more:
            if (msg.timed_out) {
              OMSGW_EVENT(warn, not_connect, ctx(), "request header not received in time: {}",
                          out.detail);
              refuse(408);
            } else {
              OMSGW_EVENT(debug, info, ctx(), "{}", out.detail);
              self->quit();
            }
            return;
          case net::request_status::not_connect:
            OMSGW_EVENT(warn, not_connect, ctx(), "method {} is not allowed, only CONNECT",
                        out.method);
            refuse(405, "Allow: CONNECT\r\n");
            return;
          case net::request_status::bad_request:
          case net::request_status::header_too_large:
            OMSGW_EVENT(warn, not_connect, ctx(), "malformed request: {}", out.detail);
            refuse(net::http_status_for(out.status));
            return;
          case net::request_status::connect:
            break;
        }
        s.host = out.host;
        s.port = out.port;
        s.dest = net::authority_text(out.host, out.port);
        s.svc->metrics->connect_requests.Increment();
        decide();
      },
      [=](failed_atom, const connect_failure_msg& f) {
        auto& s = self->state;
        if (f.why == net::connect_failure::forbidden_address) {
          // A name that resolves to an internal address is a policy refusal (SSRF guard).
          record_refusal(*s.svc->metrics, ctx(), net::decide_address(*s.snapshot), f.detail);
          refuse(403);
          return;
        }
        s.svc->metrics->errors.Increment();
        OMSGW_EVENT_F(warn, network_error, ctx(), ({{"reason", net::to_string(f.why)}}), "{}",
                      f.detail);
        refuse(f.why == net::connect_failure::timeout ? 504 : 502);
      },
      [=](inspected_atom, const net::tls::inspection_result& r) {
        auto& s = self->state;
        if (r.kind == net::tls::verdict::verified) {
          if (r.client_cert_unverifiable) {
            OMSGW_EVENT(info, info, ctx(),
                        "TLS 1.3 hides the client certificate: its subject could not be checked "
                        "(tls.unverifiable_client_cert: allow)");
          }
          OMSGW_EVENT(info, tls_verified, ctx(), "TLS handshake verified: {}", r.detail);
          return;
        }
        if (r.kind == net::tls::verdict::need_more) {
          // An alert ended the handshake before a verdict: the peers refused each other,
          // the gateway did not; nothing is counted.
          OMSGW_EVENT(info, info, ctx(), "TLS handshake ended: {}", r.detail);
          return;
        }
        // The verdict the data plane acted on (it closed the tunnel when refused()).
        const auto v = net::decide_tls(*s.snapshot, r);
        if (r.kind == net::tls::verdict::parse_error) {
          record_refusal(*s.svc->metrics, ctx(), v, "TLS parse error: " + r.detail);
        } else if (v.reason == net::deny_reason::client_cert) {
          record_refusal(*s.svc->metrics, ctx(), v,
                         "Invalid client certificate: " +
                             (r.client_subject.empty() ? r.detail : r.client_subject));
        } else {
          record_refusal(*s.svc->metrics, ctx(), v, "TLS rejected: " + r.detail);
        }
      },
      [=](closed_atom, const net::tunnel_stats& stats) {
        auto& s = self->state;
        s.svc->metrics->tunnel_duration.Observe(stats.seconds);
        if (stats.reason == net::close_reason::io_error) s.svc->metrics->errors.Increment();
        OMSGW_EVENT_F(info, info, ctx(),
                      ({{"reason", net::to_string(stats.reason)},
                        {"bytes_up", std::to_string(stats.bytes_to_upstream)},
                        {"bytes_down", std::to_string(stats.bytes_to_client)},
                        {"seconds", fmt::format("{:.3f}", stats.seconds)}}),
                      "tunnel closed{}{}", stats.detail.empty() ? "" : ": ", stats.detail);
        self->quit();
      },
  };
}

}  // namespace omsgw::actors
