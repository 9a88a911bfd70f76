#pragma once
/// \file
/// The configuration-reload actor. Reloads on SIGHUP, POST /reload, `omsgw reload`
/// and file changes (debounced): it loads the whole configuration as start-up does
/// (config/config_file: the YAML and the files it names), then sends a new immutable
/// policy snapshot to the policy store (which hands it to the listener and telemetry)
/// and the relay target to the relay actor, and reports the reload (event 100, the
/// answer) only once both have acknowledged them in force. An invalid file keeps the running
/// configuration, logs event 401 with key and line, and the caller gets the errors.
/// Every request counts once in omsgw_config_reloads_total{result}: success, failure,
/// or unchanged (nothing new to apply; one event 100 line says so). It runs
/// detached: it reads files.

#include <caf/all.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/services.hpp"
#include "config/config_file.hpp"

namespace omsgw::actors {

/// The /reload answer: {"result":"success|failure|unchanged","changed":..,
/// "config_version":N,"config_hash":"..","errors":[..]}.
std::string to_json(const reload_result& r);

struct config_reloader_state {
  std::string path;  ///< "" when running on the embedded defaults
  config::loaded_config current;
  std::uint64_t version = 1;
  policy_store_actor store;
  relay_actor relays;
  net::relay_ptr relay;  ///< the relay target last sent to relays (null: direct)
  services_ptr svc;
  std::uint64_t generation = 0;  ///< file-change debounce
  static inline const char* name = "omsgw.config_reloader";
};

/// Messages: (reload_atom, std::string trigger) -> reload_result;
/// (changed_atom) from the file watcher, debounced into a reload.
/// Every reload also re-reads relay_proxy.password_file (a new password applies even
/// when the YAML file is unchanged) and sends the relay target to relays.
caf::behavior config_reloader(caf::stateful_actor<config_reloader_state>* self, std::string path,
                              config::loaded_config initial, policy_store_actor store,
                              services_ptr svc, relay_actor relays, net::relay_ptr initial_relay);

}  // namespace omsgw::actors
