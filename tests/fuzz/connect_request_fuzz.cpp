/// \file
/// libFuzzer target for the request parser path: net/connect_request (request_reader,
/// parse_authority) and the host normalisation and matching it hands its result to
/// (net/host_match, net/policy check_destination). The input is the raw bytes a client
/// sends to the proxy port. They are fed whole, at split points derived from a hash of
/// the input, and byte by byte: every way must give the same outcome (the reader's
/// promise that the decision is a function of the bytes, not of how TCP split them), and
/// the outcome must respect the reader's contract. Any breach traps.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/connect_request.hpp"
#include "net/host_match.hpp"
#include "net/policy.hpp"

namespace {

using omsgw::net::request_outcome;
using omsgw::net::request_reader;
using omsgw::net::request_status;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

struct run {
  request_outcome outcome;
  std::string leftover;
};

run feed(const std::uint8_t* data, std::size_t size, const std::vector<std::size_t>& cuts,
         std::size_t limit) {
  request_reader reader(limit);
  const char* bytes = reinterpret_cast<const char*>(data);
  std::size_t start = 0;
  for (std::size_t cut : cuts) {
    const auto& o = reader.feed(bytes + start, cut - start);
    start = cut;
    // A terminal status never changes afterwards.
    if (o.status != request_status::need_more) {
      const auto status = o.status;
      check(reader.feed(bytes + start, 0).status == status);
    }
  }
  reader.feed(bytes + start, size - start);
  return {reader.feed(bytes, 0), reader.leftover()};
}

bool same(const run& a, const run& b) {
  const auto& x = a.outcome;
  const auto& y = b.outcome;
  return x.status == y.status && x.method == y.method && x.host == y.host && x.port == y.port &&
         x.detail == y.detail && a.leftover == b.leftover;
}

/// Characters a normalised host may contain (DNS label characters, '.', IP literals):
/// nothing that could split a log line or a header.
bool host_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
         ch == '.' || ch == ':';
}

/// normalize_host and normalize_host_pattern are idempotent, their results are safe to
/// log, and a normalised host matches itself as an exact entry.
void check_normalisation(std::string_view text) {
  if (const auto host = omsgw::net::normalize_host(text)) {
    check(!host->empty() && host->size() <= 253 + 1);
    for (char ch : *host) check(host_char(ch));
    check(omsgw::net::normalize_host(*host) == host);
    check(omsgw::net::host_matches(*host, *host));
    // An IP literal is never matched by a wildcard entry.
    if (omsgw::net::is_ip_literal(*host)) check(!omsgw::net::host_matches("*.0.1", *host));
  }
  if (const auto pattern = omsgw::net::normalize_host_pattern(text)) {
    check(omsgw::net::normalize_host_pattern(*pattern) == pattern);
    if (pattern->rfind("*.", 0) == 0) {
      // "*.suffix" matches names under the suffix, never the suffix itself.
      const std::string suffix = pattern->substr(2);
      check(!omsgw::net::host_matches(*pattern, suffix));
      check(omsgw::net::host_matches(*pattern, "x." + suffix));
    }
  }
}

void check_contract(const run& r, const std::uint8_t* data, std::size_t size, std::size_t limit) {
  const auto& o = r.outcome;
  switch (o.status) {
    case request_status::need_more:
      // Never more than the limit buffered without a decision.
      check(size < limit && o.detail.empty() && r.leftover.empty());
      break;
    case request_status::connect: {
      check(o.method == "CONNECT" && o.port != 0 && !o.host.empty() && o.detail.empty());
      check(omsgw::net::normalize_host(o.host) == o.host);
      for (char ch : o.host) check(host_char(ch));
      // The leftover is exactly the bytes after a header of at most `limit` octets.
      check(r.leftover.size() <= size);
      const std::size_t header = size - r.leftover.size();
      check(header >= 2 && header <= limit);
      check(r.leftover == std::string_view(reinterpret_cast<const char*>(data) + header,
                                           r.leftover.size()));
      // The header ends with an empty line; a lone LF ends a line too (RFC 9112 2.2).
      const std::string_view head(reinterpret_cast<const char*>(data), header);
      const auto ends_with = [&](std::string_view end) {
        return head.size() >= end.size() && head.substr(head.size() - end.size()) == end;
      };
      check(ends_with("\n\n") || ends_with("\n\r\n"));
      check(omsgw::net::http_status_for(o.status) == 0);
      break;
    }
    case request_status::bad_request:
    case request_status::header_too_large:
    case request_status::not_connect:
      check(!o.detail.empty() && r.leftover.empty());
      check(omsgw::net::http_status_for(o.status) >= 400);
      break;
  }
}

/// The decision the session asks the policy store for, on a small fixed policy.
void check_policy(const request_outcome& o) {
  static const omsgw::net::policy_ptr policy = [] {
    auto cfg = std::make_shared<omsgw::config::gateway_config>();
    cfg->allowed_hosts = {"*.ods.opinsights.azure.com", "exact.example.com", "192.0.2.1",
                          "[2001:db8::1]"};
    cfg->allowed_ports = {443};
    return omsgw::net::make_policy(cfg, 1);
  }();
  const auto verdict = omsgw::net::check_destination(*policy, o.host, o.port);
  if (verdict.reason != omsgw::net::deny_reason::none) return;
  check(o.port == 443);
  // Allowed IP literals are exactly the listed ones (no wildcard reaches an address).
  if (omsgw::net::is_ip_literal(o.host)) check(o.host == "192.0.2.1" || o.host == "2001:db8::1");
}

std::uint64_t fnv1a(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Byte-by-byte feeding stays cheap below this; the limits below cover larger headers.
  if (size > 20000) return 0;

  std::uint64_t seed = fnv1a(data, size);
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  // Mostly the gateway's 16 KiB, sometimes small limits so 431 is reached by short inputs.
  static constexpr std::size_t limits[] = {16 * 1024, 16 * 1024, 16 * 1024, 24, 64, 200};
  const std::size_t limit = limits[next() % (sizeof(limits) / sizeof(limits[0]))];

  const run whole = feed(data, size, {}, limit);
  check_contract(whole, data, size, limit);
  if (whole.outcome.status == request_status::connect) check_policy(whole.outcome);

  std::vector<std::size_t> cuts;
  for (std::size_t at = 0; size > 0 && at < size;) {
    at += 1 + next() % 32;
    if (at < size) cuts.push_back(at);
  }
  check(same(whole, feed(data, size, cuts, limit)));

  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < size; ++i) every.push_back(i);
  check(same(whole, feed(data, size, every, limit)));

  // The input as an authority ("host:port") and as a host or allow-list entry.
  const std::string_view text(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 300));
  std::string host;
  std::uint16_t port = 0;
  if (omsgw::net::parse_authority(text, host, port)) {
    check(port != 0 && omsgw::net::normalize_host(host) == host);
  }
  check_normalisation(text);
  return 0;
}
