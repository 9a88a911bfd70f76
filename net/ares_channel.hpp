#pragma once
/// \file
/// One c-ares channel driven by one io_context: every socket c-ares opens is watched
/// with a posix::stream_descriptor (ARES_OPT_SOCK_STATE_CB says which and for what), and
/// one timer follows ares_timeout, so any number of lookups are in flight at once and
/// no thread ever blocks. All of it runs on the channel's strand; c-ares is not
/// thread-safe, and nothing else touches the channel. Pending waits hold the channel
/// weakly: its owner decides when it goes (before the io_context, on the context's
/// thread or once no thread runs the context).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct ares_channeldata;
struct ares_addrinfo;

namespace omsgw::net {

struct ares_settings {
  /// "ip[:port],..." (ares_set_servers_ports_csv); empty: the system's resolv.conf.
  std::string servers;
  std::chrono::milliseconds try_timeout{2000};  ///< c-ares' first retransmission timeout
  int tries = 2;                                ///< per server
  /// How long an answer of one family (A or AAAA) waits for the other's (RFC 8305 3).
  std::chrono::milliseconds resolution_delay{300};
};

/// Addresses kept of each family of one answer: more than a real name has (Azure's
/// give 1-8), and a bound on what a hostile answer makes the gateway cache and try.
inline constexpr std::size_t max_addresses_per_family = 16;

/// What one A+AAAA lookup gave.
struct ares_result {
  int status = 0;  ///< ARES_SUCCESS or an ARES_E* code
  std::vector<boost::asio::ip::address> addresses;
  std::chrono::seconds ttl{0};  ///< the smallest TTL of the records (and CNAMEs) used
};

class ares_channel : public std::enable_shared_from_this<ares_channel> {
 public:
  using executor_type = boost::asio::strand<boost::asio::io_context::executor_type>;
  using callback = std::function<void(ares_result)>;

  /// Throws std::runtime_error when c-ares cannot be set up (e.g. servers unparsable).
  static std::shared_ptr<ares_channel> create(boost::asio::io_context& io,
                                              const ares_settings& settings);
  ~ares_channel();
  ares_channel(const ares_channel&) = delete;
  ares_channel& operator=(const ares_channel&) = delete;

  const executor_type& executor() const { return strand_; }
  boost::asio::io_context& context() const { return io_; }

  /// Starts resolving host: A and AAAA as two lookups at once, so that one family's
  /// answer is not lost to the other's silence (a dropped AAAA query would otherwise
  /// hold the A answer for all of c-ares' retries). Call on executor(). cb runs later on
  /// executor(), never inside this call, with both families' addresses (IPv6 first when
  /// this host has a route to it, as RFC 6724 rule 1). When one family answered with
  /// addresses and the other has not within resolution_delay, cb runs with the first's,
  /// then once more with both when the other ends. Dropped if the channel goes first.
  void lookup(const std::string& host, callback cb);
  /// Ends every lookup in flight (their callbacks see ARES_ECANCELLED); c-ares then
  /// closes its idle sockets. Call on executor().
  void cancel();

 private:
  struct watch;
  struct family_join;
  struct pending_lookup;
  explicit ares_channel(boost::asio::io_context& io);
  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_answer(void* arg, int status, int timeouts, ::ares_addrinfo* result);
  void on_family(const std::shared_ptr<family_join>& join, bool v6, ares_result answer);
  void sock_state(int fd, bool readable, bool writable);
  void arm(int fd, watch& w, bool write);
  void on_ready(int fd, std::uint64_t generation, bool write, const boost::system::error_code& ec);
  void reschedule();

  boost::asio::io_context& io_;
  executor_type strand_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  std::chrono::milliseconds resolution_delay_{300};
  ares_channeldata* channel_ = nullptr;
  std::unordered_map<int, std::unique_ptr<watch>> watches_;  // by descriptor
  std::uint64_t generation_ = 0;  // tells a reused descriptor number from its predecessor
};

}  // namespace omsgw::net
