#include "actors/config_reloader.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "config/loader.hpp"
#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

constexpr auto debounce_delay = std::chrono::milliseconds(300);

std::string sha256_prefix(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < 6 && i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}


}  // namespace

std::optional<loaded_config> load_config(const std::string& path, std::vector<std::string>& errors,
                                         std::vector<std::string>* keys) {
  loaded_config l;
  if (path.empty()) {
    l.config = std::make_shared<const config::gateway_config>();
    l.hash = sha256_prefix("");
    l.source = "embedded defaults";
    return l;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(path + ": cannot read: " + std::strerror(errno));
    if (keys) keys->push_back("");
    return std::nullopt;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto result = config::parse_config(text);
  if (!result.ok()) {
    for (const auto& e : result.errors) {
      errors.push_back(config::format_error(path, e));
      if (keys) keys->push_back(e.key);
    }
    return std::nullopt;
  }
  l.config = std::make_shared<const config::gateway_config>(std::move(*result.config));
  l.hash = sha256_prefix(text);
  l.source = path;
  return l;
}

std::string to_json(const reload_result& r) {
  std::string out = fmt::format(
      "{{\"result\":\"{}\",\"changed\":{},\"config_version\":{},\"config_hash\":\"{}\",\"errors\":"
      "[",
      r.ok ? "success" : "failure", r.changed ? "true" : "false", r.version, r.hash);
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    if (i) out += ',';
    out += events::json_quote(r.errors[i]);
  }
  return out + "]}";
}

static reload_result apply_reload(caf::stateful_actor<config_reloader_state>* self,
                           const std::string& trigger) {
  auto& s = self->state;
  reload_result r;
  r.version = s.version;
  r.hash = s.current.hash;
  if (s.path.empty()) {
    r.ok = true;
    OMSGW_EVENT(info, info, events::context{},
                "reload ({}): running on embedded defaults, no file to read", trigger);
    return r;
  }
  std::vector<std::string> keys;
  auto next = load_config(s.path, r.errors, &keys);
  if (!next) {
    s.svc->metrics->reloads_failure.Increment();
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
      OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", keys[i]}}), "{}",
                    r.errors[i]);
    }
    OMSGW_EVENT(error, wrong_configuration, events::context{},
                "reload ({}) refused: {} is invalid; the running configuration (version {}) stays",
                trigger, s.path, s.version);
    return r;
  }
  // The relay's password lives in its own file: read it with the rest, and refuse
  // the whole reload when it is unusable (the running relay stays).
  const auto relay_next = load_relay_target(next->config->relay_proxy);
  if (!relay_next.ok()) {
    s.svc->metrics->reloads_failure.Increment();
    r.errors.push_back(s.path + ": " + relay_next.key + ": " + relay_next.error);
    OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", relay_next.key}}),
                  "{}", r.errors.back());
    OMSGW_EVENT(error, wrong_configuration, events::context{},
                "reload ({}) refused: {} is invalid; the running configuration (version {}) stays",
                trigger, s.path, s.version);
    return r;
  }
  r.ok = true;
  if (!same_relay(relay_next.target, s.relay)) {
    s.relay = relay_next.target;
    self->send(s.relays, update_atom::value, s.relay);
    relays_configured(*s.svc->metrics, s.relay);
    if (next->hash == s.current.hash) {  // only the password file changed
      s.svc->metrics->reloads_success.Increment();
      r.changed = true;
      return r;
    }
  }
  if (next->hash == s.current.hash) return r;  // same bytes: nothing to apply
  const auto& old_cfg = *s.current.config;
  const auto& n = *next->config;
  if (n.listen.address != old_cfg.listen.address || n.listen.port != old_cfg.listen.port ||
      n.admin.address != old_cfg.admin.address || n.admin.port != old_cfg.admin.port) {
    OMSGW_EVENT(warn, info, events::context{},
                "listen/admin settings changed: they take effect at the next restart");
  }
  events::init(n.log.format, n.log.level);
  ++s.version;
  s.current = std::move(*next);
  self->send(s.store, update_atom::value,
             net::make_policy(s.current.config, s.version, s.current.hash));
  s.svc->metrics->reloads_success.Increment();
  r.changed = true;
  r.version = s.version;
  r.hash = s.current.hash;
  OMSGW_EVENT(info, info, events::context{},
              "configuration reloaded ({}) from {}: version {}, hash {}", trigger, s.current.source,
              s.version, s.current.hash);
  return r;
}

caf::behavior config_reloader(caf::stateful_actor<config_reloader_state>* self, std::string path,
                              loaded_config initial, policy_store_actor store, services_ptr svc,
                              relay_actor relays, net::relay_ptr initial_relay) {
  auto& st = self->state;
  st.path = std::move(path);
  st.current = std::move(initial);
  st.store = std::move(store);
  st.svc = std::move(svc);
  st.relays = std::move(relays);
  st.relay = std::move(initial_relay);
  return {
      [=](reload_atom, const std::string& trigger) { return apply_reload(self, trigger); },
      [=](changed_atom) {
        OMSGW_EVENT(debug, info, events::context{}, "{} changed on disk", self->state.path);
        self->delayed_send(self, debounce_delay, debounce_atom::value, ++self->state.generation);
      },
      [=](debounce_atom, std::uint64_t generation) {
        if (generation != self->state.generation) return;  // a later change is pending
        apply_reload(self, "file change");
      },
  };
}

}  // namespace omsgw::actors
