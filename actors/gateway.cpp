#include "actors/gateway.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/all.hpp>
#include <csignal>
#include <fstream>
#include <atomic>
#include <future>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include "actors/config_reloader.hpp"
#include "actors/listener.hpp"
#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/telemetry.hpp"
#include "config/file_watcher.hpp"
#include "config/loader.hpp"
#include "metrics/admin_server.hpp"
#include "metrics/events.hpp"
#include "net/acceptor.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"
#include "net/io_pool.hpp"

namespace omsgw::actors {
namespace {

namespace asio = boost::asio;

bool file_exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

/// Raises the soft open-files limit to the hard one and derives the tunnel capacity:
/// two descriptors per tunnel, minus a reserve for listeners, logs, the admin port and
/// the splice pipes each I/O thread keeps pooled (net/tunnel.cpp: 16 pipes of 2 fds).
std::uint64_t raise_nofile_and_capacity() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::getrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  const std::uint64_t nofile = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : rl.rlim_cur;
  const std::uint64_t reserve = 64 + 2 * 16 * std::max(1u, std::thread::hardware_concurrency());
  return nofile > reserve + 2 ? (nofile - reserve) / 2 : 1;
}

std::string endpoint_text(const net::tcp::endpoint& ep) {
  return net::display_endpoint(ep.address(), ep.port());
}

}  // namespace

int run_gateway(const run_options& options) {
  events::init(config::log_format::text, "info");
  std::string path = options.config_path;
  if (path.empty() && file_exists(config::default_config_path())) {
    path = config::default_config_path();
  }
  if (options.config_explicit && !file_exists(path)) {
    OMSGW_EVENT(error, wrong_configuration, events::context{}, "{}: no such file", path);
    events::flush();
    return 1;
  }
  std::vector<std::string> errors;
  std::vector<std::string> keys;
  auto initial = load_config(path, errors, &keys);
  if (!initial) {
    for (std::size_t i = 0; i < errors.size(); ++i) {
      OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", keys[i]}}), "{}",
                    errors[i]);
    }
    OMSGW_EVENT(error, wrong_configuration, events::context{},
                "configuration {} is invalid: not started", path);
    events::flush();
    return 1;
  }
  // The relay's password file is part of the configuration: unusable (unreadable,
  // or readable by group/others) means not started, like any other error.
  auto initial_relay = load_relay_target(initial->config->relay_proxy);
  if (!initial_relay.ok()) {
    OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", initial_relay.key}}),
                  "{}: {}: {}", initial->source, initial_relay.key, initial_relay.error);
    OMSGW_EVENT(error, wrong_configuration, events::context{},
                "configuration {} is invalid: not started", path);
    events::flush();
    return 1;
  }
  const auto& cfg = *initial->config;
  events::init(cfg.log.format, cfg.log.level);

  auto svc = std::make_shared<services>();
  svc->version = OMSGW_VERSION;
  svc->metrics = std::make_shared<metrics::gateway_metrics>(svc->version);
  // The derived capacity; limits.max_connections, when set, overrides it at every
  // admission (net::effective_capacity), so a reload changes it.
  svc->capacity = raise_nofile_and_capacity();

  std::uint64_t policy_version = 1;
  auto policy = net::make_policy(initial->config, policy_version, initial->hash);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned io_threads = options.threads ? options.threads : cores;
  // Actor work is light (a few messages per connection); the bytes move on the I/O
  // threads. Never more busy threads than cores by default.
  const unsigned actor_threads = std::max(1u, io_threads / 2);

  auto io = std::make_unique<net::io_pool>(io_threads);

  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", static_cast<size_t>(actor_threads));
  // Work sharing: idle workers block on a condition variable instead of polling
  // (CAF 0.17's default work stealing polls with 50 us sleeps). With one or two workers
  // stealing gains nothing; CPU per tunnel set-up measured the same either way
  // (~135-145 us, loadgen rate mode on a loaded 2-core VM).
  caf_cfg.set("scheduler.policy", caf::atom("sharing"));
  auto sys = std::make_unique<caf::actor_system>(caf_cfg);

  // The accept callback needs the listener, which needs the acceptor: break the knot
  // with a slot filled before accepting starts.
  auto listener_slot = std::make_shared<caf::actor>();
  std::shared_ptr<net::acceptor> acc;
  try {
    const auto addr = asio::ip::make_address(cfg.listen.address);
    acc = std::make_shared<net::acceptor>(
        io->primary(), net::tcp::endpoint(addr, cfg.listen.port),
        [listener_slot](std::shared_ptr<net::connection> c) {
          caf::anon_send(*listener_slot, accepted_atom::value, std::move(c));
        },
        [svc](const boost::system::error_code& ec, bool paused) {
          svc->metrics->errors.Increment();
          OMSGW_EVENT(error, application_error, events::context{}, "accept failed: {}{}",
                      ec.message(), paused ? " (pausing accept)" : "");
        },
        std::chrono::milliseconds(100),
        [pool = io.get()]() -> asio::io_context& { return pool->next(); });
  } catch (const std::exception& e) {
    OMSGW_EVENT(error, application_error, events::context{}, "cannot listen on {}:{}: {}",
                cfg.listen.address, cfg.listen.port, e.what());
    sys.reset();
    events::flush();
    return 1;
  }

  std::promise<void> stop_promise;
  auto stop_future = stop_promise.get_future();
  auto stop_once = std::make_shared<std::once_flag>();
  auto request_stop = [&stop_promise, stop_once] {
    std::call_once(*stop_once, [&stop_promise] { stop_promise.set_value(); });
  };

  services_ptr shared_svc = svc;
  // The route in force before any actor runs (the store and the relay actor publish
  // again when they start, and at every swap): no connection sees a half-known route.
  svc->generations->publish_policy(policy);
  svc->generations->publish_relay(initial_relay.target, 0);
  auto store = sys->spawn(policy_store, policy, svc->generations);
  auto relays = sys->spawn(relay, initial_relay.target, svc->generations);
  register_relay(*sys, relays);
  auto lst = sys->spawn(listener, acc, store, shared_svc, policy, request_stop);
  *listener_slot = lst;
  auto tele = sys->spawn(telemetry, shared_svc, lst, caf::actor_cast<caf::actor>(store));

  // A detached actor's thread waits until every handle to it is gone (CAF 0.17), so
  // the handles live in a slot that teardown clears before destroying the system.
  auto reloader_slot = std::make_shared<caf::actor>(
      sys->spawn<caf::detached>(config_reloader, path, *initial, store, shared_svc, relays,
                                initial_relay.target));
  // Every long-lived actor, stopped together (the listener stops its sessions).
  auto stop_actors = [&] {
    for (const caf::actor& a : {lst, tele, caf::actor_cast<caf::actor>(store),
                                caf::actor_cast<caf::actor>(relays), *reloader_slot}) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    unregister_relay(*sys);
  };

  // Asks an actor from a non-actor thread without blocking it: a one-shot actor
  // waits for the answer and hands it to the admin server's reply function.
  auto ask_status = [&sys_ref = *sys, tele](metrics::reply_fn reply) {
    sys_ref.spawn([tele, reply](caf::event_based_actor* self) {
      self->request(tele, std::chrono::seconds(5), status_atom::value)
          .then([=](const std::string& json) { reply(200, json); },
                [=](const caf::error& e) {
                  reply(500, "{\"error\":" + json_quote(caf::to_string(e)) + "}");
                });
    });
  };
  auto ask_reload = [&sys_ref = *sys, reloader_slot](std::string trigger, metrics::reply_fn reply) {
    caf::actor reloader = *reloader_slot;
    if (!reloader) return reply(503, "{\"result\":\"failure\",\"errors\":[\"stopping\"]}");
    sys_ref.spawn([reloader, reply, trigger](caf::event_based_actor* self) {
      self->request(reloader, std::chrono::seconds(30), reload_atom::value, trigger)
          .then([=](const reload_result& r) { reply(r.ok ? 200 : 422, to_json(r)); },
                [=](const caf::error& e) {
                  reply(500, "{\"result\":\"failure\",\"errors\":[\"" + caf::to_string(e) + "\"]}");
                });
    });
  };

  std::atomic<bool> ready{true};
  std::unique_ptr<metrics::admin_server> admin;
  try {
    metrics::admin_handlers h;
    h.registry = svc->metrics->registry();
    h.ready = [&ready] { return ready.load(); };
    h.status = ask_status;
    h.reload = [ask_reload](metrics::reply_fn reply) { ask_reload("POST /reload", reply); };
    admin = std::make_unique<metrics::admin_server>(
        io->primary(),
        net::tcp::endpoint(asio::ip::make_address(cfg.admin.address), cfg.admin.port),
        std::move(h));
  } catch (const std::exception& e) {
    OMSGW_EVENT(error, application_error, events::context{}, "cannot listen on admin {}:{}: {}",
                cfg.admin.address, cfg.admin.port, e.what());
    stop_actors();
    *reloader_slot = nullptr;
    sys->await_all_actors_done();
    acc.reset();
    io.reset();
    sys.reset();
    events::flush();
    return 1;
  }
  if (!asio::ip::make_address(cfg.admin.address).is_loopback()) {
    OMSGW_EVENT(warn, info, events::context{},
                "admin endpoint bound to {} (not loopback): /reload and /status are reachable "
                "from the network",
                cfg.admin.address);
  }

  std::shared_ptr<config::file_watcher> watcher;
  if (!path.empty()) {
    watcher = std::make_shared<config::file_watcher>(
        io->primary(), path, [reloader_slot] {
          if (*reloader_slot) caf::anon_send(*reloader_slot, changed_atom::value);
        });
    if (auto ec = watcher->start()) {
      OMSGW_EVENT(warn, info, events::context{},
                  "cannot watch {} for changes ({}): reload with SIGHUP or omsgw reload", path,
                  ec.message());
      watcher.reset();
    }
  }

  bool draining = false;
  // Owned by a pointer so teardown can destroy it before the io_context it uses.
  auto signals_owner = std::make_unique<asio::signal_set>(io->primary(), SIGINT, SIGTERM, SIGHUP);
  auto& signals = *signals_owner;
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      ask_reload("SIGHUP", [](int, std::string) {});
    } else if (!draining) {
      draining = true;
      ready = false;
      OMSGW_EVENT(info, info, events::context{}, "{}: draining (a second signal stops at once)",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT");
      caf::anon_send(lst, drain_atom::value, cfg.limits.drain_timeout_s);
    } else {
      OMSGW_EVENT(warn, info, events::context{}, "second signal: stopping now");
      request_stop();
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  acc->start();
  admin->start();
  io->run();
  // Lifecycle events are written whatever log.level says.
  events::emit(events::level::info, events::id::started, events::context{}, "omsgw started",
               {{"listen", endpoint_text(acc->local_endpoint())},
                  {"admin", endpoint_text(admin->local_endpoint())},
                  {"version", svc->version},
                  {"config", initial->source},
                  {"relay_proxy", relay_display(initial_relay.target)},
                  {"capacity", std::to_string(net::effective_capacity(*policy, svc->capacity))},
                  {"io_threads", std::to_string(io_threads)},
                  {"actor_threads", std::to_string(actor_threads)}});

  stop_future.wait();

  // Teardown (order matters, see shared notes on CAF + Asio): stop accepting and
  // signals, stop the actors (sessions close their connections), let the I/O threads
  // finish the closes, then destroy the io_context before the actor system.
  acc->stop();
  admin->stop();
  if (watcher) watcher->stop();
  {
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }
  stop_actors();
  sys->await_all_actors_done();
  io->release_work();
  // Anything still pending (a lingering refusal) gets a moment, then is cut.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!io->stopped() && net::connection::live_count() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  io->stop();
  io->join();
  acc.reset();
  admin.reset();
  watcher.reset();
  signals_owner.reset();
  io.reset();
  *listener_slot = nullptr;
  *reloader_slot = nullptr;
  sys.reset();
  events::emit(events::level::info, events::id::stopped, events::context{}, "omsgw stopped");
  events::flush();
  return 0;
}

}  // namespace omsgw::actors
