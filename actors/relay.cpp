#include "actors/relay.hpp"

#include <openssl/ssl.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include "config/relay_files.hpp"
#include "config/secret_file.hpp"
#include "metrics/events.hpp"
#include "net/relay_health.hpp"

namespace omsgw::actors {
namespace asio_ssl = boost::asio::ssl;

namespace {

/// The verifying TLS context of https:// relays: ca_file (PEM) or the system store.
/// Returns "" or why the CA file is unusable; trust gets ca_file and a digest of it.
std::string make_tls_context(const std::string& ca_file, std::shared_ptr<asio_ssl::context>& ctx,
                             std::string& trust) {
  ctx = std::make_shared<asio_ssl::context>(asio_ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (ca_file.empty()) {
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);
    trust = "system";
    return ec ? "cannot load the system CA store: " + ec.message() : std::string();
  }
  std::string content;
  if (auto why = config::ca_file_problem(ca_file, content,
                                         SSL_CTX_get_cert_store(ctx->native_handle()));
      !why.empty()) {
    return why.str();
  }
  trust = ca_file + "#" + std::to_string(std::hash<std::string>{}(content));
  return {};
}

/// One relay of the chain (address or a fallback) with the shared credentials.
relay_load_result load_one(const config::relay_proxy_config& cfg, const std::string& address,
                           const std::string& key, const std::string& password) {
  relay_load_result r;
  auto target = net::parse_relay_address(address);
  if (!target) {
    r.key = key;
    r.error = "'" + address + "' is not http(s)://HOST:PORT";
    return r;
  }
  target->auth = cfg.auth;
  target->username = cfg.username;
  target->password = password;
  target->kerberos = !cfg.keytab.empty() || cfg.auth == config::relay_auth::negotiate;
  if (!cfg.username.empty() && !password.empty()) {
    target->authorization = net::basic_authorization(cfg.username, password);
  }
  if (target->tls) {
    if (auto why = make_tls_context(cfg.ca_file, target->tls_context, target->tls_trust);
        !why.empty()) {
      r.key = "relay_proxy.ca_file";
      r.error = std::move(why);
      return r;
    }
  }
  r.target = std::make_shared<const net::relay_target>(std::move(*target));
  return r;
}

/// An environment variable as the process started with it.
struct start_value {
  explicit start_value(const char* name) : name(name) {
    if (const char* v = std::getenv(name)) value = v;
  }
  void restore() const {
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  const char* name;
  std::optional<std::string> value;
};

/// Negotiate from a client keytab: MIT Kerberos acquires (and renews before expiry)
/// the initiator's tickets from KRB5_CLIENT_KTNAME into an in-memory cache, so no
/// ticket reaches the disk. Each keytab in force gets a cache of its own, so tickets of
/// a keytab rotated or removed at reload are never used again; with none, the service's
/// own credential cache and keytab settings (as the process started) apply again.
/// Process-wide, so called by the relay actor only, when it puts a relay in force.
void use_kerberos_credentials(const net::relay_ptr& relay) {
  static const start_value ktname("KRB5_CLIENT_KTNAME");
  static const start_value ccname("KRB5CCNAME");
  static std::string in_force;
  static unsigned caches = 0;
  const std::string id = relay ? relay->keytab_id : std::string();
  if (id == in_force) return;
  in_force = id;
  if (id.empty()) {
    ktname.restore();
    ccname.restore();
    return;
  }
  ::setenv("KRB5_CLIENT_KTNAME", id.substr(0, id.rfind('#')).c_str(), 1);
  ::setenv("KRB5CCNAME", ("MEMORY:omsgw-relay-" + std::to_string(++caches)).c_str(), 1);
}

}  // namespace

relay_load_result load_relay_target(const config::relay_proxy_config& cfg) {
  relay_load_result r;
  auto fail = [&r](std::string key, std::string error) {
    r.key = std::move(key);
    r.error = std::move(error);
    return r;
  };
  if (cfg.address.empty()) return r;  // direct: the other keys are unused
  std::string keytab_id;
  if (auto problem = config::check_relay_keytab(cfg, &keytab_id)) {
    return fail(std::move(problem->key), std::move(problem->message));
  }
  std::string password;
  if (auto problem = config::read_relay_password(cfg, password)) {
    return fail(std::move(problem->key), std::move(problem->message));
  }
  // The chain is built from its end: each relay holds the next one to try.
  std::vector<std::pair<std::string, std::string>> chain = {{cfg.address, "relay_proxy.address"}};
  for (std::size_t i = 0; i < cfg.fallback.size(); ++i) {
    chain.emplace_back(cfg.fallback[i], "relay_proxy.fallback[" + std::to_string(i) + "]");
  }
  net::relay_ptr next;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto one = load_one(cfg, it->first, it->second, password);
    if (!one.ok()) {
      config::wipe(password);
      return one;
    }
    auto t = std::make_shared<net::relay_target>(*one.target);
    t->keytab_id = keytab_id;
    t->fallback = next;
    if (std::next(it) == chain.rend()) t->bypass = cfg.bypass;
    next = std::move(t);
  }
  config::wipe(password);
  r.target = std::move(next);
  return r;
}

bool same_relay(const net::relay_ptr& a, const net::relay_ptr& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
}

void relays_configured(metrics::gateway_metrics& m, const net::relay_ptr& head) {
  const auto& health = net::relay_health::instance();
  const auto now = net::relay_health::clock::now();
  std::map<std::string, bool> up;
  for (auto r = head; r; r = r->fallback)
    up.emplace(r->display(), !health.skipped(r->display(), now));
  m.configure_relays(up);
}

std::string relay_display(const net::relay_ptr& r) { return r ? r->display() : "direct"; }

void register_relay(caf::actor_system& sys, const relay_actor& r) {
  sys.registry().put(relay_atom::value, r);
}

relay_actor find_relay(caf::actor_system& sys) {
  return sys.registry().get<relay_actor>(relay_atom::value);
}

void unregister_relay(caf::actor_system& sys) { sys.registry().erase(relay_atom::value); }

relay_actor::behavior_type relay(relay_actor::stateful_pointer<relay_state> self,
                                 net::relay_ptr initial,
                                 std::shared_ptr<route_generations> generations) {
  self->state.current = std::move(initial);
  use_kerberos_credentials(self->state.current);
  self->state.generations = std::move(generations);
  if (self->state.generations) {
    self->state.generations->publish_relay(self->state.current, self->state.generation);
  }
  return {
      [=](caf::get_atom) { return self->state.current; },
      [=](subscribe_atom, caf::actor who) {
        self->state.subscribers.push_back(who);
        caf::anon_send(who, update_atom::value, self->state.current, self->state.generation);
      },
      [=](update_atom, net::relay_ptr next) {
        auto& current = self->state.current;
        if (same_relay(current, next)) return self->state.generation;
        if (!next) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {} cleared: new tunnels connect directly; established "
                      "tunnels keep their path",
                      relay_display(current));
        } else if (current && current->host == next->host && current->port == next->port) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {}: credentials changed; new tunnels use them", next->display());
        } else {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy set to {} ({}): new tunnels go through it; established "
                      "tunnels keep their path",
                      next->display(),
                      next->scheme_name() == "none" ? "no authentication"
                                                    : "authentication " + next->scheme_name());
        }
        current = std::move(next);
        use_kerberos_credentials(current);
        auto& st = self->state;
        ++st.generation;
        if (st.generations) st.generations->publish_relay(current, st.generation);  // first
        for (auto& s : st.subscribers)
          caf::anon_send(s, update_atom::value, current, st.generation);
        return st.generation;
      },
  };
}

}  // namespace omsgw::actors
