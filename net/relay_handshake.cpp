#include "net/relay_handshake.hpp"

#include "net/address.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <optional>

#include "net/connect_request.hpp"
#include "net/grammar/authority.hpp"

namespace omsgw::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

/// A relay's reason phrase goes into our logs: keep printable ASCII, and not much.
std::string printable(std::string_view text) {
  constexpr std::size_t max_reason = 80;
  std::string out;
  for (char ch : text.substr(0, max_reason)) {
    out += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  }
  return out;
}

}  // namespace

relay_target::~relay_target() {
  std::fill(password.begin(), password.end(), '\0');
  std::fill(authorization.begin(), authorization.end(), '\0');
}

std::string relay_target::display() const { return authority_text(host, port); }

relay_kind relay_target::kind() const {
  if (tls) return relay_kind::tls;
  const bool has_credentials = !username.empty() || kerberos;
  if (!has_credentials || auth == config::relay_auth::basic) return relay_kind::plain;
  return relay_kind::curl;
}

std::string relay_target::scheme_name() const {
  if (username.empty() && !kerberos) return "none";
  return config::to_string(auth);
}

bool relay_target::operator==(const relay_target& o) const {
  const bool same_fallback =
      (!fallback && !o.fallback) || (fallback && o.fallback && *fallback == *o.fallback);
  return host == o.host && port == o.port && tls == o.tls && auth == o.auth &&
         username == o.username && password == o.password && authorization == o.authorization &&
         kerberos == o.kerberos && keytab_id == o.keytab_id && tls_trust == o.tls_trust &&
         bypass == o.bypass && same_fallback;
}

std::optional<relay_target> parse_relay_address(std::string_view address) {
  auto url = grammar::parse_relay_url(address);
  if (!url) return std::nullopt;
  relay_target t;
  t.tls = url->tls;
  t.host = std::move(url->host);
  t.port = url->port;
  return t;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  std::string plain;
  plain.reserve(user.size() + 1 + password.size());
  plain.append(user).append(1, ':').append(password);
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  OPENSSL_cleanse(plain.data(), plain.size());  // a store the optimiser cannot drop
  encoded.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::string header = "Basic " + encoded;
  OPENSSL_cleanse(encoded.data(), encoded.size());
  return header;
}

std::string relay_connect_request(const relay_target& relay, std::string_view host,
                                  std::uint16_t port) {
  const std::string target = authority_text(host, port);
  std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (!relay.authorization.empty()) {
    req += "Proxy-Authorization: " + relay.authorization + "\r\n";
  }
  req += "\r\n";
  return req;
}

// ---------------------------------------------------------------- answer reader

struct relay_answer_reader::impl {
  impl() { reset(); }

  void reset() {
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(relay_header_limit));
    // No body is read: a 2xx to CONNECT has none and a refusal's body is not needed.
    parser->skip(true);
  }

  const relay_answer& fail(std::string detail) {
    answer.status = relay_status::bad_answer;
    answer.detail = std::move(detail);
    std::string().swap(pending);
    return answer;
  }

  std::optional<http::response_parser<http::empty_body>> parser;
  std::string pending;           ///< octets not yet consumed by the parser
  std::size_t header_bytes = 0;  ///< octets of header consumed (interim answers included)
  relay_answer answer;
};

relay_answer_reader::relay_answer_reader() : impl_(std::make_unique<impl>()) {}
relay_answer_reader::~relay_answer_reader() = default;

const relay_answer& relay_answer_reader::feed(const char* data, std::size_t size) {
  auto& st = *impl_;
  if (st.answer.status == relay_status::established) {
    st.answer.leftover.append(data, size);  // still tunnel data after the header
    return st.answer;
  }
  if (st.answer.status != relay_status::need_more) return st.answer;
  st.pending.append(data, size);
  while (!st.pending.empty()) {
    error_code ec;
    const std::size_t used = st.parser->put(asio::buffer(st.pending), ec);
    st.pending.erase(0, used);
    st.header_bytes += used;
    if (ec == http::error::need_more) break;
    if (ec == http::error::header_limit) return st.fail("answer header too large");
    if (ec) return st.fail("not an HTTP answer (" + ec.message() + ")");
    if (!st.parser->is_header_done()) {
      if (used == 0) break;
      continue;
    }
    const auto& res = st.parser->get();
    const int code = static_cast<int>(res.result_int());
    st.answer.code = code;
    st.answer.reason = printable(res.reason());
    if (code >= 100 && code < 200 && code != 101) {
      st.reset();  // interim answer (RFC 9110 15.2): the final one follows
      continue;
    }
    st.answer.status = code >= 200 && code < 300 ? relay_status::established : relay_status::refused;
    if (st.answer.status == relay_status::established) st.answer.leftover = std::move(st.pending);
    std::string().swap(st.pending);
    st.parser.reset();
    return st.answer;
  }
  if (st.header_bytes + st.pending.size() > relay_header_limit) {
    return st.fail("answer header too large");
  }
  return st.answer;
}

const relay_answer& relay_answer_reader::eof() {
  auto& st = *impl_;
  if (st.answer.status != relay_status::need_more) return st.answer;
  return st.fail(st.header_bytes + st.pending.size() == 0
                     ? "the relay closed the connection without answering"
                     : "the relay closed the connection in the middle of its answer");
}

// ---------------------------------------------------------------- on a socket

namespace {

struct handshake_op : std::enable_shared_from_this<handshake_op> {
  using handler = std::function<void(const error_code&, relay_answer)>;

  handshake_op(asio::ip::tcp::socket& s, std::string req, handler h)
      : socket(s), request(std::move(req)), done(std::move(h)) {}

  ~handshake_op() { std::fill(request.begin(), request.end(), '\0'); }

  void start() {
    asio::async_write(socket, asio::buffer(request),
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                        // The request carried the credentials: do not keep them around.
                        std::fill(self->request.begin(), self->request.end(), '\0');
                        if (ec) return self->finish(ec, {});
                        self->read();
                      });
  }

  void read() {
    socket.async_read_some(asio::buffer(buf), [self = shared_from_this()](const error_code& ec,
                                                                         std::size_t n) {
      if (ec == asio::error::eof) return self->finish({}, self->reader.eof());
      if (ec) return self->finish(ec, {});
      const relay_answer& a = self->reader.feed(self->buf.data(), n);
      if (a.status == relay_status::need_more) return self->read();
      self->finish({}, a);
    });
  }

  void finish(const error_code& ec, relay_answer a) {
    auto h = std::move(done);
    if (h) h(ec, std::move(a));
  }

  asio::ip::tcp::socket& socket;
  std::string request;
  relay_answer_reader reader;
  std::array<char, 4096> buf{};
  handler done;
};

}  // namespace

void async_relay_handshake(asio::ip::tcp::socket& socket, const relay_target& relay,
                           std::string_view host, std::uint16_t port,
                           std::function<void(const error_code&, relay_answer)> done) {
  std::make_shared<handshake_op>(socket, relay_connect_request(relay, host, port), std::move(done))
      ->start();
}

std::string describe(const relay_target& relay, std::string_view host, std::uint16_t port,
                     const relay_answer& answer) {
  const std::string prefix = "relay " + relay.display();
  const std::string target = authority_text(host, port);
  switch (answer.status) {
    case relay_status::established:
      return prefix + " opened a tunnel to " + target;
    case relay_status::refused:
      return prefix + " refused CONNECT " + target + ": " + std::to_string(answer.code) +
             (answer.reason.empty() ? "" : " " + answer.reason);
    case relay_status::bad_answer:
      return prefix + " gave no valid answer to CONNECT " + target + ": " + answer.detail;
    case relay_status::need_more:
      break;
  }
  return prefix + " gave no complete answer to CONNECT " + target;
}

}  // namespace omsgw::net
