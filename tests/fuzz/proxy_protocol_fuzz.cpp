/// \file
/// libFuzzer target for net/proxy_protocol: the input is raw wire bytes (a PROXY
/// header, usually followed by the HTTP request). It is fed whole, at split points
/// derived from a hash of the input, and byte by byte; every way must give the same
/// outcome, and the outcome must respect the reader's contract. Any breach traps.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/proxy_protocol.hpp"

namespace {

using omsgw::net::proxy_command;
using omsgw::net::proxy_header_reader;
using omsgw::net::proxy_outcome;
using omsgw::net::proxy_status;

struct run {
  proxy_outcome outcome;
  std::string leftover;
};

void check(bool condition) {
  if (!condition) __builtin_trap();
}

run feed(const std::uint8_t* data, std::size_t size, const std::vector<std::size_t>& cuts,
         std::size_t limit) {
  proxy_header_reader reader(limit);
  std::size_t start = 0;
  for (std::size_t cut : cuts) {
    reader.feed(data + start, cut - start);
    start = cut;
  }
  reader.feed(data + start, size - start);
  return {reader.outcome(), reader.leftover()};
}

bool same(const run& a, const run& b) {
  return a.outcome.status == b.outcome.status && a.outcome.version == b.outcome.version &&
         a.outcome.command == b.outcome.command && a.outcome.source == b.outcome.source &&
         a.outcome.destination == b.outcome.destination &&
         a.outcome.consumed == b.outcome.consumed && a.outcome.detail == b.outcome.detail &&
         a.leftover == b.leftover;
}

/// The reader's promises, whatever the bytes.
void check_contract(const run& r, const std::uint8_t* data, std::size_t size, std::size_t limit) {
  const auto& o = r.outcome;
  for (char ch : o.detail) check(ch >= 0x20 && ch < 0x7f);  // details go to log lines
  switch (o.status) {
    case proxy_status::need_more:
      check(o.detail.empty() && r.leftover.empty() && o.consumed == 0);
      break;
    case proxy_status::invalid:
      check(!o.detail.empty() && r.leftover.empty() && o.consumed == 0);
      break;
    case proxy_status::ok:
      check(o.version == 1 || o.version == 2);
      check(o.consumed > 0 && o.consumed <= size && o.consumed <= limit);
      check(o.consumed <= omsgw::net::proxy_v2_max_header);
      if (o.version == 1) check(o.consumed <= omsgw::net::proxy_v1_max_line);
      if (o.version == 2) check(o.consumed >= 16);
      check(r.leftover ==
            std::string(reinterpret_cast<const char*>(data) + o.consumed, size - o.consumed));
      check(o.source.has_value() == (o.command == proxy_command::proxy));
      check(o.destination.has_value() == (o.command == proxy_command::proxy));
      check(o.detail.empty());
      break;
  }
}

std::uint64_t fnv1a(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Keep byte-by-byte feeding cheap; longer inputs add nothing a v2 header of this
  // size does not already exercise.
  if (size > 8192) return 0;

  std::uint64_t seed = fnv1a(data, size);
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  // Mostly the default limit, sometimes the smallest useful ones and the largest.
  static constexpr std::size_t limits[] = {
      omsgw::net::proxy_default_header_limit, omsgw::net::proxy_default_header_limit, 28, 52, 107,
      omsgw::net::proxy_v2_max_header};
  const std::size_t limit = limits[next() % (sizeof(limits) / sizeof(limits[0]))];

  const run whole = feed(data, size, {}, limit);
  check_contract(whole, data, size, limit);

  std::vector<std::size_t> cuts;
  for (std::size_t at = 0; size > 0 && at < size;) {
    at += 1 + next() % 24;
    if (at < size) cuts.push_back(at);
  }
  check(same(whole, feed(data, size, cuts, limit)));

  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < size; ++i) every.push_back(i);
  check(same(whole, feed(data, size, every, limit)));
  return 0;
}
