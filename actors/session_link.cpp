#include "actors/session_link.hpp"

#include <boost/asio/steady_timer.hpp>

#include "actors/messages.hpp"
#include "actors/refusal.hpp"
#include "actors/thread_unit.hpp"
#include "metrics/events.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"

namespace omsgw::actors {

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

std::string endpoint_text(const net::tcp::endpoint& ep) {
  return net::display_endpoint(ep.address(), ep.port());
}

/// How long an I/O thread gathers session ends before it runs their sessions: long
/// enough that a busy thread runs many per pass, short enough that a session's end is
/// seen at once by a person. Nothing on a tunnel's path waits for it, and the ends are
/// told from a timer's handler, never from inside the connection that ended.
constexpr auto k_end_batch_window = std::chrono::milliseconds(2);

/// The ends told on this I/O thread since its last flush. Every context of the I/O
/// pool has exactly one thread, so the flush timer, created on the context of the
/// first end told here, fires on this thread.
struct pending_ends {
  std::vector<std::pair<caf::actor, session_end>> ends;
  std::unique_ptr<boost::asio::steady_timer> timer;
};
thread_local pending_ends t_pending;

/// Each session is told how its connection ended and runs here, on the connection's
/// thread (actors/thread_unit): no actor thread wakes, and the connection is freed on
/// the thread that allocated it.
void flush_ends() {
  auto& p = t_pending;
  auto& unit = thread_unit::here();
  for (auto& [session, end] : p.ends) unit.tell(session, closed_atom::value, std::move(end));
  p.ends.clear();  // keeps its capacity: the next batch is likely as large
  unit.run();
}

void tell_end(boost::asio::io_context& io, caf::actor session, session_end end) {
  auto& p = t_pending;
  if (p.ends.empty()) {
    if (!p.timer) p.timer = std::make_unique<boost::asio::steady_timer>(io);
    p.timer->expires_after(k_end_batch_window);
    p.timer->async_wait([](const boost::system::error_code&) { flush_ends(); });
  }
  p.ends.emplace_back(std::move(session), std::move(end));
}

class session_link final : public net::connection_observer {
 public:
  explicit session_link(session_link_args a)
      : session_(std::move(a.session)),
        io_(a.io),
        svc_(std::move(a.svc)),
        route_(std::move(a.admitted)),
        id_(a.id),
        client_(std::move(a.client)),
        release_(std::move(a.release)) {}

  net::next_step on_request(const net::request_outcome& out, bool timed_out) override;
  net::next_step on_connect_failed(net::connect_failure why, const std::string& detail) override;
  void on_established(const net::established_info& info) override;
  void on_relay_attempt(const net::relay_attempt& a) override;
  void on_inspected(const net::tls::inspection_result& r) override;
  void on_bytes(std::uint64_t up, std::uint64_t down) override {
    if (up) svc_->metrics->bytes_to_upstream.Increment(static_cast<double>(up));
    if (down) svc_->metrics->bytes_to_client.Increment(static_cast<double>(down));
  }
  void on_closed(const net::tunnel_stats& stats) override {
    svc_->metrics->tunnel_duration.Observe(stats.seconds);
    if (stats.reason == net::close_reason::io_error) svc_->metrics->errors.Increment();
    release_();
    // Logged here, not by the session: a tunnel cut at shutdown ends after its session
    // has stopped, and must still say so.
    OMSGW_EVENT_F(info, info, ctx(),
                  ({{"reason", net::to_string(stats.reason)},
                    {"bytes_up", std::to_string(stats.bytes_to_upstream)},
                    {"bytes_down", std::to_string(stats.bytes_to_client)},
                    {"seconds", fmt::format("{:.3f}", stats.seconds)}}),
                  "tunnel closed{}{}", stats.detail.empty() ? "" : ": ", stats.detail);
    tell_end(*io_, session_, session_end{});
  }
  void on_finished() override {
    release_();
    tell_end(*io_, session_, session_end{});
  }

 private:
  events::context ctx() const { return events::context{id_, client_, dest_}; }
  net::next_step decide();
  net::next_step connect_step() const;

  caf::actor session_;
  boost::asio::io_context* io_;
  services_ptr svc_;
  route_view route_;  ///< as admitted, refreshed at the CONNECT
  std::uint64_t id_;
  std::string client_;  ///< "addr:port" for log lines
  std::string dest_;    ///< "host:port" once known
  std::string host_;
  std::uint16_t port_ = 0;
  admission_release release_;
};

/// The request header's terminal state: a CONNECT goes on to decide(), anything else
/// gets its answer (SPEC.md's wire table) or, when the client left, nothing.
net::next_step session_link::on_request(const net::request_outcome& out, bool timed_out) {
  switch (out.status) {
    case net::request_status::need_more:
      if (timed_out) {
        OMSGW_EVENT(warn, not_connect, ctx(), "request header not received in time: {}",
                    out.detail);
        return net::next_step::reply_with(408);
      }
      OMSGW_EVENT(debug, info, ctx(), "{}", out.detail);
      return net::next_step::closing();
    case net::request_status::not_connect:
      OMSGW_EVENT(warn, not_connect, ctx(), "method {} is not allowed, only CONNECT", out.method);
      return net::next_step::reply_with(405, "Allow: CONNECT\r\n");
    case net::request_status::bad_request:
    case net::request_status::header_too_large:
      OMSGW_EVENT(warn, not_connect, ctx(), "malformed request: {}", out.detail);
      return net::next_step::reply_with(net::http_status_for(out.status));
    case net::request_status::connect:
      break;
  }
  host_ = out.host;
  port_ = out.port;
  dest_ = net::authority_text(out.host, out.port);
  svc_->metrics->connect_requests.Increment();
  return decide();
}

/// The CONNECT under the route in force (the admitted one while no reload came).
net::next_step session_link::decide() {
  route_ = current_route(std::move(route_), *svc_->generations);
  const auto v = net::decide_destination(*route_.policy, host_, port_);
  if (v.reason != net::deny_reason::none) {
    record_refusal(*svc_->metrics, ctx(), v,
                   fmt::format("destination {} not allowed",
                               v.reason == net::deny_reason::port ? "port" : "host"));
    if (v.refused()) return net::next_step::reply_with(403);
  }
  // SPEC.md's wire table: event 103 goes with an accepted CONNECT; a
  // refused one logs only its 105 (which the flood limiter summarises).
  OMSGW_EVENT(info, connect_received, ctx(), "CONNECT received");
  return connect_step();
}

/// Connects upstream through the route's relay, if any, else directly; the connection
/// then answers 200 and relays on its own, under the TLS rules and timeouts of the
/// snapshot the CONNECT was allowed under.
net::next_step session_link::connect_step() const {
  const auto& cfg = *route_.policy->config;
  net::next_step step;
  step.what = net::next_step::kind::connect;
  step.host = host_;
  step.port = port_;
  step.policy = route_.policy;
  step.relay = route_.relay;
  step.timeout = std::chrono::seconds(cfg.limits.connect_timeout_s);
  step.tunnel.idle_timeout = std::chrono::seconds(cfg.limits.idle_timeout_s);
  step.tunnel.handshake_timeout = std::chrono::seconds(cfg.limits.handshake_timeout_s);
  step.tunnel.enforce = !route_.policy->report_mode;
  if (cfg.tls.inspect) {
    step.tunnel.inspect = make_inspection_policy(cfg, host_);
    step.tunnel.inspect->budget = {
        &net::tls::process_budget(),
        net::tls::budget_for(net::effective_capacity(*route_.policy, svc_->capacity))};
  }
  return step;
}

net::next_step session_link::on_connect_failed(net::connect_failure why,
                                               const std::string& detail) {
  if (why == net::connect_failure::forbidden_address) {
    // A name that resolves to an internal address is a policy refusal (SSRF guard).
    record_refusal(*svc_->metrics, ctx(), net::decide_address(*route_.policy), detail);
    return net::next_step::reply_with(403);
  }
  if (why == net::connect_failure::out_of_descriptors) {
    record_refusal(*svc_->metrics, ctx(), net::decide_out_of_descriptors(), detail);
    return net::next_step::reply_with(503);
  }
  svc_->metrics->errors.Increment();
  OMSGW_EVENT_F(warn, network_error, ctx(), ({{"reason", net::to_string(why)}}), "{}", detail);
  return net::next_step::reply_with(why == net::connect_failure::timeout ? 504 : 502);
}

/// Every attempt is counted. A failed one that a fallback relay follows is event 403
/// too: the tunnel may still work, but the operator must see the relay failing. (The
/// last failure is the tunnel's, logged once by on_connect_failed; a skipped relay is
/// not attempted, so it logs nothing.)
void session_link::on_relay_attempt(const net::relay_attempt& a) {
  const std::string relay = a.relay->display();
  svc_->metrics->count_relay_attempt(relay, net::to_string(a.outcome), a.skipped);
  if (!a.next) return;
  OMSGW_EVENT_F(warn, network_error, ctx(), ({{"reason", net::to_string(a.why)}, {"relay", relay}}),
                "{}; trying relay {}", a.detail, a.next->display());
}

void session_link::on_established(const net::established_info& info) {
  svc_->metrics->connect_duration.Observe(info.seconds);
  if (!events::enabled(events::level::debug)) return;
  if (info.relay) {
    OMSGW_EVENT(debug, info, ctx(), "tunnel established through relay {} ({})",
                info.relay->display(), endpoint_text(info.upstream));
  } else {
    OMSGW_EVENT(debug, info, ctx(), "tunnel established to {}", endpoint_text(info.upstream));
  }
}

/// Logs and counts the inspector's verdict; the data plane has already acted on it
/// (closed the tunnel when the verdict is refused()).
void session_link::on_inspected(const net::tls::inspection_result& r) {
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
  const auto v = net::decide_tls(*route_.policy, r);
  if (r.kind == net::tls::verdict::parse_error) {
    record_refusal(*svc_->metrics, ctx(), v, "TLS parse error: " + r.detail);
  } else if (v.reason == net::deny_reason::client_cert) {
    record_refusal(
        *svc_->metrics, ctx(), v,
        "Invalid client certificate: " + (r.client_subject.empty() ? r.detail : r.client_subject));
  } else if (v.reason == net::deny_reason::limit) {
    record_refusal(*svc_->metrics, ctx(), v, "TLS inspection over its memory budget: " + r.detail);
  } else {
    record_refusal(*svc_->metrics, ctx(), v, "TLS rejected: " + r.detail);
  }
}

}  // namespace

std::shared_ptr<net::connection_observer> make_session_link(session_link_args args) {
  return std::make_shared<session_link>(std::move(args));
}

}  // namespace omsgw::actors
