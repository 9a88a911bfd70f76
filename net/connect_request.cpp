#include "net/connect_request.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <limits>
#include <optional>

#include "net/host_match.hpp"

namespace omsgw::net {

namespace http = boost::beast::http;

int http_status_for(request_status s) {
  switch (s) {
    case request_status::bad_request:
      return 400;
    case request_status::header_too_large:
      return 431;
    case request_status::not_connect:
      return 405;
    case request_status::need_more:
    case request_status::connect:
      return 0;
  }
  return 0;
}

namespace {

/// Octets that may never appear in a request header: CTLs other than HTAB, CR and LF
/// (RFC 9110 5.5 field values, RFC 9112 3 request line), including NUL.
bool forbidden_octet(unsigned char ch) {
  return (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f;
}

/// Beast's request parser keeping only what the decision needs (the method, the
/// target, whether a Transfer-Encoding is announced). http::request_parser would store
/// every field in a basic_fields, one allocation per field, for each connection; this
/// one parses the same grammar (basic_parser) and allocates nothing itself.
class head_parser final : public http::basic_parser<true> {
 public:
  using string_view = boost::beast::string_view;
  using error_code = boost::system::error_code;

  http::verb method = http::verb::unknown;
  string_view method_text;  ///< views the header handed to put()
  string_view target;       ///< views the header handed to put()
  bool transfer_encoding = false;

 private:
  void on_request_impl(http::verb v, string_view method_str, string_view t, int,
                       error_code&) override {
    method = v;
    method_text = method_str;
    target = t;
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(http::field name, string_view, string_view, error_code&) override {
    if (name == http::field::transfer_encoding) transfer_encoding = true;
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

}  // namespace

/// Frames the header (up to the first empty line) and hands it to Beast's parser in
/// one put(). Beast's incremental put() stops parsing after its first need_more until
/// it sees CRLFCRLF, so a malformed header without one would be refused or not
/// depending on how TCP split it. Parsing the framed header once makes the outcome a
/// function of the bytes alone.
///
/// Line endings (RFC 9112 2.2): a recipient MAY take a lone LF as a line terminator,
/// as Squid and Tinyproxy do for scripted clients; Beast 1.74 requires CRLF, so each
/// lone LF is stored as CRLF before Beast sees the header. A bare CR stays an error
/// (2.2: "MUST NOT" be treated as a terminator), and so does obs-fold, a header line
/// starting with SP/HTAB (5.2: Beast would silently unfold it; we reject with 400 as
/// the RFC allows). Bytes that can only be errors (CTLs, NUL, bare CR) refuse the
/// request at once, so a client speaking TLS or binary to the proxy port gets its 400
/// without a timeout.
struct request_reader::impl {
  explicit impl(std::size_t limit) : header_limit(limit) {}

  request_outcome& finish(request_status status, std::string detail) {
    outcome.status = status;
    outcome.detail = std::move(detail);
    std::string().swap(header);
    return outcome;
  }

  /// Appends header octets from data; returns how many were taken (stops after the
  /// end of the header or at the limit), or an error detail for an octet that is never
  /// valid where it is. Runs of plain octets (neither CTL, SP, HTAB, CR nor LF) are
  /// skipped over by table and copied whole; only the others take the checks below,
  /// and only a lone LF breaks a run, for the CR stored before it.
  std::size_t scan(const char* data, std::size_t size, const char*& error) {
    const std::size_t end = std::min(size, header_limit - received);
    // One allocation for a header that comes in one piece, not one per doubling.
    header.reserve(header.size() + end + 2);
    std::size_t i = 0;
    std::size_t run = 0;  // start of the octets checked but not yet copied
    while (i < end && !complete) {
      if (plain_octets[static_cast<unsigned char>(data[i])]) {
        if ((tail & 0xff) == '\r') {
          error = "invalid octet in request header";
          return finish_scan(data, run, i);
        }
        const std::size_t from = i;
        while (i < end && plain_octets[static_cast<unsigned char>(data[i])]) ++i;
        for (std::size_t k = std::max(from, i >= 4 ? i - 4 : 0); k < i; ++k) {
          tail = (tail << 8) | static_cast<unsigned char>(data[k]);
        }
        continue;
      }
      const auto ch = static_cast<unsigned char>(data[i]);
      const bool after_cr = (tail & 0xff) == '\r';
      if (forbidden_octet(ch) || (after_cr && ch != '\n')) {
        error = "invalid octet in request header";
        return finish_scan(data, run, i);
      }
      if ((ch == ' ' || ch == '\t') && (tail & 0xffff) == crlf) {  // at a line start
        error = "obsolete line folding (or whitespace before a header line)";
        return finish_scan(data, run, i);
      }
      if (ch == '\n' && !after_cr) {  // lone LF: a line end
        header.append(data + run, i - run).push_back('\r');
        run = i;
        tail = (tail << 8) | '\r';
      }
      tail = (tail << 8) | ch;
      complete = tail == (crlf << 16 | crlf);
      ++i;
    }
    return finish_scan(data, run, i);
  }

  /// Copies the octets checked since run and counts the i taken.
  std::size_t finish_scan(const char* data, std::size_t run, std::size_t i) {
    header.append(data + run, i - run);
    received += i;
    return i;
  }

  /// Octets that need none of scan()'s checks: every octet but CTLs (with HTAB, CR,
  /// LF, NUL and DEL) and SP.
  static constexpr auto plain_octets = [] {
    std::array<bool, 256> t{};
    for (int c = 0x21; c < 0x100; ++c) t[c] = c != 0x7f;
    return t;
  }();

  std::size_t header_limit;
  std::size_t received = 0;  ///< header octets as sent, never more than header_limit
  std::string header;        ///< the same with every line ending as CRLF
  /// header's last four octets, the newest in the low byte (0 before there are four;
  /// NUL is never stored): the line-end checks read it, not the string.
  std::uint32_t tail = 0;
  static constexpr std::uint32_t crlf = '\r' << 8 | '\n';
  bool complete = false;
  request_outcome outcome;
};

request_reader::request_reader(std::size_t header_limit)
    : impl_(std::make_unique<impl>(header_limit)) {}

request_reader::~request_reader() = default;

const request_outcome& request_reader::feed(const char* data, std::size_t size) {
  auto& st = *impl_;
  if (st.outcome.status == request_status::connect) {
    leftover_.append(data, size);  // still "after the end of the header"
    return st.outcome;
  }
  if (st.outcome.status != request_status::need_more) return st.outcome;

  const char* error = nullptr;
  const std::size_t taken = st.scan(data, size, error);
  if (error) return st.finish(request_status::bad_request, error);
  if (!st.complete) {
    // Never buffer more than the limit: a header not complete within header_limit
    // octets is too large, whatever follows.
    if (st.received >= st.header_limit) {
      return st.finish(request_status::header_too_large, "request header too large");
    }
    return st.outcome;
  }

  head_parser parser;
  // The limit applies to the octets as sent (checked above); the CRs added to lone
  // LFs must not make Beast refuse a header that was within it.
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
      std::max(st.header_limit, st.header.size()), std::numeric_limits<std::uint32_t>::max())));
  // We never read a body: a non-CONNECT request is refused once its header is done,
  // and a CONNECT request has no content (RFC 9110 9.3.6). Skipping also means the
  // body limit can never fire before the method decision.
  parser.skip(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(st.header), ec);
  if (ec == http::error::header_limit) {
    return st.finish(request_status::header_too_large, "request header too large");
  }
  if (ec || !parser.is_header_done()) {
    return st.finish(request_status::bad_request, "malformed request: " + ec.message());
  }

  st.outcome.method = std::string(parser.method_text);
  // RFC 9110 9.1: methods are case-sensitive, so "connect" is an unknown method (405).
  if (parser.method != http::verb::connect) {
    return st.finish(request_status::not_connect, "method not allowed: " + st.outcome.method);
  }
  // RFC 9110 9.3.6: a CONNECT request has no content. One that announces some is
  // refused rather than having its "body" forwarded as tunnel data.
  const auto length = parser.content_length();
  if ((length && *length != 0) || parser.transfer_encoding) {
    return st.finish(request_status::bad_request, "CONNECT request with content");
  }
  const std::string_view target(parser.target.data(), parser.target.size());
  if (!parse_authority(target, st.outcome.host, st.outcome.port)) {
    return st.finish(request_status::bad_request,
                     "CONNECT target is not host:port: " + std::string(target));
  }
  leftover_.assign(data + taken, size - taken);
  return st.finish(request_status::connect, {});
}

bool parse_authority(std::string_view target, std::string& host, std::uint16_t& port) {
  // RFC 9110 9.3.6 / RFC 9112 3.2.3: authority-form = uri-host ":" port, the port is
  // mandatory; an IPv6 host is bracketed (RFC 3986 3.2.2).
  std::size_t colon = 0;
  if (!target.empty() && target.front() == '[') {
    const auto close = target.find(']');
    if (close == std::string_view::npos) return false;
    colon = close + 1;
    if (colon >= target.size() || target[colon] != ':') return false;
  } else {
    colon = target.find(':');
    if (colon == std::string_view::npos || target.find(':', colon + 1) != std::string_view::npos) {
      return false;
    }
  }
  const auto port_text = target.substr(colon + 1);
  if (port_text.empty()) return false;
  std::uint32_t value = 0;
  for (char ch : port_text) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(ch - '0');
    if (value > std::numeric_limits<std::uint16_t>::max()) return false;
  }
  if (value == 0) return false;
  auto normalised = normalize_host(target.substr(0, colon));
  if (!normalised) return false;
  host = std::move(*normalised);
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace omsgw::net
