#pragma once
/// \file
/// The configuration-reload actor. Reloads on SIGHUP, POST /reload, `omsgw reload`
/// and file changes (debounced): it validates the whole file first, then sends a new
/// immutable policy snapshot to the policy store (which hands it to the listener and
/// telemetry). An invalid file keeps the running configuration, logs event 401 with
/// key and line, and the caller gets the errors. It runs detached: it reads files.

#include <caf/all.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/services.hpp"

namespace omsgw::actors {

/// A configuration read from disk (or the embedded defaults).
struct loaded_config {
  std::shared_ptr<const config::gateway_config> config;
  std::string hash;    ///< first 12 hex digits of the file's SHA-256
  std::string source;  ///< path, or "embedded defaults"
};

/// Reads and validates path (empty = embedded defaults). On failure returns the
/// formatted errors ("FILE:LINE:COL: KEY: MESSAGE") in errors and nullopt.
std::optional<loaded_config> load_config(const std::string& path, std::vector<std::string>& errors,
                                         std::vector<std::string>* keys = nullptr);

std::string to_json(const reload_result& r);


struct config_reloader_state {
  std::string path;
  loaded_config current;
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
                              loaded_config initial, policy_store_actor store, services_ptr svc,
                              relay_actor relays, net::relay_ptr initial_relay);

}  // namespace omsgw::actors
