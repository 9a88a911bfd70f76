#pragma once
/// \file
/// Opening a tunnel through a relay on a socket the gateway has already connected to
/// it (resolved, checked and connected like any upstream): one entry point for every
/// relay kind (relay_target::kind):
/// - plain: our own CONNECT with Beast (no credentials, or preemptive Basic);
/// - curl: libcurl sends the CONNECT and answers the relay's 407 challenges (Digest,
///   NTLM, Negotiate, Basic) on that same socket, from the process' single curl thread;
/// - tls: TLS to the relay with Asio/OpenSSL (verified, SNI), bridged to a socketpair
///   on which libcurl does its part; the tunnel then relays through the bridge.
/// The result says what happened in the words of omsgw_relay_connects_total.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "net/relay_handshake.hpp"

namespace omsgw::net {

/// How an attempt through one relay ended (the metric's `result` label).
enum class relay_outcome { ok, auth_failed, refused, unreachable, timeout, tls_failed };
const char* to_string(relay_outcome o);

/// True when the next relay (fallback) should be tried (SPEC relay_proxy): the relay
/// refused (a non-2xx answer other than 407), could not be reached, timed out or failed
/// its TLS handshake. Never after an authentication failure: our credentials are the
/// same for every relay, and a second refusal would only lock the account sooner.
bool tries_fallback(relay_outcome o);

/// True when the relay is skipped by new tunnels for relay_skip_time (net/relay_health):
/// it could not be reached, timed out or failed its TLS handshake. A relay that answered,
/// even with a refusal, is up.
bool skips_relay(relay_outcome o);

struct relay_open_result {
  relay_outcome outcome = relay_outcome::refused;
  std::string detail;    ///< one line for logs and event 403; never a secret
  int fd = -1;           ///< >= 0: the tunnel's socket to the relay from now on (owned
                         ///< by the receiver), replacing the one given; -1: keep it
  std::string leftover;  ///< bytes after the relay's 2xx: tunnel data for the client
};
using relay_open_handler = std::function<void(relay_open_result)>;

/// Abandons an exchange (deadline passed, client gone, fallback taken): whatever the
/// exchange holds besides the caller's socket (the TLS bridge and its socket to the
/// relay, libcurl's job and its sockets) is closed now, and nothing more is sent to the
/// relay. Called on the socket's executor; idempotent; harmless once the exchange has
/// ended, except that after a successful TLS exchange it would close the tunnel's bridge.
/// After it, done may be dropped uncalled (released on the executor); if it is still
/// called, a result.fd in it is the receiver's to close.
using relay_open_abort = std::function<void()>;

/// Opens the tunnel to host:port through relay on socket (connected to relay_ep).
/// done is called exactly once on socket's executor, unless the returned abort is
/// called first. With kind tls the socket is moved into the TLS bridge and result.fd is
/// the bridge's end. timeout bounds libcurl's part (the caller's own deadline still
/// applies: it calls abort, and the caller closes its socket).
relay_open_abort async_open_relay(boost::asio::ip::tcp::socket& socket,
                                  const boost::asio::ip::tcp::endpoint& relay_ep,
                                  std::shared_ptr<const relay_target> relay, std::string host,
                                  std::uint16_t port, std::chrono::milliseconds timeout,
                                  relay_open_handler done);

/// Runs the CONNECT exchange with libcurl on fd (taken over: curl closes it). With
/// may_reconnect, curl may open a new connection to relay_ep when the relay closes
/// after a 407. done is posted to ex. The abort returned may be called from any thread:
/// the curl thread then drops the job (closing its sockets) without calling done.
relay_open_abort curl_open_relay(int fd, const boost::asio::ip::tcp::endpoint& relay_ep,
                                 bool may_reconnect, std::shared_ptr<const relay_target> relay,
                                 std::string host, std::uint16_t port,
                                 std::chrono::milliseconds timeout, boost::asio::any_io_executor ex,
                                 relay_open_handler done);

}  // namespace omsgw::net
