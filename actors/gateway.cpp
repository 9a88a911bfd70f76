#include "actors/gateway.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/all.hpp>
#include <csignal>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <openssl/evp.h>
#include <sstream>
#include <thread>

#include "actors/listener.hpp"
#include "actors/policy_store.hpp"
#include "actors/telemetry.hpp"
#include "config/loader.hpp"
#include "metrics/events.hpp"
#include "net/acceptor.hpp"
#include "net/address.hpp"

namespace omsgw::actors {
namespace {

namespace asio = boost::asio;

struct loaded {
  std::shared_ptr<const config::gateway_config> config;
  std::string hash;
  std::string source;  ///< path or "embedded defaults"
};

std::string sha256_prefix(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < 6 && i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

bool file_exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

/// Loads the configuration; on failure logs every error as event 401 and returns
/// nullopt.
std::optional<loaded> load(const std::string& path) {
  if (path.empty()) {
    loaded l;
    l.config = std::make_shared<const config::gateway_config>();
    l.hash = sha256_prefix("");
    l.source = "embedded defaults";
    return l;
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto result = in ? config::parse_config(text) : config::load_config_file(path);
  if (!result.ok()) {
    for (const auto& e : result.errors) {
      OMSGW_EVENT_F(error, wrong_configuration, events::context{}, ({{"key", e.key}}), "{}",
                    config::format_error(path, e));
    }
    return std::nullopt;
  }
  loaded l;
  l.config = std::make_shared<const config::gateway_config>(std::move(*result.config));
  l.hash = sha256_prefix(text);
  l.source = path;
  return l;
}

/// Raises the soft open-files limit to the hard one and derives the tunnel capacity:
/// two descriptors per tunnel, minus a reserve for listeners, logs and the admin port.
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
  constexpr std::uint64_t reserve = 64;
  return nofile > reserve + 2 ? (nofile - reserve) / 2 : 1;
}

std::string endpoint_text(const net::tcp::endpoint& ep) {
  const auto a = net::display_address(ep.address());
  return (ep.address().is_v6() && a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" +
         std::to_string(ep.port());
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
  auto initial = load(path);
  if (!initial) {
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
  svc->capacity = cfg.limits.max_connections ? cfg.limits.max_connections
                                             : raise_nofile_and_capacity();
  if (cfg.limits.max_connections) raise_nofile_and_capacity();

  std::uint64_t policy_version = 1;
  auto policy = net::make_policy(initial->config, policy_version, initial->hash);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned io_threads = options.threads ? options.threads : cores;
  // Actor work is light (a few messages per connection); the bytes move on the I/O
  // threads. Never more busy threads than cores by default.
  const unsigned actor_threads = std::max(1u, io_threads / 2);

  auto ioc = std::make_unique<asio::io_context>(static_cast<int>(io_threads));
  auto work = asio::make_work_guard(*ioc);

  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", static_cast<size_t>(actor_threads));
  auto sys = std::make_unique<caf::actor_system>(caf_cfg);

  // The accept callback needs the listener, which needs the acceptor: break the knot
  // with a slot filled before accepting starts.
  auto listener_slot = std::make_shared<caf::actor>();
  std::shared_ptr<net::acceptor> acc;
  try {
    const auto addr = asio::ip::make_address(cfg.listen.address);
    acc = std::make_shared<net::acceptor>(
        *ioc, net::tcp::endpoint(addr, cfg.listen.port),
        [listener_slot](std::shared_ptr<net::connection> c) {
          caf::anon_send(*listener_slot, accepted_atom::value, std::move(c));
        },
        [svc](const boost::system::error_code& ec, bool paused) {
          svc->metrics->errors.Increment();
          OMSGW_EVENT(error, application_error, events::context{}, "accept failed: {}{}",
                      ec.message(), paused ? " (pausing accept)" : "");
        },
        std::chrono::milliseconds(100));
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
  auto store = sys->spawn(policy_store, policy);
  auto lst = sys->spawn(listener, acc, store, shared_svc, policy, request_stop);
  *listener_slot = lst;
  auto tele = sys->spawn(telemetry, shared_svc, lst, caf::actor_cast<caf::actor>(store));

  // Reload: parse the whole file first; only a valid one replaces the policy.
  std::mutex reload_mutex;
  auto reload = [&]() -> bool {
    std::lock_guard<std::mutex> lock(reload_mutex);
    auto next = load(path);
    if (!next) {
      svc->metrics->reloads_failure.Increment();
      OMSGW_EVENT(error, wrong_configuration, events::context{},
                  "reload refused: {} is invalid; the running configuration stays", path);
      return false;
    }
    const auto& n = *next->config;
    if (n.listen.address != cfg.listen.address || n.listen.port != cfg.listen.port ||
        n.admin.address != cfg.admin.address || n.admin.port != cfg.admin.port) {
      OMSGW_EVENT(warn, info, events::context{},
                  "listen/admin address changes take effect at the next restart");
    }
    events::init(n.log.format, n.log.level);
    caf::anon_send(store, update_atom::value,
                   net::make_policy(next->config, ++policy_version, next->hash));
    svc->metrics->reloads_success.Increment();
    OMSGW_EVENT(info, info, events::context{}, "configuration reloaded from {} (version {}, {})",
                next->source, policy_version, next->hash);
    return true;
  };

  bool draining = false;
  asio::signal_set signals(*ioc, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      OMSGW_EVENT(info, info, events::context{}, "SIGHUP: reloading {}", path.empty() ? "(no file)" : path);
      if (!path.empty()) reload();
    } else if (!draining) {
      draining = true;
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
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < io_threads; ++i) {
    threads.emplace_back([&ioc] { ioc->run(); });
  }
  OMSGW_EVENT_F(info, started, events::context{},
                ({{"listen", endpoint_text(acc->local_endpoint())},
                  {"version", svc->version},
                  {"config", initial->source},
                  {"capacity", std::to_string(svc->capacity)},
                  {"io_threads", std::to_string(io_threads)},
                  {"actor_threads", std::to_string(actor_threads)}}),
                "omsgw started");

  stop_future.wait();

  // Teardown (order matters, see shared notes on CAF + Asio): stop accepting and
  // signals, stop the actors (sessions close their connections), let the I/O threads
  // finish the closes, then destroy the io_context before the actor system.
  acc->stop();
  {
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }
  caf::anon_send_exit(lst, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(tele, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  sys->await_all_actors_done();
  work.reset();
  // Anything still pending (a lingering refusal) gets a moment, then is cut.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!ioc->stopped() && net::connection::live_count() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ioc->stop();
  for (auto& t : threads) t.join();
  acc.reset();
  ioc.reset();
  *listener_slot = nullptr;
  sys.reset();
  OMSGW_EVENT(info, stopped, events::context{}, "omsgw stopped");
  events::flush();
  return 0;
}

}  // namespace omsgw::actors
