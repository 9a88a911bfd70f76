// libFuzzer target for net/tls_inspector.
//
// Input: byte 0 = policy flags, then frames [direction][u16 length][bytes] (direction
// bit 0: 0 = client, 1 = server; a short last frame takes what is left). Bit 1 of the
// direction byte splits that frame in two feeds at a fuzzer-chosen point, so record
// boundaries meet chunk boundaries everywhere.
// Flags: bits 0-1 min_version 0x0301 + n; bit 2 require_sni_match; bit 3 a subject
// list; bit 4 reject unverifiable certificates; bit 5 a 1 KiB handshake bound.
// tests/net/tls_inspector_test.cpp writes real handshakes in this format
// (OMSGW_WRITE_FUZZ_SEEDS=dir) for the seed corpus.
//
// The client's bytes are fed as the tunnel does: what is not taken while the client
// waits for the server's hello is held and fed again (before newer bytes) once it no
// longer waits. Besides memory errors it checks that a verdict never changes once
// reached, that ended() never goes back, that taken() is all of a feed unless inspection
// ended or the client waits, and that canonical_subject is idempotent.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/tls_inspector.hpp"

namespace tls = omsgw::net::tls;

namespace {

bool same(const tls::inspection_result& a, const tls::inspection_result& b) {
  return a.kind == b.kind && a.reason == b.reason && a.detail == b.detail &&
         a.offered_version == b.offered_version && a.negotiated_version == b.negotiated_version &&
         a.sni == b.sni && a.client_subject == b.client_subject &&
         a.client_cert_unverifiable == b.client_cert_unverifiable;
}

void check(bool ok) {
  if (!ok) std::abort();
}

/// Feeds the held client bytes; drops what was taken (and, once inspection ended,
/// everything: the tunnel relays nothing more or no longer inspects).
const tls::inspection_result& feed(tls::handshake_inspector& in, std::string& held) {
  const auto& r = in.feed_client(reinterpret_cast<const std::uint8_t*>(held.data()), held.size());
  check(in.taken() <= held.size());
  check(in.ended() || in.client_waits() || in.taken() == held.size());
  held.erase(0, in.ended() ? held.size() : in.taken());
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string canonical = tls::canonical_subject(text);
  check(tls::canonical_subject(canonical) == canonical);
  if (!canonical.empty()) check(tls::subject_allowed({std::string(text)}, canonical));
  if (size == 0) return 0;

  const std::uint8_t flags = data[0];
  tls::inspection_policy policy;
  policy.min_version = static_cast<std::uint16_t>(0x0301 + (flags & 3));
  policy.require_sni_match = (flags & 0x04) != 0;
  policy.connect_host = "agent.example.com";
  if (flags & 0x08) policy.allowed_subjects = {"CN=agent01", "C=US,O=Contoso,CN=other"};
  policy.reject_unverifiable_cert = (flags & 0x10) != 0;
  if (flags & 0x20) policy.max_handshake_bytes = 1024;

  tls::handshake_inspector inspector(policy);
  std::string held;  // client bytes not taken yet
  tls::inspection_result final_result;
  bool ended = false;
  std::size_t off = 1;
  while (off < size) {
    const std::uint8_t dir = data[off++];
    std::size_t len = 0;
    if (off + 2 <= size) len = (std::size_t{data[off]} << 8) | data[off + 1];
    off += 2;
    if (off > size) break;
    if (len > size - off) len = size - off;
    const std::uint8_t* chunk = data + off;
    off += len;
    const std::size_t cut = (dir & 2) && len > 0 ? (chunk[0] % len) : len;
    for (const auto& [p, n] : {std::pair{chunk, cut}, std::pair{chunk + cut, len - cut}}) {
      const bool from_client = (dir & 1) == 0;
      if (from_client) held.append(reinterpret_cast<const char*>(p), n);
      const bool waited = inspector.client_waits();
      const auto& r = from_client ? feed(inspector, held) : inspector.feed_server(p, n);
      check(&r == &inspector.result());
      check(from_client || inspector.taken() <= n);
      if (!from_client && waited && !inspector.client_waits()) feed(inspector, held);
      if (ended) {
        check(inspector.ended());
        if (final_result.kind != tls::verdict::need_more) check(same(final_result, r));
      } else if (inspector.ended()) {
        ended = true;
        final_result = r;
      }
    }
  }
  return 0;
}
