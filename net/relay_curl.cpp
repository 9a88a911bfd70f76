/// \file
/// libcurl's part of opening a tunnel through a relay (see relay_open.hpp): the CONNECT
/// exchange with its authentication rounds, on a socket the gateway connected.
///
/// One thread per process runs a curl multi handle (curl_multi_poll); tunnels hand it
/// jobs through a locked queue and curl_multi_wakeup, and get their result posted back
/// to their own strand. Only set-up runs here: once the relay says 2xx, the socket goes
/// back to the tunnel, which relays with splice(2) as on any other path. curl is told
/// the socket is already connected (CURLOPT_OPENSOCKETFUNCTION +
/// CURL_SOCKOPT_ALREADY_CONNECTED), so resolving, the address guard and connect stay
/// the gateway's; curl reads the relay's answer one byte at a time, so bytes after the
/// 2xx stay in the socket for the tunnel. With CURLOPT_FORBID_REUSE curl lets go of the
/// connection as the transfer ends; CURLOPT_CLOSESOCKETFUNCTION keeps that socket for
/// the tunnel instead of closing it.

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "net/address.hpp"
#include "net/relay_curl_guard.hpp"
#include "net/relay_open.hpp"

namespace omsgw::net {
namespace asio = boost::asio;

namespace {

/// The schemes curl may answer for this relay. auto: whichever the 407 offers, but
/// Negotiate only with Kerberos credentials configured (else a relay offering both
/// Negotiate and NTLM would make curl pick Negotiate and fail).
unsigned long auth_mask(const relay_target& r) {
  using config::relay_auth;
  const bool password = !r.username.empty();
  switch (r.auth) {
    case relay_auth::basic:
      return password ? CURLAUTH_BASIC : 0;
    case relay_auth::digest:
      return CURLAUTH_DIGEST;
    case relay_auth::ntlm:
      return CURLAUTH_NTLM;
    case relay_auth::negotiate:
      return CURLAUTH_NEGOTIATE;
    case relay_auth::auto_:
      return (r.kerberos ? CURLAUTH_NEGOTIATE : 0UL) |
             (password ? CURLAUTH_NTLM | CURLAUTH_DIGEST | CURLAUTH_BASIC : 0UL);
  }
  return 0;
}

/// The scheme curl answered with, from what the relay offered (curl's own order).
const char* scheme_used(unsigned long offered, unsigned long wanted) {
  const unsigned long both = offered & wanted;
  if (both & CURLAUTH_NEGOTIATE) return "negotiate";
  if (both & CURLAUTH_DIGEST) return "digest";
  if (both & CURLAUTH_NTLM) return "ntlm";
  if (both & CURLAUTH_BASIC) return "basic";
  return nullptr;
}

struct curl_job {
  CURL* easy = nullptr;
  int given_fd = -1;  ///< the connected socket, handed to curl on its first opensocket
  bool given = false;
  int current_fd = -1;  ///< the socket curl talks to the relay on now
  int kept_fd = -1;     ///< current_fd once curl let go of it: ours (the tunnel's on success)
  bool may_reconnect = false;
  asio::ip::tcp::endpoint relay_ep;
  long timeout_ms = 0;
  curl_answer_guard guard;  ///< reads the relay's answers before curl acts on them
  std::shared_ptr<const relay_target> relay;
  std::string host;
  std::uint16_t port = 0;
  unsigned long mask = 0;
  curl_slist* resolve = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  asio::any_io_executor ex;
  relay_open_handler done;
  /// Set once the job is over for its attempt: by the curl thread as it posts done, or
  /// by the attempt's abort (any thread), after which the curl thread drops the job.
  std::shared_ptr<std::atomic<bool>> ended = std::make_shared<std::atomic<bool>>(false);

  ~curl_job() {
    if (easy) curl_easy_cleanup(easy);
    if (resolve) curl_slist_free_all(resolve);
    if (!given && given_fd >= 0) ::close(given_fd);
    if (kept_fd >= 0) ::close(kept_fd);
  }
};

curl_socket_t open_socket(void* p, curlsocktype, curl_sockaddr* addr) {
  auto* j = static_cast<curl_job*>(p);
  if (!j->given) {
    j->given = true;
    return j->current_fd = j->given_fd;
  }
  // The relay closed after a 407: a new connection to the same checked address
  // (CURLOPT_RESOLVE pins the relay's name to it). Not possible through a TLS bridge.
  if (!j->may_reconnect) return CURL_SOCKET_BAD;
  return j->current_fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/// curl lets go of a socket (FORBID_REUSE: always before the transfer is reported
/// done): the one it ended on is kept for the tunnel, any earlier one is closed.
int close_socket(void* p, curl_socket_t fd) {
  auto* j = static_cast<curl_job*>(p);
  if (fd == j->current_fd && j->kept_fd < 0) {
    j->kept_fd = fd;
    return 0;
  }
  return ::close(fd);
}

int socket_options(void* p, curl_socket_t fd, curlsocktype) {
  auto* j = static_cast<curl_job*>(p);
  return fd == j->given_fd ? CURL_SOCKOPT_ALREADY_CONNECTED : CURL_SOCKOPT_OK;
}

/// Every line of the relay's answers passes the guard first; 0 stops the transfer.
size_t on_header(char* data, size_t size, size_t count, void* p) {
  auto* j = static_cast<curl_job*>(p);
  const std::string_view line(data, size * count);
  return j->guard.feed(line) ? line.size() : 0;
}

/// The guard's reason for stopping the transfer, in r; false when it did not stop it.
bool stopped_by_guard(const curl_job& j, relay_open_result& r) {
  const std::string who = "relay " + j.relay->display();
  const std::string refusal = who + " refused CONNECT " + authority_text(j.host, j.port) +
                              ": 407 Proxy Authentication Required (";
  switch (j.guard.why()) {
    case curl_answer_guard::stop::ntlm_v1:
      r.outcome = relay_outcome::auth_failed;
      r.detail =
          refusal + "ntlm: the relay's challenge allows only NTLMv1, which omsgw does not send)";
      return true;
    case curl_answer_guard::stop::too_many_rounds:
      // SPEC: never a fallback after an authentication failure, as for a refusal.
      r.outcome = relay_outcome::auth_failed;
      r.detail = refusal + j.guard.scheme() + ": relay kept asking for credentials after " +
                 std::to_string(j.guard.answers()) + " answers)";
      return true;
    case curl_answer_guard::stop::bad_answer: {
      // Worded as our own CONNECT (net/relay_handshake) words the same answer.
      relay_answer bad;
      bad.status = relay_status::bad_answer;
      bad.detail = j.guard.problem();
      r.outcome = relay_outcome::refused;
      r.detail = describe(*j.relay, j.host, j.port, bad);
      return true;
    }
    case curl_answer_guard::stop::none:
    case curl_answer_guard::stop::narrow:
      break;
  }
  return false;
}

/// What the attempt means for the tunnel; the socket is taken over when it worked.
relay_open_result result_of(curl_job& j, CURLcode rc) {
  relay_open_result r;
  const std::string who = "relay " + j.relay->display();
  const std::string target = authority_text(j.host, j.port);
  long code = 0;
  curl_easy_getinfo(j.easy, CURLINFO_HTTP_CONNECTCODE, &code);
  if (stopped_by_guard(j, r)) return r;
  if (rc == CURLE_OK) {
    std::swap(r.fd, j.kept_fd);
    if (r.fd < 0) {
      r.outcome = relay_outcome::refused;
      r.detail = who + ": no socket after CONNECT " + target;
      return r;
    }
    r.outcome = relay_outcome::ok;
    r.detail = who + " opened a tunnel to " + target;
    return r;
  }
  if (code == 407) {
    long offered = 0;
    curl_easy_getinfo(j.easy, CURLINFO_PROXYAUTH_AVAIL, &offered);
    const char* used = scheme_used(static_cast<unsigned long>(offered), j.mask);
    r.outcome = relay_outcome::auth_failed;
    r.detail = who + " refused CONNECT " + target + ": 407 Proxy Authentication Required (" +
               (used ? std::string(used) + " credentials refused"
                     : "it offers no scheme relay_proxy.auth " + config::to_string(j.relay->auth) +
                           " allows") +
               ")";
    return r;
  }
  if (code != 0 && code / 100 != 2) {  // a 2xx that failed is curl's error, below
    r.outcome = relay_outcome::refused;
    r.detail = who + " refused CONNECT " + target + ": " + std::to_string(code);
    return r;
  }
  r.outcome = rc == CURLE_OPERATION_TIMEDOUT ? relay_outcome::timeout
              : rc == CURLE_COULDNT_CONNECT  ? relay_outcome::unreachable
                                             : relay_outcome::refused;
  r.detail = who + " failed during CONNECT " + target + ": " +
             (j.errbuf[0] ? std::string(j.errbuf) : curl_easy_strerror(rc));
  return r;
}

/// Sets up j's easy handle: the CONNECT to j.host:j.port through j.relay, answering
/// the schemes in j.mask.
void configure(curl_job& j) {
  CURL* e = j.easy = curl_easy_init();
  const relay_target& r = *j.relay;
  // curl speaks plain HTTP to the relay: over a TLS bridge the TLS is ours.
  const std::string relay_authority = authority_text(r.host, r.port);
  const std::string url = "http://" + authority_text(j.host, j.port) + "/";
  const std::string proxy = "http://" + relay_authority;
  if (!parse_ip_literal(r.host) && !j.resolve) {
    const std::string pin =
        r.host + ":" + std::to_string(r.port) + ":" +
        (j.relay_ep.address().is_v6() ? "[" + j.relay_ep.address().to_string() + "]"
                                      : j.relay_ep.address().to_string());
    j.resolve = curl_slist_append(nullptr, pin.c_str());
  }
  if (j.resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, j.resolve);
  // One address family, one address (the pin): curl makes no second, racing attempt
  // (happy eyeballs), so the socket it ends on is the one it was given or reopened.
  curl_easy_setopt(e, CURLOPT_IPRESOLVE,
                   j.relay_ep.address().is_v6() ? CURL_IPRESOLVE_V6 : CURL_IPRESOLVE_V4);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROXY, proxy.c_str());
  curl_easy_setopt(e, CURLOPT_NOPROXY, "");  // the environment's no_proxy does not apply
  curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, j.timeout_ms);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j.errbuf);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &j);
  curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, socket_options);
  curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, &j);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &j);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, &j);
  if (j.mask != 0) {
    curl_easy_setopt(e, CURLOPT_PROXYAUTH, j.mask);
    // curl copies both strings; they are wiped with the target (relay_target's dtor),
    // and curl_easy_cleanup frees its copies.
    curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, r.username.c_str());
    curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, r.password.c_str());
  }
}

/// The retry the guard asked for: a new transfer answering its narrowed scheme alone, on
/// a new connection to the same checked address (open_socket opens it, curl connects it).
void narrow(curl_job& j) {
  curl_easy_cleanup(j.easy);
  j.easy = nullptr;
  if (j.kept_fd >= 0) ::close(j.kept_fd);
  j.kept_fd = j.current_fd = j.given_fd = -1;  // given already: a fresh fd may reuse the number
  j.mask = j.guard.narrowed();
  j.guard.restart(j.mask);
  j.errbuf[0] = 0;
  configure(j);
}

/// The process' curl thread. Never destroyed: tunnels may still finish at exit.
class curl_worker {
 public:
  static curl_worker& instance() {
    static curl_worker* w = new curl_worker;
    return *w;
  }

  void submit(std::unique_ptr<curl_job> j) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      incoming_.push_back(std::move(j));
    }
    curl_multi_wakeup(multi_);
  }

  /// A job was abandoned (its `ended` set by the abort): it is dropped on the worker's
  /// next turn, before curl may write anything more for it.
  void abandoned() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sweep_ = true;
    }
    curl_multi_wakeup(multi_);
  }

 private:
  curl_worker() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi_ = curl_multi_init();
    std::thread([this] { run(); }).detach();
  }

  void run() {
    for (;;) {
      std::deque<std::unique_ptr<curl_job>> fresh;
      bool sweep = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        fresh.swap(incoming_);
        sweep = std::exchange(sweep_, false);
      }
      for (auto& j : fresh) {
        CURL* e = j->easy;
        jobs_[e] = std::move(j);
        curl_multi_add_handle(multi_, e);
      }
      if (sweep) drop_abandoned();
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
  }

  /// Removes the abandoned jobs (ended while still running) from curl, which closes
  /// their sockets through close_socket (~curl_job closes the ones kept). Their handlers
  /// are not called, but released on their executor: they hold the opener, whose
  /// socket belongs there.
  void drop_abandoned() {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (!it->second->ended->load()) {
        ++it;
        continue;
      }
      std::unique_ptr<curl_job> j = std::move(it->second);
      it = jobs_.erase(it);
      curl_multi_remove_handle(multi_, j->easy);
      asio::post(j->ex, [done = std::move(j->done)] {});
    }
  }

  void finish(CURL* e, CURLcode rc) {
    auto it = jobs_.find(e);
    if (it == jobs_.end()) return;
    std::unique_ptr<curl_job> j = std::move(it->second);
    jobs_.erase(it);
    if (rc == CURLE_WRITE_ERROR && j->guard.why() == curl_answer_guard::stop::narrow) {
      curl_multi_remove_handle(multi_, e);
      narrow(*j);
      CURL* again = j->easy;
      jobs_[again] = std::move(j);
      curl_multi_add_handle(multi_, again);
      return;
    }
    relay_open_result r = result_of(*j, rc);
    j->ended->store(true);  // an abort from now on has nothing to drop
    curl_multi_remove_handle(multi_, e);
    auto done = std::move(j->done);
    auto ex = j->ex;
    j.reset();  // r.fd, if any, was taken out of the job: it is the tunnel's now
    asio::post(ex, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  std::mutex mutex_;
  std::deque<std::unique_ptr<curl_job>> incoming_;
  bool sweep_ = false;  ///< an attempt was abandoned: look for its job (under mutex_)
  std::map<CURL*, std::unique_ptr<curl_job>> jobs_;
  CURLM* multi_ = nullptr;
};

}  // namespace

relay_open_abort curl_open_relay(int fd, const asio::ip::tcp::endpoint& relay_ep,
                                 bool may_reconnect, std::shared_ptr<const relay_target> relay,
                                 std::string host, std::uint16_t port,
                                 std::chrono::milliseconds timeout, asio::any_io_executor ex,
                                 relay_open_handler done) {
  auto& worker = curl_worker::instance();  // curl_global_init before the first easy handle
  auto j = std::make_unique<curl_job>();
  j->given_fd = fd;
  j->may_reconnect = may_reconnect;
  j->relay = std::move(relay);
  j->host = std::move(host);
  j->port = port;
  j->mask = auth_mask(*j->relay);
  j->guard =
      curl_answer_guard(j->mask, may_reconnect && j->relay->auth == config::relay_auth::auto_);
  j->ex = std::move(ex);
  j->done = std::move(done);
  j->relay_ep = relay_ep;
  j->timeout_ms = static_cast<long>(timeout.count());
  configure(*j);
  auto ended = j->ended;
  worker.submit(std::move(j));
  return [&worker, ended] {
    if (!ended->exchange(true)) worker.abandoned();
  };
}

}  // namespace omsgw::net
