#pragma once
/// \file
/// One kind of relay (upstream proxy): given a TCP connection to the relay, opens a
/// tunnel through it to host:port. The upstream connector resolves the relay, connects
/// to it (trying its addresses in turn) and then hands the socket to the opener that
/// make_relay_opener picks for the relay. Every kind (plain CONNECT with Basic, libcurl
/// for NTLM/Negotiate/Digest, https:// relays through a TLS bridge) is opened by
/// net/relay_open's async_open_relay, wrapped here as relay_open_opener.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/byte_stream.hpp"
#include "net/relay_handshake.hpp"
#include "net/relay_open.hpp"

namespace omsgw::net {

/// Why an upstream connection could not be made (502; timeout 504, out_of_descriptors 503).
enum class connect_failure {
  resolve_failed,      ///< the name does not resolve
  forbidden_address,   ///< every address is loopback/private/... and allow_private is off
  refused,             ///< connection refused / unreachable on every address
  timeout,             ///< limits.connect_timeout_s elapsed (or the DNS lookup timed out)
  relay_refused,       ///< the (last) relay answered CONNECT with a non-2xx (403, or 407:
                       ///< our credentials refused; the detail names the scheme)
  relay_tls_failed,    ///< the TLS handshake with an https:// relay failed (verification...)
  out_of_descriptors,  ///< the gateway has no descriptor left for the socket (EMFILE, ENFILE)
};
const char* to_string(connect_failure f);

/// What an opener (or the whole connector) ends with: a stream, or why not.
struct upstream_outcome {
  std::unique_ptr<byte_stream> stream;             ///< engaged on success
  connect_failure why = connect_failure::refused;  ///< when !stream
  std::string detail;                              ///< when !stream: for logs, never a secret
  tcp::endpoint endpoint;                          ///< the destination's, or the relay's
  std::string early;  ///< bytes from upstream that already belong to the tunnel
  relay_ptr relay;    ///< the relay the tunnel goes through (after bypass/fallback); null: direct
  relay_outcome relay_result = relay_outcome::refused;  ///< from an opener: the attempt's result
  bool ok() const { return stream != nullptr; }
};

/// How one attempt through one relay ended, as the connector tells its owner
/// (omsgw_relay_connects_total, omsgw_relay_up and, for a failure a fallback follows,
/// event 403: the tunnel's own failure is reported once, when no relay is left).
struct relay_attempt {
  const relay_target* relay = nullptr;  ///< the relay tried (never null)
  relay_outcome outcome = relay_outcome::ok;
  bool skipped = false;  ///< the relay is skipped for relay_skip_time from now (omsgw_relay_up 0)
  connect_failure why = connect_failure::refused;  ///< when failed: as the client would be told
  std::string_view detail;             ///< when failed: one line naming the relay; never a secret
  const relay_target* next = nullptr;  ///< when failed: the relay tried now; null: none is left
};

class relay_opener {
 public:
  virtual ~relay_opener() = default;
  using handler = std::function<void(upstream_outcome)>;
  /// socket: connected to the relay. done is called once on the socket's executor,
  /// unless cancel() came first (then never). The opener owns the socket until then.
  virtual void async_open(tcp::socket socket, std::string host, std::uint16_t port,
                          handler done) = 0;
  /// Abandons the exchange: every socket it holds is closed now (the relay's, the TLS
  /// bridge's, libcurl's), nothing more is sent to the relay, and the pending done is
  /// dropped. Harmless after done (the tunnel's stream is the owner's by then).
  virtual void cancel() = 0;
};

/// The opener for relay's kind; timeout bounds libcurl's part of the exchange. Openers
/// keep themselves alive (shared_from_this) while an exchange is pending, so the owner
/// may drop one right after cancel().
std::shared_ptr<relay_opener> make_relay_opener(relay_ptr relay, std::chrono::milliseconds timeout);

/// Every relay kind through net/relay_open (async_open_relay). When the exchange ends
/// on another socket (libcurl reconnected after a 407, or the TLS bridge), that socket
/// becomes the stream.
class relay_open_opener final : public relay_opener,
                                public std::enable_shared_from_this<relay_open_opener> {
 public:
  relay_open_opener(relay_ptr relay, std::chrono::milliseconds timeout)
      : relay_(std::move(relay)), timeout_(timeout) {}
  void async_open(tcp::socket socket, std::string host, std::uint16_t port, handler done) override;
  void cancel() override;

 private:
  void on_opened(const tcp::endpoint& relay_endpoint, relay_open_result r);
  void close_socket();

  relay_ptr relay_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<tcp::socket> socket_;
  handler done_;
  relay_open_abort abort_;  ///< until the exchange has ended: abandons it
};

}  // namespace omsgw::net
