#include "net/dns_resolver.hpp"

#include <ares.h>

#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

namespace omsgw::net {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using address_list = std::vector<asio::ip::address>;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

}  // namespace

const char* to_string(lookup_result r) {
  switch (r) {
    case lookup_result::ok: return "ok";
    case lookup_result::cached: return "cached";
    case lookup_result::not_found: return "not_found";
    case lookup_result::timeout: return "timeout";
    case lookup_result::busy: return "busy";
    case lookup_result::failure: return "failure";
  }
  return "failure";
}

struct dns_resolver::waiter {
  std::string client_key;
  asio::any_io_executor ex;
  handler done;
  clock_type::time_point asked;
};

/// One c-ares lookup of one name on one lane, and everyone waiting for it.
struct dns_resolver::query {
  query(const ares_channel::executor_type& ex, std::string h)
      : host(std::move(h)), deadline(ex) {}
  std::string host;
  std::vector<waiter> waiters;
  asio::steady_timer deadline;
  bool done = false;
};

/// One I/O thread's channel and the lookups in flight on it (touched on its strand only).
struct dns_resolver::lane {
  asio::io_context* io = nullptr;
  std::shared_ptr<ares_channel> channel;  // null once closed
  std::unordered_map<std::string, std::shared_ptr<query>> queries;
};

dns_resolver::dns_resolver(const std::vector<asio::io_context*>& contexts,
                           dns_resolver_options options)
    : options_(std::move(options)), cache_(options_.cache) {
  for (asio::io_context* io : contexts) {
    auto l = std::make_unique<lane>();
    l->io = io;
    l->channel = ares_channel::create(*io, options_.ares);
    lanes_.push_back(std::move(l));
  }
}

dns_resolver::~dns_resolver() = default;

dns_resolver::lane* dns_resolver::lane_for(const asio::any_io_executor& ex) {
  asio::execution_context& ctx =
      asio::query(ex, asio::execution::context_as<asio::execution_context&>);
  for (auto& l : lanes_) {
    if (&static_cast<asio::execution_context&>(*l->io) == &ctx) return l->channel ? l.get() : nullptr;
  }
  return nullptr;
}

void dns_resolver::async_resolve(const std::string& host, const std::string& client_key,
                                 asio::any_io_executor ex, handler done) {
  const auto now = clock_type::now();
  waiter w{client_key, std::move(ex), std::move(done), now};
  lane* l = lane_for(w.ex);
  if (!l) return answer(w, dns_error::failure, {}, lookup_result::failure);
  std::optional<dns_cache::answer> hit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hit = cache_.find(host, now);
  }
  if (hit) {
    const error_code ec = hit->addresses.empty() ? make_error_code(dns_error::not_found)
                                                 : error_code{};
    return answer(w, ec, std::move(hit->addresses), lookup_result::cached);
  }
  if (!take_client_slot(client_key)) {
    return answer(w, dns_error::busy, {}, lookup_result::busy);
  }
  asio::post(l->channel->executor(), [self = shared_from_this(), l, host, w = std::move(w)]() mutable {
    self->start(*l, host, std::move(w));
  });
}

void dns_resolver::shutdown() {
  for (auto& l : lanes_) {
    asio::post(l->channel->executor(), [self = shared_from_this(), l = l.get()] {
      auto queries = std::move(l->queries);
      for (auto& [host, q] : queries) self->finish(*l, q, dns_error::failure, {}, lookup_result::failure);
      if (l->channel) l->channel->cancel();
    });
  }
}

void dns_resolver::close() {
  for (auto& l : lanes_) {
    l->queries.clear();
    l->channel.reset();
  }
}

// On the lane's strand. A name already being looked up on this lane gets one more
// waiter (its deadline is the first asker's); otherwise a new c-ares lookup starts.
void dns_resolver::start(lane& l, const std::string& host, waiter w) {
  if (auto it = l.queries.find(host); it != l.queries.end()) {
    it->second->waiters.push_back(std::move(w));
    return;
  }
  auto q = std::make_shared<query>(l.channel->executor(), host);
  q->waiters.push_back(std::move(w));
  l.queries.emplace(host, q);
  q->deadline.expires_after(options_.timeout);
  q->deadline.async_wait([self = shared_from_this(), &l, q](const error_code& ec) {
    if (ec || q->done) return;
    self->finish(l, q, dns_error::timeout, {}, lookup_result::timeout);
  });
  l.channel->lookup(host, [self = shared_from_this(), &l, q](ares_result a) {
    self->on_answer(l, q, std::move(a));
  });
}

// A late answer (after the deadline) still fills the cache for the next asker.
void dns_resolver::on_answer(lane& l, const std::shared_ptr<query>& q, ares_result a) {
  const auto now = clock_type::now();
  error_code ec;
  lookup_result result = lookup_result::ok;
  if (a.status == ARES_SUCCESS && !a.addresses.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_.put_positive(q->host, a.addresses, a.ttl, now);
  } else if (a.status == ARES_SUCCESS || a.status == ARES_ENOTFOUND ||
             a.status == ARES_ENODATA || a.status == ARES_ENONAME) {
    ec = dns_error::not_found;
    result = lookup_result::not_found;
    std::lock_guard<std::mutex> lock(mutex_);
    cache_.put_negative(q->host, now);
  } else if (a.status == ARES_ETIMEOUT) {
    ec = dns_error::timeout;
    result = lookup_result::timeout;
  } else {
    ec = dns_error::failure;
    result = lookup_result::failure;
  }
  if (!q->done) finish(l, q, ec, a.addresses, result);
}

void dns_resolver::finish(lane& l, const std::shared_ptr<query>& q, error_code ec,
                          const address_list& addresses, lookup_result result) {
  q->done = true;
  q->deadline.cancel();
  if (auto it = l.queries.find(q->host); it != l.queries.end() && it->second == q) {
    l.queries.erase(it);
  }
  for (waiter& w : q->waiters) {
    release_client_slot(w.client_key);
    answer(w, ec, addresses, result);
  }
  q->waiters.clear();
}

void dns_resolver::answer(waiter& w, error_code ec, address_list addresses,
                          lookup_result result) {
  if (options_.on_lookup) {
    const bool instant = result == lookup_result::cached || result == lookup_result::busy;
    options_.on_lookup(result, instant ? 0.0 : seconds_since(w.asked));
  }
  asio::post(w.ex, [done = std::move(w.done), ec, addresses = std::move(addresses)]() mutable {
    done(ec, std::move(addresses));
  });
}

bool dns_resolver::take_client_slot(const std::string& client_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t& n = in_flight_[client_key];
  if (n >= options_.max_in_flight_per_client) {
    if (n == 0) in_flight_.erase(client_key);
    return false;
  }
  ++n;
  return true;
}

void dns_resolver::release_client_slot(const std::string& client_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_flight_.find(client_key);
  if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
}

}  // namespace omsgw::net
