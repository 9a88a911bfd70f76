#include "actors/config_reloader.hpp"

#include "config/loader.hpp"
#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

/// File events closer together than this are one change (editors write in bursts).
constexpr auto debounce_delay = std::chrono::milliseconds(300);

using reloader = caf::stateful_actor<config_reloader_state>;

const char* result_name(const reload_result& r) {
  if (!r.ok) return "failure";
  return r.changed ? "success" : "unchanged";
}

/// Refuses a reload: counts it, logs every error (event 401) and that the running
/// configuration stays.
reload_result refuse(reloader* self, const std::string& trigger, reload_result r,
                     const std::vector<config::config_error>& errors) {
  auto& s = self->state;
  s.svc->metrics->reloads_failure.Increment();
  for (const auto& e : errors) {
    r.errors.push_back(config::format_error(s.path, e));
    OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", e.key}}), "{}",
                  r.errors.back());
  }
  OMSGW_EVENT(error, wrong_configuration, events::context{},
              "reload ({}) refused: {} is invalid; the running configuration (version {}) stays",
              trigger, s.path, s.version);
  return r;
}

/// Nothing new to apply: counted and logged once, so every request is visible.
reload_result unchanged(reloader* self, const std::string& trigger, reload_result r) {
  auto& s = self->state;
  s.svc->metrics->reloads_unchanged.Increment();
  r.ok = true;
  OMSGW_EVENT(info, info, events::context{},
              "reload ({}): {} unchanged (hash {}); configuration version {} stays", trigger,
              s.current.source, s.current.hash, s.version);
  return r;
}

/// How a reload's result reaches whoever asked (the /reload answer); a file change
/// passes one that drops it.
using answer_fn = std::function<void(reload_result)>;

/// A reload whose snapshot and relay target were sent: event 100, the success count
/// and the answer wait until the policy store and the relay actor have acknowledged
/// them in force, so whoever reads "reloaded" finds the new policy deciding the next
/// CONNECT. Shared by the acknowledgement handlers; the last one finishes.
struct pending_reload {
  reload_result result;
  std::string trigger;
  std::string source;
  bool file_changed = false;
  int waiting = 0;
  std::vector<std::string> failures;  ///< an actor that did not acknowledge (stopping)
  answer_fn answer;
};

void finish(reloader* self, pending_reload& p) {
  auto& s = self->state;
  auto& r = p.result;
  if (!p.failures.empty()) {
    s.svc->metrics->reloads_failure.Increment();
    for (auto& f : p.failures) {
      OMSGW_EVENT(error, application_error, events::context{}, "reload ({}): {}", p.trigger, f);
      r.errors.push_back(std::move(f));
    }
    r.ok = false;
  } else {
    s.svc->metrics->reloads_success.Increment();
    OMSGW_EVENT(info, info, events::context{},
                "configuration reloaded ({}) from {}: version {}, hash {}{}", p.trigger, p.source,
                r.version, r.hash, p.file_changed ? "" : " (credential files only)");
  }
  p.answer(std::move(r));
}

/// Sends an update to store or relays; p finishes when the last one acknowledged.
template <class Handle, class Value>
void put_in_force(reloader* self, const Handle& dest, Value value, const char* who,
                  std::shared_ptr<pending_reload> p) {
  ++p->waiting;
  self->request(dest, k_actor_request_timeout, update_atom::value, std::move(value))
      .then(
          [=](std::uint64_t) {
            if (--p->waiting == 0) finish(self, *p);
          },
          [=](const caf::error& e) {
            p->failures.push_back(std::string(who) + " did not confirm the update (" +
                                  caf::to_string(e) + ")");
            if (--p->waiting == 0) finish(self, *p);
          });
}

/// Puts a new configuration in force (the relay target was sent already).
void apply_config(reloader* self, config::loaded_config next, std::shared_ptr<pending_reload> p) {
  auto& s = self->state;
  const auto& old_cfg = *s.current.config;
  const auto& n = *next.config;
  if (n.listen.address != old_cfg.listen.address || n.listen.port != old_cfg.listen.port ||
      n.admin.address != old_cfg.admin.address || n.admin.port != old_cfg.admin.port) {
    OMSGW_EVENT(warn, info, events::context{},
                "listen/admin address or port changed: they take effect at the next restart");
  }
  events::init(n.log.format, n.log.level);
  ++s.version;
  s.current = std::move(next);
  put_in_force(self, s.store, net::make_policy(s.current.config, s.version, s.current.hash),
               "the policy store", std::move(p));
}

void apply_reload(reloader* self, const std::string& trigger, answer_fn answer) {
  auto& s = self->state;
  reload_result r;
  r.version = s.version;
  r.hash = s.current.hash;
  if (s.path.empty()) return answer(unchanged(self, trigger, r));  // embedded defaults: no file
  auto next = config::load_source({s.path, false});
  if (!next.ok()) return answer(refuse(self, trigger, r, next.errors));
  // The relay's password lives in its own file: a new password applies even when the
  // YAML is unchanged. An unusable file refuses the whole reload (the relay stays).
  const auto relay_next = load_relay_target(next.loaded->config->relay_proxy);
  if (!relay_next.ok())
    return answer(refuse(self, trigger, r, {{relay_next.key, 0, 0, relay_next.error, {}}}));
  const bool relay_changed = !same_relay(relay_next.target, s.relay);
  const bool file_changed = next.loaded->hash != s.current.hash;
  const bool token_changed = next.loaded->admin_token != s.current.admin_token;
  if (!relay_changed && !file_changed && !token_changed) return answer(unchanged(self, trigger, r));
  if (token_changed) {
    s.svc->admin_token->set(next.loaded->admin_token);
    s.current.admin_token = next.loaded->admin_token;
  }
  auto p = std::make_shared<pending_reload>();
  p->trigger = trigger;
  p->file_changed = file_changed;
  p->answer = std::move(answer);
  p->waiting = 1;  // held until every update is sent, so none finishes it early
  if (relay_changed) {
    s.relay = relay_next.target;
    put_in_force(self, s.relays, s.relay, "the relay actor", p);
    relays_configured(*s.svc->metrics, s.relay);
  }
  if (file_changed) apply_config(self, std::move(*next.loaded), p);
  p->source = s.current.source;
  p->result.ok = true;
  p->result.changed = true;
  p->result.version = s.version;
  p->result.hash = s.current.hash;
  if (--p->waiting == 0) finish(self, *p);  // only the admin token changed
}

}  // namespace

std::string to_json(const reload_result& r) {
  std::string out = fmt::format(
      "{{\"result\":\"{}\",\"changed\":{},\"config_version\":{},\"config_hash\":{},\"errors\":[",
      result_name(r), r.changed ? "true" : "false", r.version, events::json_quote(r.hash));
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    if (i) out += ',';
    out += events::json_quote(r.errors[i]);
  }
  return out + "]}";
}

caf::behavior config_reloader(caf::stateful_actor<config_reloader_state>* self, std::string path,
                              config::loaded_config initial, policy_store_actor store,
                              services_ptr svc, relay_actor relays, net::relay_ptr initial_relay) {
  auto& st = self->state;
  st.path = std::move(path);
  st.current = std::move(initial);
  st.store = std::move(store);
  st.svc = std::move(svc);
  st.relays = std::move(relays);
  st.relay = std::move(initial_relay);
  return {
      [=](reload_atom, const std::string& trigger) {
        // The answer is delivered through the copy the callback holds (the one place
        // that delivers); the promise returned only tells CAF the answer comes later.
        auto rp = self->make_response_promise<reload_result>();
        apply_reload(self, trigger, [rp](reload_result r) mutable { rp.deliver(std::move(r)); });
        return rp;
      },
      [=](changed_atom) {
        OMSGW_EVENT(debug, info, events::context{}, "{} changed on disk", self->state.path);
        self->delayed_send(self, debounce_delay, debounce_atom::value, ++self->state.generation);
      },
      [=](debounce_atom, std::uint64_t generation) {
        if (generation != self->state.generation) return;  // a later change is pending
        apply_reload(self, "file change", [](const reload_result&) {});
      },
  };
}

}  // namespace omsgw::actors
