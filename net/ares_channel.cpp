#include "net/ares_channel.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <mutex>
#include <stdexcept>

namespace omsgw::net {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
    }
  });
}

/// Converts (and frees) a c-ares answer of one family: the first
/// max_addresses_per_family addresses in c-ares' order (RFC 6724, as getaddrinfo sorts
/// them), TTL the smallest of the address records kept and the CNAMEs.
ares_result convert(int status, ares_addrinfo* info) {
  ares_result out;
  out.status = status;
  if (!info) return out;
  int ttl = -1;
  for (const ares_addrinfo_node* n = info->nodes;
       n && out.addresses.size() < max_addresses_per_family; n = n->ai_next) {
    if (n->ai_family == AF_INET && n->ai_addr) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
      out.addresses.emplace_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)));
    } else if (n->ai_family == AF_INET6 && n->ai_addr) {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::copy_n(sa->sin6_addr.s6_addr, bytes.size(), bytes.begin());
      out.addresses.emplace_back(asio::ip::address_v6(bytes));
    } else {
      continue;
    }
    ttl = ttl < 0 ? n->ai_ttl : std::min(ttl, n->ai_ttl);
  }
  for (const ares_addrinfo_cname* c = info->cnames; c; c = c->next) {
    ttl = ttl < 0 ? c->ttl : std::min(ttl, c->ttl);
  }
  out.ttl = std::chrono::seconds(std::max(ttl, 0));
  ares_freeaddrinfo(info);
  return out;
}

/// No address, and not because the name has none: the lookup itself failed.
bool lookup_failed(int status) {
  return status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA &&
         status != ARES_ENONAME;
}

/// RFC 6724 rule 1 (avoid unusable destinations), as c-ares' own sort applies it: this
/// host has a source address and a route for addr (a UDP connect sends nothing).
bool routable(const asio::ip::address& addr) {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(443);
  const auto bytes = addr.to_v6().to_bytes();
  std::copy(bytes.begin(), bytes.end(), sa.sin6_addr.s6_addr);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

/// Both families' answers as one: IPv6 first when it can be used, the smallest TTL of
/// those with addresses; with none, a failure of either wins over "no such name".
ares_result merge(const ares_result& v6, const ares_result& v4) {
  ares_result out;
  const bool six_first =
      !v6.addresses.empty() && (v4.addresses.empty() || routable(v6.addresses.front()));
  bool first = true;
  for (const ares_result* r : six_first ? std::array{&v6, &v4} : std::array{&v4, &v6}) {
    if (r->addresses.empty()) continue;
    out.addresses.insert(out.addresses.end(), r->addresses.begin(), r->addresses.end());
    out.ttl = first ? r->ttl : std::min(out.ttl, r->ttl);
    first = false;
  }
  if (!out.addresses.empty()) {
    out.status = ARES_SUCCESS;
  } else {
    out.status = lookup_failed(v4.status)   ? v4.status
                 : lookup_failed(v6.status) ? v6.status
                                            : ARES_ENOTFOUND;
  }
  return out;
}

}  // namespace

/// One name's A and AAAA lookups and the callback waiting for them.
struct ares_channel::family_join {
  family_join(const executor_type& ex, callback c) : delay(ex), cb(std::move(c)) {}
  asio::steady_timer delay;  // one family answered: how long the other may take
  callback cb;
  std::optional<ares_result> v6, v4;
  bool told = false;  // cb had one family's answer already
};

/// One family's c-ares lookup (ares_getaddrinfo's argument).
struct ares_channel::pending_lookup {
  std::weak_ptr<ares_channel> channel;
  std::shared_ptr<family_join> join;
  bool v6 = false;
};

struct ares_channel::watch {
  watch(const executor_type& ex, int fd, std::uint64_t gen) : sd(ex, fd), generation(gen) {}
  asio::posix::stream_descriptor sd;
  std::uint64_t generation;
  bool want_read = false, want_write = false;  // what c-ares asked for
  bool reading = false, writing = false;       // a wait is pending
};

ares_channel::ares_channel(asio::io_context& io)
    : io_(io), strand_(asio::make_strand(io)), timer_(strand_) {}

std::shared_ptr<ares_channel> ares_channel::create(asio::io_context& io,
                                                   const ares_settings& settings) {
  init_library_once();
  std::shared_ptr<ares_channel> self(new ares_channel(io));
  self->resolution_delay_ = settings.resolution_delay;
  ares_options opts{};
  opts.sock_state_cb = &ares_channel::on_sock_state;
  opts.sock_state_cb_data = self.get();
  opts.timeout = static_cast<int>(settings.try_timeout.count());
  opts.tries = settings.tries;
  // Only the name asked for is looked up: no resolv.conf `search` domains (nor `ndots`,
  // which in a Kubernetes pod would try them first). Otherwise `x.allowed.example`
  // could be connected to the address of `x.allowed.example.corp.example`, a name no
  // allow-list entry matches (as Squid's `dns_defnames off`).
  opts.flags = ARES_FLAG_NOSEARCH;
  opts.domains = nullptr;
  opts.ndomains = 0;
  const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
                   ARES_OPT_DOMAINS;
  if (const int rc = ares_init_options(&self->channel_, &opts, mask); rc != ARES_SUCCESS) {
    self->channel_ = nullptr;
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
  }
  if (!settings.servers.empty()) {
    if (const int rc = ares_set_servers_ports_csv(self->channel_, settings.servers.c_str());
        rc != ARES_SUCCESS) {
      throw std::runtime_error("DNS servers '" + settings.servers + "': " + ares_strerror(rc));
    }
  }
  return self;
}

ares_channel::~ares_channel() {
  // Callbacks see ARES_EDESTRUCTION (dropped); sockets are released, then closed by c-ares.
  if (channel_) ares_destroy(channel_);
  for (auto& [fd, w] : watches_) w->sd.release();  // c-ares owns (and closed) them
}

void ares_channel::lookup(const std::string& host, callback cb) {
  auto join = std::make_shared<family_join>(strand_, std::move(cb));
  for (const int family : {AF_INET6, AF_INET}) {
    ares_addrinfo_hints hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    auto* p = new pending_lookup{weak_from_this(), join, family == AF_INET6};
    ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &ares_channel::on_answer, p);
  }
  reschedule();
}

// On the strand, once per family.
void ares_channel::on_family(const std::shared_ptr<family_join>& join, bool v6,
                             ares_result answer) {
  const bool has_addresses = !answer.addresses.empty();
  (v6 ? join->v6 : join->v4) = std::move(answer);
  if (join->v6 && join->v4) {
    join->delay.cancel();
    join->cb(merge(*join->v6, *join->v4));
    return;
  }
  if (join->told || !has_addresses) return;
  join->delay.expires_after(resolution_delay_);
  join->delay.async_wait([join](const error_code& ec) {
    if (ec || join->told || (join->v6 && join->v4)) return;
    join->told = true;
    join->cb(join->v6 ? *join->v6 : *join->v4);
  });
}

void ares_channel::cancel() {
  ares_cancel(channel_);
  reschedule();
}

// May run inside ares_getaddrinfo or ares_process_fd: the answer is posted, so the
// caller's callback never re-enters the code that called c-ares.
void ares_channel::on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  std::unique_ptr<pending_lookup> p(static_cast<pending_lookup*>(arg));
  ares_result answer = convert(status, result);
  if (status == ARES_EDESTRUCTION) return;
  auto self = p->channel.lock();
  if (!self) return;
  asio::post(self->strand_, [weak = p->channel, join = std::move(p->join), v6 = p->v6,
                             answer = std::move(answer)]() mutable {
    if (auto channel = weak.lock()) channel->on_family(join, v6, std::move(answer));
  });
}

void ares_channel::on_sock_state(void* data, int fd, int readable, int writable) {
  static_cast<ares_channel*>(data)->sock_state(fd, readable != 0, writable != 0);
}

void ares_channel::sock_state(int fd, bool readable, bool writable) {
  auto it = watches_.find(fd);
  if (!readable && !writable) {
    // c-ares closes fd right after this: stop watching it (cancels the waits) without
    // closing it ourselves.
    if (it != watches_.end()) {
      it->second->sd.release();
      watches_.erase(it);
    }
    return;
  }
  if (it == watches_.end()) {
    it = watches_.emplace(fd, std::make_unique<watch>(strand_, fd, ++generation_)).first;
  }
  watch& w = *it->second;
  w.want_read = readable;
  w.want_write = writable;
  if (readable && !w.reading) arm(fd, w, false);
  if (writable && !w.writing) arm(fd, w, true);
}

void ares_channel::arm(int fd, watch& w, bool write) {
  (write ? w.writing : w.reading) = true;
  w.sd.async_wait(write ? asio::posix::stream_descriptor::wait_write
                        : asio::posix::stream_descriptor::wait_read,
                  [weak = weak_from_this(), fd, gen = w.generation, write](const error_code& ec) {
                    if (auto self = weak.lock()) self->on_ready(fd, gen, write, ec);
                  });
}

void ares_channel::on_ready(int fd, std::uint64_t generation, bool write, const error_code& ec) {
  auto it = watches_.find(fd);
  if (it == watches_.end() || it->second->generation != generation) return;
  (write ? it->second->writing : it->second->reading) = false;
  if (ec == asio::error::operation_aborted) return;
  ares_process_fd(channel_, write ? ARES_SOCKET_BAD : fd, write ? fd : ARES_SOCKET_BAD);
  it = watches_.find(fd);  // c-ares may have closed it (or a new socket took the number)
  if (!ec && it != watches_.end() && it->second->generation == generation) {
    watch& w = *it->second;
    if (write ? (w.want_write && !w.writing) : (w.want_read && !w.reading)) arm(fd, w, write);
  }
  reschedule();
}

// One timer for the whole channel, at c-ares' next retransmission or query timeout.
void ares_channel::reschedule() {
  timeval tv{};
  if (!ares_timeout(channel_, nullptr, &tv)) {
    if (timer_armed_) timer_.cancel();
    timer_armed_ = false;
    return;
  }
  const auto when = std::chrono::steady_clock::now() + std::chrono::seconds(tv.tv_sec) +
                    std::chrono::microseconds(tv.tv_usec);
  if (timer_armed_ && timer_.expiry() <= when) return;
  timer_armed_ = true;
  timer_.expires_at(when);
  timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->timer_armed_ = false;
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->reschedule();
  });
}

}  // namespace omsgw::net
