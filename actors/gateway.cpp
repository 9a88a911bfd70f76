/// \file
/// The running service (see gateway.hpp): one start-up sequence (start) and one
/// teardown (teardown), whatever step failed or however the run ended.

#include "actors/gateway.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/all.hpp>
#include <csignal>
#include <future>
#include <mutex>
#include <thread>

#include "actors/caf_threads.hpp"
#include "actors/config_reloader.hpp"
#include "actors/gateway_admin.hpp"
#include "actors/lean_clock.hpp"
#include "actors/listener.hpp"
#include "actors/policy_store.hpp"
#include "actors/relay.hpp"
#include "actors/session.hpp"
#include "actors/telemetry.hpp"
#include "config/config_file.hpp"
#include "config/file_watcher.hpp"
#include "metrics/events.hpp"
#include "net/acceptor.hpp"
#include "net/address.hpp"
#include "net/decision.hpp"
#include "net/dns_resolver.hpp"
#include "net/io_pool.hpp"
#include "net/limits.hpp"
#include "net/splice_pump.hpp"

namespace omsgw::actors {
namespace {

namespace asio = boost::asio;

/// Descriptors kept back from the tunnels: listeners, logs, inotify, DNS, epoll and
/// timers (32; an idle gateway holds about 20), the admin endpoint's connections and
/// the refusals that linger after their answer (net/limits.hpp): 96.
constexpr std::uint64_t k_reserved_fds =
    32 + net::max_admin_connections + net::max_lingering_refusals;
/// Splice pipes each I/O thread keeps pooled (net/tunnel.cpp), two descriptors each.
constexpr std::uint64_t k_pooled_pipes_per_thread = 16;
/// How long teardown lets the I/O threads finish closes still pending (a lingering
/// refusal) before it cuts them.
constexpr auto k_close_grace = std::chrono::seconds(2);
/// Accept errors (EMFILE) pause accepting this long instead of spinning.
constexpr auto k_accept_pause = std::chrono::milliseconds(100);

/// Raises the soft open-files limit to the hard one and derives the tunnel capacity:
/// two descriptors per tunnel, minus a reserve for listeners, logs, the admin port and
/// the splice pipes each I/O thread keeps pooled.
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
  const std::uint64_t reserve =
      k_reserved_fds +
      2 * k_pooled_pipes_per_thread * std::max(1u, std::thread::hardware_concurrency());
  return nofile > reserve + 2 ? (nofile - reserve) / 2 : 1;
}

std::string endpoint_text(const net::tcp::endpoint& ep) {
  return net::display_endpoint(ep.address(), ep.port());
}

/// The c-ares resolver (net/dns_resolver) every I/O thread's connections use, its
/// lookups counted in the metrics. OMSGW_DNS_SERVERS ("ip[:port],...") replaces the
/// servers of resolv.conf (the integration tests point it at their own DNS server).
/// Throws std::runtime_error when c-ares cannot start.
std::shared_ptr<net::dns_resolver> start_resolver(net::io_pool& io, const services& svc) {
  net::dns_resolver_options options;
  if (const char* servers = std::getenv("OMSGW_DNS_SERVERS")) options.ares.servers = servers;
  options.on_lookup = [m = svc.metrics](net::lookup_result r, double seconds) {
    m->count_dns_lookup(static_cast<std::size_t>(r), seconds);
  };
  auto dns = std::make_shared<net::dns_resolver>(io.contexts(), std::move(options));
  for (boost::asio::io_context* ctx : io.contexts()) net::install_resolver(*ctx, dns);
  return dns;
}

/// Everything the running service owns. start() builds it step by step and stops at
/// the first failure; teardown() undoes whatever was built, in the one order that is
/// safe (see shared notes on CAF + Asio): stop accepting and signals, stop the actors
/// (sessions close their connections), let the I/O threads finish the closes, destroy
/// the io_context before the actor system.
class gateway {
 public:
  explicit gateway(const run_options& options) : options_(options) {}

  /// Builds and starts everything; false (logged) when the service cannot run.
  bool start();
  /// Blocks until a stop is requested (a second signal, or the drain has finished).
  void wait() { stop_future_.wait(); }
  /// Undoes start(), fully or partly done. Idempotent.
  void teardown();

 private:
  bool load();
  bool listen();
  void spawn_actors();
  bool open_admin();
  void watch_file();
  void on_signal(const boost::system::error_code& ec, int sig);
  void drain(int sig);
  void request_stop();
  void log_started();

  run_options options_;
  std::string path_;  ///< the file reloads read; "" = embedded defaults
  config::loaded_config initial_;
  net::relay_ptr initial_relay_;
  net::policy_ptr initial_policy_;
  std::shared_ptr<services> svc_;
  unsigned io_threads_ = 0;
  unsigned actor_threads_ = 0;
  std::unique_ptr<net::io_pool> io_;
  std::shared_ptr<net::dns_resolver> dns_;
  /// CAF 0.17's actor_system keeps a reference to its config: it must outlive sys_.
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  /// The admission the acceptor hands connections to (set before it starts accepting).
  std::shared_ptr<std::shared_ptr<admission>> gate_slot_ =
      std::make_shared<std::shared_ptr<admission>>();
  /// A detached actor's thread waits until every handle to it is gone (CAF 0.17), so
  /// the handle lives in a slot that teardown clears before destroying the system.
  std::shared_ptr<caf::actor> reloader_slot_ = std::make_shared<caf::actor>();
  std::shared_ptr<net::acceptor> acceptor_;
  std::unique_ptr<metrics::admin_server> admin_;
  std::shared_ptr<config::file_watcher> watcher_;
  std::unique_ptr<asio::signal_set> signals_;
  caf::actor listener_;
  caf::actor telemetry_;
  policy_store_actor store_;
  relay_actor relays_;
  std::atomic<bool> ready_{true};
  bool draining_ = false;
  bool io_running_ = false;
  std::promise<void> stop_promise_;
  std::future<void> stop_future_ = stop_promise_.get_future();
  std::once_flag stop_once_;
};

void gateway::request_stop() {
  std::call_once(stop_once_, [this] { stop_promise_.set_value(); });
}

bool gateway::load() {
  const auto source = config::choose_source(options_.config_path, options_.config_explicit);
  auto loaded = config::load_source(source);
  std::vector<config::config_error> errors = std::move(loaded.errors);
  if (loaded.ok()) {
    // The relay target is built from the file checked above (password read once more).
    auto relay = load_relay_target(loaded.loaded->config->relay_proxy);
    if (relay.ok()) {
      initial_relay_ = std::move(relay.target);
    } else {
      errors.push_back({relay.key, 0, 0, relay.error, {}});
    }
  }
  if (!errors.empty()) {
    for (const auto& e : errors) {
      OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", e.key}}), "{}",
                    config::format_error(source.path, e));
    }
    OMSGW_EVENT(error, wrong_configuration, events::context{},
                "configuration {} is invalid: not started", source.path);
    return false;
  }
  initial_ = std::move(*loaded.loaded);
  path_ = initial_.embedded ? "" : source.path;
  const auto& cfg = *initial_.config;
  events::init(cfg.log.format, cfg.log.level);
  svc_ = std::make_shared<services>();
  svc_->version = OMSGW_VERSION;
  svc_->metrics = std::make_shared<metrics::gateway_metrics>(svc_->version);
  svc_->admin_token->set(initial_.admin_token);
  // The derived capacity; limits.max_connections, when set, lowers it at every
  // admission (net::effective_capacity), so a reload changes it.
  svc_->capacity = raise_nofile_and_capacity();
  if (cfg.limits.max_connections > svc_->capacity) {
    OMSGW_EVENT(warn, info, events::context{},
                "limits.max_connections {} is more than the open-files limit allows: {} "
                "tunnels at most (raise LimitNOFILE to allow more)",
                cfg.limits.max_connections, svc_->capacity);
  }
  return true;
}

bool gateway::listen() {
  const auto& cfg = *initial_.config;
  try {
    const auto addr = asio::ip::make_address(cfg.listen.address);
    acceptor_ = std::make_shared<net::acceptor>(
        io_->contexts(), net::tcp::endpoint(addr, cfg.listen.port),
        [slot = gate_slot_](std::shared_ptr<net::connection> c) {
          if (*slot) (*slot)->accepted(std::move(c));  // on the accepting I/O thread
        },
        [svc = svc_](const boost::system::error_code& ec, bool paused) {
          svc->metrics->errors.Increment();
          OMSGW_EVENT(error, application_error, events::context{}, "accept failed: {}{}",
                      ec.message(), paused ? " (pausing accept)" : "");
        },
        k_accept_pause, [pool = io_.get()](std::size_t lane) { return pool->place(lane); });
  } catch (const std::exception& e) {
    OMSGW_EVENT(error, application_error, events::context{}, "cannot listen on {}:{}: {}",
                cfg.listen.address, cfg.listen.port, e.what());
    return false;
  }
  return true;
}

void gateway::spawn_actors() {
  services_ptr svc = svc_;
  auto policy = net::make_policy(initial_.config, 1, initial_.hash);
  initial_policy_ = policy;
  // The route in force before any actor runs (the store and the relay actor publish
  // again when they start, and at every swap): no connection sees a half-known route.
  svc->generations->publish_policy(policy);
  svc->generations->publish_relay(initial_relay_, 0);
  store_ = sys_->spawn(policy_store, policy, svc->generations);
  relays_configured(*svc->metrics, initial_relay_);
  relays_ = sys_->spawn(relay, initial_relay_, svc->generations);
  register_relay(*sys_, relays_);
  *gate_slot_ = std::make_shared<admission>(*sys_, svc, policy);
  listener_ = sys_->spawn(listener, acceptor_, *gate_slot_, [this] { request_stop(); });
  (*gate_slot_)->set_listener(listener_.address());  // before the acceptor starts
  telemetry_ = sys_->spawn(telemetry, svc, listener_, caf::actor_cast<caf::actor>(store_));
  *reloader_slot_ = sys_->spawn<caf::detached>(config_reloader, path_, initial_, store_, svc,
                                               relays_, initial_relay_);
}

bool gateway::open_admin() {
  const auto& cfg = *initial_.config;
  try {
    auto handlers = admin_handlers(*sys_, svc_->metrics->registry(), svc_->admin_token, telemetry_,
                                   reloader_slot_, [this] { return ready_.load(); });
    handlers.problem = [svc = svc_](const std::string& line) {
      svc->metrics->errors.Increment();
      OMSGW_EVENT(error, application_error, events::context{}, "{}", line);
    };
    admin_ = std::make_unique<metrics::admin_server>(
        io_->primary(),
        net::tcp::endpoint(asio::ip::make_address(cfg.admin.address), cfg.admin.port),
        std::move(handlers));
  } catch (const std::exception& e) {
    OMSGW_EVENT(error, application_error, events::context{}, "cannot listen on admin {}:{}: {}",
                cfg.admin.address, cfg.admin.port, e.what());
    return false;
  }
  if (!asio::ip::make_address(cfg.admin.address).is_loopback()) {
    OMSGW_EVENT(warn, info, events::context{},
                "admin endpoint bound to {} (not loopback): /reload and /status are reachable "
                "from the network",
                cfg.admin.address);
  }
  return true;
}

void gateway::watch_file() {
  if (path_.empty()) return;
  watcher_ = std::make_shared<config::file_watcher>(io_->primary(), path_, [slot = reloader_slot_] {
    if (*slot) caf::anon_send(*slot, changed_atom::value);
  });
  if (auto ec = watcher_->start()) {
    OMSGW_EVENT(warn, info, events::context{},
                "cannot watch {} for changes ({}): reload with SIGHUP or omsgw reload", path_,
                ec.message());
    watcher_.reset();
  }
}

void gateway::on_signal(const boost::system::error_code& ec, int sig) {
  if (ec) return;
  if (sig == SIGHUP) {
    ask_reload(*sys_, reloader_slot_, "SIGHUP", [](int, std::string) {});
  } else if (!draining_) {
    drain(sig);
  } else {
    OMSGW_EVENT(warn, info, events::context{}, "second signal: stopping now");
    request_stop();
  }
  signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
}

/// Starts the drain with the drain timeout of the configuration in force (a reload may
/// have changed it since start-up): the policy store holds it.
void gateway::drain(int sig) {
  draining_ = true;
  ready_ = false;
  OMSGW_EVENT(info, info, events::context{}, "{}: draining (a second signal stops at once)",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
  const std::uint32_t fallback = initial_.config->limits.drain_timeout_s;
  sys_->spawn([store = store_, lst = listener_, fallback](caf::event_based_actor* self) {
    self->request(store, k_actor_request_timeout, caf::get_atom::value)
        .then(
            [=](const net::policy_ptr& p) {
              self->send(lst, drain_atom::value, p ? p->config->limits.drain_timeout_s : fallback);
            },
            [=](const caf::error&) { self->send(lst, drain_atom::value, fallback); });
  });
}

void gateway::log_started() {
  // Lifecycle events are written whatever log.level says.
  events::emit(
      events::level::info, events::id::started, events::context{}, "omsgw started",
      {{"listen", endpoint_text(acceptor_->local_endpoint())},
       {"admin", endpoint_text(admin_->local_endpoint())},
       {"version", svc_->version},
       {"config", initial_.source},
       {"relay_proxy", relay_display(initial_relay_)},
       {"capacity", std::to_string(net::effective_capacity(*initial_policy_, svc_->capacity))},
       {"io_threads", std::to_string(io_threads_)},
       {"actor_threads", std::to_string(actor_threads_)}});
}

bool gateway::start() {
  if (!load()) return false;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  io_threads_ = options_.threads ? options_.threads : cores;
  // Actor work is light (a few messages per connection); the bytes move on the I/O
  // threads. Never more busy threads than cores by default.
  actor_threads_ = std::max(1u, io_threads_ / 2);
  io_ = std::make_unique<net::io_pool>(io_threads_);
  // Splice pipes beyond the per-user pipe quota would shrink silently: say so once.
  net::pipe_pool::set_notice([](const std::string& line) {
    OMSGW_EVENT(warn, application_error, events::context{}, "{}", line);
  });
  try {
    dns_ = start_resolver(*io_, *svc_);
  } catch (const std::exception& e) {
    OMSGW_EVENT(error, application_error, events::context{}, "cannot start the DNS resolver: {}",
                e.what());
    return false;
  }
  caf_cfg_.set("scheduler.max-threads", static_cast<size_t>(actor_threads_));
  // Work sharing: idle workers block on a condition variable instead of polling
  // (CAF 0.17's default work stealing polls with 50 us sleeps). With one or two workers
  // stealing gains nothing; CPU per tunnel set-up measured the same either way
  // (~135-145 us, loadgen rate mode on a loaded 2-core VM). The lean clock
  // (actors/lean_clock) runs on CAF's work-sharing coordinator.
  use_lean_clock(caf_cfg_, {rare_type_of<session>()});
  sys_ = std::make_unique<caf::actor_system>(caf_cfg_);
  if (!lower_clock_thread_priority()) {
    OMSGW_EVENT(debug, info, events::context{},
                "the actor clock thread was not found: its priority stays as it is");
  }
  if (!listen()) return false;
  spawn_actors();
  if (!open_admin()) return false;
  watch_file();
  signals_ = std::make_unique<asio::signal_set>(io_->primary(), SIGINT, SIGTERM, SIGHUP);
  signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
  acceptor_->start();
  admin_->start();
  io_->run();
  io_running_ = true;
  log_started();
  return true;
}

void gateway::teardown() {
  if (acceptor_) acceptor_->stop();
  if (admin_) admin_->stop();
  if (watcher_) watcher_->stop();
  if (signals_) {
    boost::system::error_code ignored;
    signals_->cancel(ignored);
  }
  if (sys_) {
    for (const caf::actor& a : {listener_, telemetry_, caf::actor_cast<caf::actor>(store_),
                                caf::actor_cast<caf::actor>(relays_), *reloader_slot_}) {
      if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    unregister_relay(*sys_);
    *reloader_slot_ = nullptr;
    sys_->await_all_actors_done();
  }
  if (dns_) dns_->shutdown();
  if (io_) {
    io_->release_work();
    // Anything still pending (a lingering refusal) gets a moment, then is cut.
    const auto deadline = std::chrono::steady_clock::now() + k_close_grace;
    while (io_running_ && !io_->stopped() && net::connection::live_count() > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    io_->stop();
    io_->join();
  }
  if (dns_) dns_->close();  // its channels' sockets and timers belong to the contexts below
  acceptor_.reset();
  admin_.reset();
  watcher_.reset();
  signals_.reset();
  io_.reset();
  *gate_slot_ = nullptr;
  listener_ = telemetry_ = nullptr;
  store_ = nullptr;
  relays_ = nullptr;
  sys_.reset();
}

}  // namespace

int run_gateway(const run_options& options) {
  // Secrets (the relay password, the admin token) live in this process: no core dump,
  // no ptrace by other users' processes (PR_SET_DUMPABLE also covers /proc/PID/mem).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  events::init(config::log_format::text, "info");
  gateway g(options);
  const bool started = g.start();
  if (started) g.wait();
  g.teardown();
  if (started) {
    events::emit(events::level::info, events::id::stopped, events::context{}, "omsgw stopped");
  }
  events::flush();
  return started ? 0 : 1;
}

}  // namespace omsgw::actors
