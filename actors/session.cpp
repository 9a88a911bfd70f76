#include "actors/session.hpp"

#include "metrics/events.hpp"
#include "net/address.hpp"

namespace omsgw::actors {
namespace {

constexpr std::size_t header_limit = 16 * 1024;  // SPEC.md: headers over 16 KiB -> 431

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

net::deny_reason reason_for(net::tls::reject_reason r) {
  switch (r) {
    case net::tls::reject_reason::not_tls: return net::deny_reason::not_tls;
    case net::tls::reject_reason::ssl_version:
    case net::tls::reject_reason::version_too_low: return net::deny_reason::tls_version;
    case net::tls::reject_reason::sni_mismatch: return net::deny_reason::sni_mismatch;
    case net::tls::reject_reason::client_cert:
    case net::tls::reject_reason::cert_unverifiable: return net::deny_reason::client_cert;
    case net::tls::reject_reason::too_large: return net::deny_reason::tls_parse;
    case net::tls::reject_reason::none: break;
  }
  return net::deny_reason::tls_parse;
}

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

bool route_is_current(const route_view& view, const route_generations& in_force) {
  return view.policy && view.relay_generation == in_force.relay.load(std::memory_order_acquire) &&
         view.policy->version == in_force.policy.load(std::memory_order_acquire);
}

caf::behavior session(caf::stateful_actor<session_state>* self,
                      std::shared_ptr<net::connection> conn, policy_store_actor policy,
                      services_ptr svc, route_view admitted) {
  auto& st = self->state;
  st.conn = conn;
  st.policy = std::move(policy);
  st.svc = std::move(svc);
  st.route = std::move(admitted);
  st.snapshot = st.route.policy;
  st.client = endpoint_text(conn->client());
  // Whatever ends this actor (normal end, error, shutdown) closes the connection.
  self->attach_functor([conn](const caf::error&) { conn->close(); });
  conn->set_observer(std::make_shared<observer>(caf::actor_cast<caf::actor>(self),
                                                st.svc->metrics, conn->id(), st.client));
  conn->read_request(header_limit,
                     std::chrono::seconds(st.snapshot->config->limits.header_timeout_s));

  auto ctx = [self] {
    return events::context{self->state.conn->id(), self->state.client, self->state.dest};
  };
  auto refuse = [self](int status, std::string headers = {}) {
    self->state.conn->reply_and_close(status, std::move(headers));
    self->quit();
  };
  // Connects upstream: through the relay in force at this moment, if any, else
  // directly; the connection then answers 200 and relays on its own, under the TLS
  // rules and timeouts of the snapshot the CONNECT was allowed under.
  // current: the admitted relay is still in force (no need to ask).
  auto open_upstream = [self, ctx, refuse](bool current) {
    auto connect = [self](net::relay_ptr relay) {
      auto& s = self->state;
      s.relay = std::move(relay);
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
    if (current) return connect(self->state.route.relay);
    auto relays = find_relay(self->home_system());
    if (!relays) return connect(nullptr);
    self->request(relays, k_actor_request_timeout, caf::get_atom::value)
        .then([=](const net::relay_ptr& relay) { connect(relay); },
              [=](const caf::error& err) {
                self->state.svc->metrics->errors.Increment();
                OMSGW_EVENT(error, application_error, ctx(), "relay lookup failed: {}",
                            caf::to_string(err));
                refuse(503);
              });
  };
  // The policy's verdict on the request (made here or by the policy store).
  auto decide = [self, ctx, refuse, open_upstream](const policy_answer& answer, bool current) {
    auto& s2 = self->state;
    s2.snapshot = answer.policy;
    const auto& v = answer.verdict;
    if (v.reason != net::deny_reason::none) {
      const auto idx = static_cast<std::size_t>(v.reason);
      if (v.enforce) {
        s2.svc->metrics->count_rejection(idx);
        OMSGW_EVENT_F(warn, not_allowed, ctx(), ({{"reason", net::to_string(v.reason)}}),
                      "destination {} not allowed",
                      v.reason == net::deny_reason::port ? "port" : "host");
        refuse(403);
        return;
      }
      s2.svc->metrics->count_would_deny(idx);
      OMSGW_EVENT_F(warn, not_allowed, ctx(),
                    ({{"reason", net::to_string(v.reason)}, {"would_deny", "true"}}),
                    "destination {} not allowed (report mode: let through)",
                    v.reason == net::deny_reason::port ? "port" : "host");
    }
    // SPEC.md's wire table: event 103 goes with an accepted CONNECT; a
    // refused one logs only its 105 (which the flood limiter summarises).
    OMSGW_EVENT(info, connect_received, ctx(), "CONNECT received");
    open_upstream(current);
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
        if (route_is_current(s.route, *s.svc->generations)) {
          // No reload since admission: the admitted snapshot is the one in force.
          decide(policy_answer{net::check_destination(*s.snapshot, s.host, s.port), s.snapshot},
                 true);
          return;
        }
        self->request(s.policy, k_actor_request_timeout, check_atom::value, s.host, s.port)
            .then([=](const policy_answer& answer) { decide(answer, false); },
                  [=](const caf::error& err) {
                    self->state.svc->metrics->errors.Increment();
                    OMSGW_EVENT(error, application_error, ctx(), "policy check failed: {}",
                                caf::to_string(err));
                    refuse(503);
                  });
      },
      [=](failed_atom, const connect_failure_msg& f) {
        auto& s = self->state;
        if (f.why == net::connect_failure::forbidden_address) {
          // A name that resolves to an internal address is a policy refusal (SSRF guard).
          s.svc->metrics->count_rejection(static_cast<std::size_t>(net::deny_reason::host));
          OMSGW_EVENT_F(warn, not_allowed, ctx(), ({{"reason", "host"}}), "{}", f.detail);
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
        const auto reason = r.kind == net::tls::verdict::parse_error ? net::deny_reason::tls_parse
                                                                     : reason_for(r.reason);
        // Malformed input is refused even in mode: report (the connection closed it).
        const bool enforce = !s.snapshot->report_mode || net::tls::is_malformed(r);
        if (enforce) {
          s.svc->metrics->count_rejection(static_cast<std::size_t>(reason));
        } else {
          s.svc->metrics->count_would_deny(static_cast<std::size_t>(reason));
        }
        std::initializer_list<events::field> fields_enforce = {{"reason", net::to_string(reason)}};
        std::initializer_list<events::field> fields_report = {{"reason", net::to_string(reason)},
                                                              {"would_deny", "true"}};
        const auto& fields = enforce ? fields_enforce : fields_report;
        if (r.kind == net::tls::verdict::parse_error) {
          OMSGW_EVENT_F(warn, tls_parse_error, ctx(), (fields), "TLS parse error: {}", r.detail);
        } else if (reason == net::deny_reason::client_cert) {
          OMSGW_EVENT_F(warn, not_allowed, ctx(), (fields), "Invalid client certificate: {}",
                        r.client_subject.empty() ? r.detail : r.client_subject);
        } else {
          OMSGW_EVENT_F(warn, tls_rejected, ctx(), (fields), "TLS rejected: {}", r.detail);
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
