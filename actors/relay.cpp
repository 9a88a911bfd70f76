#include "actors/relay.hpp"

#include "config/secret_file.hpp"
#include "metrics/events.hpp"

namespace omsgw::actors {

relay_load_result load_relay_target(const config::relay_proxy_config& cfg) {
  relay_load_result r;
  if (cfg.address.empty()) return r;  // direct: username and password_file unused
  auto target = net::parse_relay_address(cfg.address);
  if (!target) {
    r.key = "relay_proxy.address";
    r.error = "'" + cfg.address + "' is not http://HOST:PORT";
    return r;
  }
  std::string password;
  if (auto problem = config::read_relay_password(cfg, password)) {
    r.key = std::move(problem->key);
    r.error = std::move(problem->message);
    return r;
  }
  if (!password.empty()) {
    target->authorization = net::basic_authorization(cfg.username, password);
    config::wipe(password);
  }
  r.target = std::make_shared<const net::relay_target>(std::move(*target));
  return r;
}

bool same_relay(const net::relay_ptr& a, const net::relay_ptr& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
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
  self->state.generations = std::move(generations);
  if (self->state.generations) self->state.generations->relay = self->state.generation;
  return {
      [=](caf::get_atom) { return self->state.current; },
      [=](subscribe_atom, caf::actor who) {
        self->state.subscribers.push_back(who);
        caf::anon_send(who, update_atom::value, self->state.current, self->state.generation);
      },
      [=](update_atom, net::relay_ptr next) {
        auto& current = self->state.current;
        if (same_relay(current, next)) return;
        if (!next) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {} cleared: new tunnels connect directly; established "
                      "tunnels keep their path",
                      relay_display(current));
        } else if (current && current->host == next->host && current->port == next->port) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {}: credentials changed; new tunnels use them",
                      next->display());
        } else {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy set to {} ({}): new tunnels go through it; established "
                      "tunnels keep their path",
                      next->display(),
                      next->authorization.empty() ? "no authentication" : "Basic authentication");
        }
        current = std::move(next);
        auto& st = self->state;
        ++st.generation;
        if (st.generations) st.generations->relay = st.generation;  // before subscribers hear
        for (auto& s : st.subscribers) caf::anon_send(s, update_atom::value, current, st.generation);
      },
  };
}

}  // namespace omsgw::actors
