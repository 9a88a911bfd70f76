#pragma once
/// \file
/// Opening a tunnel through a relay (upstream, corporate) HTTP proxy: the gateway
/// sends `CONNECT host:port` with `Proxy-Authorization: Basic ...` on a connection
/// to the relay and reads the relay's answer with Boost.Beast's response parser
/// (RFC 9110 9.3.6). Bytes the relay sends after its 2xx header already belong to
/// the tunnel and are handed back as leftover.
///
/// The pure parts (target parsing, request building, the answer reader) take bytes
/// and give decisions; async_relay_handshake runs them on a connected Asio socket.
/// Nothing here logs. The authorization value is a secret: no function puts it in
/// a detail string, and relay_target::display() never shows it.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

#include "net/limits.hpp"

namespace omsgw::net {

/// How a tunnel is opened through a relay (relay_target::kind, one place decides).
enum class relay_kind {
  plain,  ///< http://, no credentials or auth: basic: our own CONNECT (Beast), preemptive
  curl,   ///< http:// with auto | digest | ntlm | negotiate: libcurl answers the 407s
  tls,    ///< https://: TLS to the relay (Asio/OpenSSL), then libcurl inside it
};

/// Where and how to reach the relay. Immutable once built; shared by every
/// connection that opens its tunnel through it (a reload builds a new one).
/// SECRET fields are wiped when the last tunnel using the target lets it go.
struct relay_target {
  relay_target() = default;
  relay_target(const relay_target&) = default;
  relay_target& operator=(const relay_target&) = default;
  ~relay_target();

  std::string host;           ///< name or IP literal (no brackets), lower-case
  std::uint16_t port = 0;
  bool tls = false;           ///< https:// relay: TLS to the relay itself
  config::relay_auth auth = config::relay_auth::auto_;
  std::string username;       ///< as configured ("user", "DOMAIN\\user", a principal)
  std::string password;       ///< for libcurl's schemes. SECRET.
  std::string authorization;  ///< "Basic <base64>" or empty (no credentials). SECRET.
  bool kerberos = false;      ///< negotiate credentials exist (keytab or credential cache)
  /// Whose Kerberos credentials: "" = the service's credential cache, else the client
  /// keytab's path and a digest of its content (a change is a relay change).
  std::string keytab_id;
  /// https:// relays: the verifying TLS context (ca_file or the system store), built
  /// when the configuration is loaded so a bad CA file is a configuration error.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  std::string tls_trust;      ///< what tls_context trusts: ca_file and a digest of it
  /// The next relay to try when this one refuses or is unreachable (relay_proxy.fallback).
  std::shared_ptr<const relay_target> fallback;
  /// Host patterns (allowed_hosts syntax) that go direct; held by the first relay only.
  std::vector<std::string> bypass;

  relay_kind kind() const;
  /// "host:port" ("[v6]:port"): the only form of a relay that goes into logs.
  std::string display() const;
  /// The scheme named in logs and event 403 ("basic", "ntlm", ... or "none").
  std::string scheme_name() const;
  bool operator==(const relay_target& o) const;
  bool operator!=(const relay_target& o) const { return !(*this == o); }
};
using relay_ptr = std::shared_ptr<const relay_target>;

/// Parses relay_proxy.address, "http://HOST:PORT" or "https://HOST:PORT" with the
/// grammar's relay URL parser (grammar::parse_relay_url, which the loader validated it
/// with). Returns nullopt for anything else.
std::optional<relay_target> parse_relay_address(std::string_view address);

/// The Proxy-Authorization value for Basic authentication (RFC 7617 2):
/// "Basic " + base64(user ":" password), user and password as UTF-8 octets.
std::string basic_authorization(std::string_view user, std::string_view password);

/// The CONNECT request sent to the relay for host:port (RFC 9110 9.3.6: the target
/// and Host are the authority, an IPv6 host in brackets).
std::string relay_connect_request(const relay_target& relay, std::string_view host,
                                  std::uint16_t port);

/// The most header octets accepted from a relay (the same bound as for clients).
constexpr std::size_t relay_header_limit = max_header_bytes;

enum class relay_status {
  need_more,    ///< header incomplete: feed more bytes
  established,  ///< a 2xx answer: the tunnel is open
  refused,      ///< a complete non-2xx answer (407, 403, 502, ...)
  bad_answer,   ///< not HTTP, malformed, or a header above relay_header_limit
};

struct relay_answer {
  relay_status status = relay_status::need_more;
  int code = 0;          ///< the relay's status code, when it sent one
  std::string reason;    ///< its reason phrase, printable octets only, shortened
  std::string leftover;  ///< bytes after the header of a 2xx answer (tunnel data)
  std::string detail;    ///< why, for bad_answer
};

/// Reads the relay's answer to CONNECT with Beast's response parser. The parser is
/// told that no body follows (skip): a 2xx answer to CONNECT has none (RFC 9110
/// 9.3.6) and the body of a refusal is never read. Interim 1xx answers are skipped.
class relay_answer_reader {
 public:
  relay_answer_reader();
  ~relay_answer_reader();
  relay_answer_reader(const relay_answer_reader&) = delete;
  relay_answer_reader& operator=(const relay_answer_reader&) = delete;

  /// Appends data and parses; once terminal, further calls return the same answer
  /// (after a 2xx, with the new bytes appended to its leftover).
  const relay_answer& feed(const char* data, std::size_t size);
  /// The peer closed before a complete answer.
  const relay_answer& eof();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Runs the exchange on a connected socket: writes relay_connect_request, reads the
/// answer. done is called exactly once, on the socket's executor, with the answer
/// (status need_more with ec set when the write or read failed). There is no timer
/// here: the caller bounds the exchange (connect timeout) by closing the socket.
/// The socket must outlive the operation (keep its owner alive in done).
void async_relay_handshake(boost::asio::ip::tcp::socket& socket, const relay_target& relay,
                           std::string_view host, std::uint16_t port,
                           std::function<void(const boost::system::error_code&, relay_answer)> done);

/// One line for logs and event 403, naming the relay but never its credentials:
/// e.g. "relay 127.0.0.1:3128 refused CONNECT a.example:443: 407 Proxy Authentication
/// Required".
std::string describe(const relay_target& relay, std::string_view host, std::uint16_t port,
                     const relay_answer& answer);

}  // namespace omsgw::net
