// Tests for net/tls_inspector: real handshakes made at test time by OpenSSL client and
// server objects talking through memory BIOs (recorded chunk by chunk, then replayed
// into the inspector whole, split at every offset, byte by byte and in random pieces),
// plus hand-made records for what OpenSSL will not send.

#include "net/tls_inspector.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace tls = omsgw::net::tls;
using bytes = std::vector<std::uint8_t>;

constexpr const char* connect_host = "agent.example.com";

// ---- certificates --------------------------------------------------------------------

struct identity {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, X509_free};
};

/// Self-signed P-256 certificate; `subject` in ASN.1 order (most general first).
identity make_identity(const std::vector<std::pair<const char*, std::string>>& subject) {
  static long serial = 1;
  identity id;
  id.key.reset(EVP_EC_gen("P-256"));
  id.cert.reset(X509_new());
  X509* c = id.cert.get();
  X509_set_version(c, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 86400);
  X509_NAME* name = X509_get_subject_name(c);
  for (const auto& [field, value] : subject) {
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(c, name);
  X509_set_pubkey(c, id.key.get());
  X509_sign(c, id.key.get(), EVP_sha256());
  return id;
}

const identity& server_identity() {
  static const identity id = make_identity({{"CN", "server.example"}});
  return id;
}
/// Subject "CN=agent01,O=Contoso,C=US" in canonical (RFC 4514) order.
const identity& agent_identity() {
  static const identity id = make_identity({{"C", "US"}, {"O", "Contoso"}, {"CN", "agent01"}});
  return id;
}
const identity& intruder_identity() {
  static const identity id = make_identity({{"CN", "intruder"}});
  return id;
}
/// Values that need escaping: "CN=agent\+01,O=Contoso\, Ltd,DC=example,DC=com".
const identity& escaped_identity() {
  static const identity id =
      make_identity({{"DC", "com"}, {"DC", "example"}, {"O", "Contoso, Ltd"}, {"CN", "agent+01"}});
  return id;
}

// ---- recorded handshakes --------------------------------------------------------------

struct chunk {
  bool from_client;
  bytes data;
};
using transcript = std::vector<chunk>;

struct handshake_options {
  int min_version = TLS1_VERSION;
  int client_max = TLS1_3_VERSION;
  int server_max = TLS1_3_VERSION;
  const char* sni = connect_host;  ///< nullptr: no server_name extension
  const identity* client_identity = nullptr;
  bool request_client_cert = false;
  bool hello_retry = false;  ///< server wants P-256, client's only key share is X25519
};

/// A handshake whose server asks for a certificate and whose client, offering at most
/// max_version, sends id's.
handshake_options with_client_cert(const identity& id, int max_version) {
  handshake_options o;
  o.client_max = max_version;
  o.client_identity = &id;
  o.request_client_cert = true;
  return o;
}

struct ssl_deleter {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;
using ctx_ptr = std::unique_ptr<SSL_CTX, ssl_deleter>;
using session_ptr = std::unique_ptr<SSL_SESSION, ssl_deleter>;

struct handshake_run {
  transcript chunks;
  bool completed = false;
  session_ptr session;  ///< the client's, for resumption
};

/// A client and a server context that handshake in memory. One pair can run several
/// handshakes (the server keeps its ticket keys, so a saved session resumes).
class tls_pair {
 public:
  explicit tls_pair(const handshake_options& o) : options_(o) {
    client_.reset(SSL_CTX_new(TLS_client_method()));
    server_.reset(SSL_CTX_new(TLS_server_method()));
    for (SSL_CTX* ctx : {client_.get(), server_.get()}) {
      // OpenSSL 3 refuses TLS 1.0/1.1 above security level 0.
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx, o.min_version);
    }
    SSL_CTX_set_max_proto_version(client_.get(), o.client_max);
    SSL_CTX_set_max_proto_version(server_.get(), o.server_max);
    SSL_CTX_use_certificate(server_.get(), server_identity().cert.get());
    SSL_CTX_use_PrivateKey(server_.get(), server_identity().key.get());
    SSL_CTX_set_session_id_context(server_.get(), reinterpret_cast<const unsigned char*>("t"), 1);
    if (o.client_identity != nullptr) {
      SSL_CTX_use_certificate(client_.get(), o.client_identity->cert.get());
      SSL_CTX_use_PrivateKey(client_.get(), o.client_identity->key.get());
    }
    if (o.request_client_cert) {
      SSL_CTX_set_verify(server_.get(), SSL_VERIFY_PEER,
                         [](int, X509_STORE_CTX*) { return 1; });  // accept any certificate
    }
    if (o.hello_retry) {
      SSL_CTX_set1_groups_list(server_.get(), "P-256");
      SSL_CTX_set1_groups_list(client_.get(), "X25519:P-256");  // key share for X25519 only
    }
  }

  handshake_run run(SSL_SESSION* resume = nullptr) {
    handshake_run out;
    ssl_ptr client(SSL_new(client_.get()));
    ssl_ptr server(SSL_new(server_.get()));
    BIO* client_in = memory_bio();
    BIO* client_out = memory_bio();
    BIO* server_in = memory_bio();
    BIO* server_out = memory_bio();
    SSL_set_bio(client.get(), client_in, client_out);
    SSL_set_bio(server.get(), server_in, server_out);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    if (options_.sni != nullptr) SSL_set_tlsext_host_name(client.get(), options_.sni);
    if (resume != nullptr) SSL_set_session(client.get(), resume);
    for (int round = 0; round < 20; ++round) {
      const int c = SSL_do_handshake(client.get());
      bool moved = relay(client_out, server_in, true, out.chunks);
      const int s = SSL_do_handshake(server.get());
      moved = relay(server_out, client_in, false, out.chunks) || moved;
      if (!moved && (c == 1 || s == 1 || round > 0)) break;
    }
    out.completed = SSL_is_init_finished(client.get()) && SSL_is_init_finished(server.get());
    out.session.reset(SSL_get1_session(client.get()));
    // Freeing an SSL that never shut down marks its session not resumable.
    for (SSL* ssl : {client.get(), server.get()}) {
      SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    ERR_clear_error();
    return out;
  }

 private:
  static BIO* memory_bio() {
    BIO* b = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(b, -1);  // empty means "retry", not EOF
    return b;
  }
  static bool relay(BIO* from, BIO* to, bool from_client, transcript& t) {
    bytes data;
    std::uint8_t buf[4096];
    int n = 0;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) data.insert(data.end(), buf, buf + n);
    if (data.empty()) return false;
    BIO_write(to, data.data(), static_cast<int>(data.size()));
    t.push_back({from_client, std::move(data)});
    return true;
  }

  handshake_options options_;
  ctx_ptr client_;
  ctx_ptr server_;
};

transcript record_handshake(const handshake_options& o) {
  handshake_run run = tls_pair(o).run();
  EXPECT_TRUE(run.completed) << "OpenSSL could not complete the test handshake";
  return std::move(run.chunks);
}

// ---- feeding --------------------------------------------------------------------------

tls::inspection_policy make_policy(std::uint16_t min_version = 0x0303) {
  tls::inspection_policy p;
  p.min_version = min_version;
  p.connect_host = connect_host;
  return p;
}

/// Recorded handshakes never have the client send while it waits for the server's
/// hello, so every byte is taken until inspection ends.
void feed(tls::handshake_inspector& in, bool from_client, const std::uint8_t* p, std::size_t n) {
  if (from_client) {
    in.feed_client(p, n);
  } else {
    in.feed_server(p, n);
  }
  EXPECT_TRUE(in.ended() || in.taken() == n) << in.taken() << " of " << n;
}

tls::inspection_result inspect(const transcript& t, const tls::inspection_policy& p) {
  tls::handshake_inspector in(p);
  for (const auto& c : t) feed(in, c.from_client, c.data.data(), c.data.size());
  return in.result();
}

/// Chunk `index` fed in two pieces cut at `at`, the others whole.
tls::inspection_result inspect_split(const transcript& t, const tls::inspection_policy& p,
                                     std::size_t index, std::size_t at) {
  tls::handshake_inspector in(p);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto& c = t[i];
    if (i == index) {
      feed(in, c.from_client, c.data.data(), at);
      feed(in, c.from_client, c.data.data() + at, c.data.size() - at);
    } else {
      feed(in, c.from_client, c.data.data(), c.data.size());
    }
  }
  return in.result();
}

tls::inspection_result inspect_in_pieces(const transcript& t, const tls::inspection_policy& p,
                                         std::size_t max_piece, unsigned seed) {
  std::mt19937 rng(seed);
  tls::handshake_inspector in(p);
  for (const auto& c : t) {
    std::size_t off = 0;
    while (off < c.data.size()) {
      const std::size_t n = std::min(c.data.size() - off,
                                     std::uniform_int_distribution<std::size_t>(1, max_piece)(rng));
      feed(in, c.from_client, c.data.data() + off, n);
      off += n;
    }
  }
  return in.result();
}

void expect_same(const tls::inspection_result& want, const tls::inspection_result& got,
                 const std::string& where) {
  EXPECT_EQ(want.kind, got.kind) << where << ": " << got.detail;
  EXPECT_EQ(want.reason, got.reason) << where;
  EXPECT_EQ(want.detail, got.detail) << where;
  EXPECT_EQ(want.offered_version, got.offered_version) << where;
  EXPECT_EQ(want.negotiated_version, got.negotiated_version) << where;
  EXPECT_EQ(want.sni, got.sni) << where;
  EXPECT_EQ(want.client_subject, got.client_subject) << where;
  EXPECT_EQ(want.client_cert_unverifiable, got.client_cert_unverifiable) << where;
}

// ---- hand-made records ----------------------------------------------------------------

void put16(bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put24(bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}
void append(bytes& b, const bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

bytes extension(std::uint16_t type, const bytes& data) {
  bytes b;
  put16(b, type);
  put16(b, data.size());
  append(b, data);
  return b;
}

bytes sni_extension(const std::string& host) {
  bytes entry{0};  // host_name
  put16(entry, host.size());
  entry.insert(entry.end(), host.begin(), host.end());
  bytes list;
  put16(list, entry.size());
  append(list, entry);
  return extension(0, list);
}

bytes versions_extension(const std::vector<std::uint16_t>& versions) {
  bytes data{static_cast<std::uint8_t>(versions.size() * 2)};
  for (auto v : versions) put16(data, v);
  return extension(43, data);
}

/// ClientHello body; no extension block at all when `extensions` is null.
bytes client_hello_body(std::uint16_t legacy_version, const std::vector<bytes>* extensions) {
  bytes b;
  put16(b, legacy_version);
  b.insert(b.end(), 32, 0x11);  // random
  b.push_back(0);               // session id
  put16(b, 2);
  put16(b, 0x002f);  // TLS_RSA_WITH_AES_128_CBC_SHA
  b.push_back(1);
  b.push_back(0);  // null compression
  if (extensions != nullptr) {
    bytes block;
    for (const auto& e : *extensions) append(block, e);
    put16(b, block.size());
    append(b, block);
  }
  return b;
}

bytes server_hello_body(std::uint16_t legacy_version, const std::vector<bytes>& extensions,
                        bool retry = false) {
  static const bytes retry_random = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
                                     0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
                                     0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
                                     0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};
  bytes b;
  put16(b, legacy_version);
  if (retry) {
    append(b, retry_random);
  } else {
    b.insert(b.end(), 32, 0x22);
  }
  b.push_back(0);
  put16(b, 0x1301);
  b.push_back(0);
  bytes block;
  for (const auto& e : extensions) append(block, e);
  put16(b, block.size());
  append(b, block);
  return b;
}

bytes message(std::uint8_t type, const bytes& body) {
  bytes b{type};
  put24(b, body.size());
  append(b, body);
  return b;
}

bytes record(std::uint8_t type, const bytes& body, std::uint16_t version = 0x0301) {
  bytes b{type};
  put16(b, version);
  put16(b, body.size());
  append(b, body);
  return b;
}

bytes client_hello(const std::vector<bytes>& extensions, std::uint16_t legacy = 0x0303) {
  return record(22, message(1, client_hello_body(legacy, &extensions)));
}

bytes server_hello(std::uint16_t legacy, const std::vector<bytes>& extensions = {}) {
  return record(22, message(2, server_hello_body(legacy, extensions)), 0x0303);
}

const tls::inspection_result& feed_client(tls::handshake_inspector& in, const bytes& b) {
  return in.feed_client(b.data(), b.size());
}
const tls::inspection_result& feed_server(tls::handshake_inspector& in, const bytes& b) {
  return in.feed_server(b.data(), b.size());
}
bytes text(const std::string& s) { return bytes(s.begin(), s.end()); }

// ==== real handshakes ==================================================================

TEST(TlsInspector, VerifiesTls13HandshakeWithMatchingSni) {
  const auto r = inspect(record_handshake({}), make_policy());
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.offered_version, 0x0304);
  EXPECT_EQ(r.negotiated_version, 0x0304);
  EXPECT_EQ(r.sni, "agent.example.com");
  EXPECT_EQ(r.detail, "TLS 1.3 negotiated");
}

TEST(TlsInspector, VerifiesTls12Handshake) {
  handshake_options o;
  o.client_max = TLS1_2_VERSION;
  const auto r = inspect(record_handshake(o), make_policy());
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.offered_version, 0x0303);
  EXPECT_EQ(r.negotiated_version, 0x0303);
}

TEST(TlsInspector, VerifiesTls11AndTls10WhenTheMinimumAllowsThem) {
  for (int v : {TLS1_1_VERSION, TLS1_VERSION}) {
    handshake_options o;
    o.client_max = v;
    const auto r = inspect(record_handshake(o), make_policy(0x0301));
    EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
    EXPECT_EQ(r.negotiated_version, v);
    EXPECT_EQ(r.offered_version, v);
  }
}

TEST(TlsInspector, RejectsClientWhoseHighestOfferIsBelowTheMinimum) {
  handshake_options o;
  o.client_max = TLS1_VERSION;
  const auto r = inspect(record_handshake(o), make_policy(0x0303));
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::version_too_low);
  EXPECT_EQ(r.detail, "client offered TLS 1.0, minimum is TLS 1.2");
  EXPECT_EQ(r.offered_version, 0x0301);
}

TEST(TlsInspector, RejectsServerThatChoosesAVersionBelowTheMinimum) {
  handshake_options o;
  o.server_max = TLS1_1_VERSION;
  const auto r = inspect(record_handshake(o), make_policy(0x0303));
  EXPECT_EQ(r.reason, tls::reject_reason::version_too_low);
  EXPECT_EQ(r.detail, "server chose TLS 1.1, minimum is TLS 1.2");
  EXPECT_EQ(r.offered_version, 0x0304);
  EXPECT_EQ(r.negotiated_version, 0x0302);
}

TEST(TlsInspector, RejectsTls13ClientWhenTheMinimumIsTls13ButServerChoosesTls12) {
  handshake_options o;
  o.server_max = TLS1_2_VERSION;
  const auto r = inspect(record_handshake(o), make_policy(0x0304));
  EXPECT_EQ(r.reason, tls::reject_reason::version_too_low);
  EXPECT_EQ(r.negotiated_version, 0x0303);
}

TEST(TlsInspector, VerifiesHandshakeWithoutSni) {
  handshake_options o;
  o.sni = nullptr;
  const auto r = inspect(record_handshake(o), make_policy());
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.sni, "");
}

TEST(TlsInspector, RejectsSniThatDiffersFromTheConnectHost) {
  handshake_options o;
  o.sni = "evil.example.net";
  const auto r = inspect(record_handshake(o), make_policy());
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::sni_mismatch);
  EXPECT_EQ(r.sni, "evil.example.net");
  EXPECT_NE(r.detail.find("evil.example.net"), std::string::npos);
}

TEST(TlsInspector, IgnoresSniMismatchWhenNotRequired) {
  handshake_options o;
  o.sni = "evil.example.net";
  auto p = make_policy();
  p.require_sni_match = false;
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.sni, "evil.example.net");
}

TEST(TlsInspector, ComparesSniCaseInsensitivelyWithoutTrailingDot) {
  handshake_options o;
  o.sni = "Agent.Example.COM.";
  auto p = make_policy();
  p.connect_host = "AGENT.example.com.";  // normalised by the inspector too
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.sni, "agent.example.com");
}

TEST(TlsInspector, AcceptsTls12ClientCertificateOnTheList) {
  handshake_options o = with_client_cert(agent_identity(), TLS1_2_VERSION);
  auto p = make_policy();
  p.allowed_subjects = {"CN=other", "CN=agent01,O=Contoso,C=US"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.client_subject, "CN=agent01,O=Contoso,C=US");
  EXPECT_FALSE(r.client_cert_unverifiable);
}

/// Real handshakes through a shared budget (net/inspection_budget): whole, cut at every
/// offset of each chunk and byte by byte, each gives back every byte at its verdict,
/// and a budget smaller than a client certificate flight refuses it.
TEST(TlsInspector, GivesEveryByteOfTheBudgetBack) {
  handshake_options o = with_client_cert(agent_identity(), TLS1_2_VERSION);
  const transcript t = record_handshake(o);
  tls::inspection_budget pool;
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  p.budget = {&pool, 1 << 20};
  EXPECT_EQ(inspect(t, p).kind, tls::verdict::verified);
  EXPECT_EQ(pool.held(), 0u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (std::size_t at = 1; at < t[i].data.size(); at += 97) {
      EXPECT_EQ(inspect_split(t, p, i, at).kind, tls::verdict::verified);
      EXPECT_EQ(pool.held(), 0u) << "chunk " << i << " cut at " << at;
    }
  }
  EXPECT_EQ(inspect_in_pieces(t, p, 1, 7).kind, tls::verdict::verified);
  EXPECT_EQ(pool.held(), 0u);

  // Between messages nothing is held: once the ClientHello is judged, its buffer is free.
  {
    tls::handshake_inspector in(p);
    in.feed_client(t[0].data.data(), t[0].data.size());
    EXPECT_TRUE(in.client_waits());
    EXPECT_EQ(pool.held(), 0u);
  }

  p.budget.limit = 256;  // less than the server's certificate flight
  EXPECT_EQ(inspect(t, p).reason, tls::reject_reason::budget);
  EXPECT_EQ(pool.held(), 0u);
}

TEST(TlsInspector, AcceptsCnOnlyEntryAndEntriesInEitherOrder) {
  handshake_options o = with_client_cert(agent_identity(), TLS1_2_VERSION);
  const transcript t = record_handshake(o);
  for (const char* entry : {"CN=agent01", "cn = AGENT01", "C = US, O = Contoso, CN = agent01",
                            "commonName=agent01, organizationName=contoso, countryName=us"}) {
    auto p = make_policy();
    p.allowed_subjects = {entry};
    EXPECT_EQ(inspect(t, p).kind, tls::verdict::verified) << entry;
  }
  for (const char* entry :
       {"CN=agent01,O=Contoso", "O=Contoso", "CN=agent0", "CN=agent01,C=US,O=Contoso"}) {
    auto p = make_policy();
    p.allowed_subjects = {entry};
    EXPECT_EQ(inspect(t, p).reason, tls::reject_reason::client_cert) << entry;
  }
}

TEST(TlsInspector, RejectsTls12ClientCertificateNotOnTheList) {
  handshake_options o = with_client_cert(intruder_identity(), TLS1_2_VERSION);
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert);
  EXPECT_EQ(r.client_subject, "CN=intruder");
  EXPECT_NE(r.detail.find("CN=intruder"), std::string::npos) << r.detail;
}

TEST(TlsInspector, RejectsTls10ClientCertificateNotOnTheList) {
  handshake_options o = with_client_cert(intruder_identity(), TLS1_VERSION);
  auto p = make_policy(0x0301);
  p.allowed_subjects = {"CN=agent01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert) << r.detail;
  EXPECT_EQ(r.negotiated_version, 0x0301);
}

TEST(TlsInspector, PrintsCertificateSubjectInRfc4514OrderWithEscapes) {
  handshake_options o = with_client_cert(escaped_identity(), TLS1_2_VERSION);
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent\\+01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.client_subject, "CN=agent\\+01,O=Contoso\\, Ltd,DC=example,DC=com");
}

TEST(TlsInspector, RejectsTls12HandshakeWithoutClientCertificateWhenSubjectsAreEnforced) {
  handshake_options o;
  o.client_max = TLS1_2_VERSION;
  o.client_identity = &agent_identity();  // has one, but the server does not ask
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert);
  EXPECT_EQ(r.detail, "no client certificate");
}

TEST(TlsInspector, RejectsEmptyClientCertificateList) {
  handshake_options o;
  o.client_max = TLS1_2_VERSION;
  o.request_client_cert = true;  // client has none: sends an empty Certificate
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert);
  EXPECT_EQ(r.detail, "no client certificate (empty certificate list)");
}

TEST(TlsInspector, LetsTls13ThroughWithUnverifiableClientCertificateByDefault) {
  handshake_options o;
  o.client_identity = &intruder_identity();
  o.request_client_cert = true;
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_TRUE(r.client_cert_unverifiable);
  EXPECT_EQ(r.client_subject, "");
}

TEST(TlsInspector, RejectsTls13WithSubjectListWhenUnverifiableCertificatesAreRejected) {
  handshake_options o;
  o.client_identity = &agent_identity();
  o.request_client_cert = true;
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  p.reject_unverifiable_cert = true;
  const auto r = inspect(record_handshake(o), p);
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::cert_unverifiable);
}

bool is_hello_retry(const chunk& c) {
  static const std::uint8_t random[] = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11};
  return !c.from_client && c.data.size() > 11 + sizeof random && c.data[5] == 2 &&
         std::equal(std::begin(random), std::end(random), c.data.begin() + 11);
}

TEST(TlsInspector, FollowsHelloRetryRequestToTheSecondClientHello) {
  handshake_options o;
  o.hello_retry = true;
  const transcript t = record_handshake(o);
  ASSERT_GE(t.size(), 3u);
  ASSERT_TRUE(is_hello_retry(t[1])) << "OpenSSL did not send a HelloRetryRequest";

  tls::handshake_inspector in(make_policy());
  feed_client(in, t[0].data);
  feed_server(in, t[1].data);
  EXPECT_EQ(in.result().kind, tls::verdict::need_more);
  EXPECT_EQ(inspect(t, make_policy()).kind, tls::verdict::verified);
}

TEST(TlsInspector, ChecksSniOfTheSecondClientHello) {
  handshake_options o;
  o.hello_retry = true;
  const transcript t = record_handshake(o);
  ASSERT_TRUE(is_hello_retry(t[1]));
  tls::handshake_inspector in(make_policy());
  feed_client(in, t[0].data);
  feed_server(in, t[1].data);
  feed_client(in, record(20, {1}, 0x0303));  // compatibility ChangeCipherSpec
  const auto& r = feed_client(
      in, client_hello({sni_extension("evil.example.net"), versions_extension({0x0304})}));
  EXPECT_EQ(r.reason, tls::reject_reason::sni_mismatch);
}

TEST(TlsInspector, RejectsResumedTls12SessionWhenSubjectsAreEnforced) {
  handshake_options o = with_client_cert(agent_identity(), TLS1_2_VERSION);
  tls_pair pair(o);
  const handshake_run full = pair.run();
  ASSERT_TRUE(full.completed);
  const handshake_run resumed = pair.run(full.session.get());
  ASSERT_TRUE(resumed.completed);

  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  EXPECT_EQ(inspect(full.chunks, p).kind, tls::verdict::verified);
  const auto r = inspect(resumed.chunks, p);
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert);
  EXPECT_EQ(r.detail, "no client certificate (resumed session)");
  EXPECT_EQ(inspect(resumed.chunks, make_policy()).kind, tls::verdict::verified);
}

// ---- segmentation ----------------------------------------------------------------------

struct scenario {
  const char* name;
  handshake_options options;
  tls::inspection_policy policy;
  tls::verdict expected;
};

std::vector<scenario> scenarios() {
  auto subjects = make_policy();
  subjects.allowed_subjects = {"CN=agent01"};
  handshake_options tls13_cert;
  tls13_cert.client_identity = &agent_identity();
  tls13_cert.request_client_cert = true;
  handshake_options tls12_cert = tls13_cert;
  tls12_cert.client_max = TLS1_2_VERSION;
  handshake_options tls12_intruder = tls12_cert;
  tls12_intruder.client_identity = &intruder_identity();
  handshake_options tls10;
  tls10.client_max = TLS1_VERSION;
  handshake_options retry;
  retry.hello_retry = true;
  handshake_options mismatch;
  mismatch.sni = "evil.example.net";
  return {
      {"tls13", {}, make_policy(), tls::verdict::verified},
      {"tls13 subjects", tls13_cert, subjects, tls::verdict::verified},
      {"tls12 cert allowed", tls12_cert, subjects, tls::verdict::verified},
      {"tls12 cert refused", tls12_intruder, subjects, tls::verdict::reject},
      {"tls10 too low", tls10, make_policy(), tls::verdict::reject},
      {"tls10 allowed", tls10, make_policy(0x0301), tls::verdict::verified},
      {"hello retry", retry, make_policy(), tls::verdict::verified},
      {"sni mismatch", mismatch, make_policy(), tls::verdict::reject},
  };
}

bool same(const tls::inspection_result& a, const tls::inspection_result& b) {
  return a.kind == b.kind && a.reason == b.reason && a.detail == b.detail &&
         a.offered_version == b.offered_version && a.negotiated_version == b.negotiated_version &&
         a.sni == b.sni && a.client_subject == b.client_subject &&
         a.client_cert_unverifiable == b.client_cert_unverifiable;
}

TEST(TlsInspector, GivesTheSameVerdictWhenAnyChunkIsSplitAtAnyOffset) {
  for (const auto& s : scenarios()) {
    const transcript t = record_handshake(s.options);
    const auto whole = inspect(t, s.policy);
    ASSERT_EQ(whole.kind, s.expected) << s.name << ": " << whole.detail;
    for (std::size_t i = 0; i < t.size(); ++i) {
      for (std::size_t at = 0; at <= t[i].data.size(); ++at) {
        const auto r = inspect_split(t, s.policy, i, at);
        if (!same(whole, r)) {
          expect_same(
              whole, r,
              std::string(s.name) + " chunk " + std::to_string(i) + " at " + std::to_string(at));
          break;
        }
      }
    }
  }
}

TEST(TlsInspector, GivesTheSameVerdictWhenFedByteByByteOrInRandomPieces) {
  for (const auto& s : scenarios()) {
    const transcript t = record_handshake(s.options);
    const auto whole = inspect(t, s.policy);
    expect_same(whole, inspect_in_pieces(t, s.policy, 1, 0), std::string(s.name) + " bytewise");
    for (unsigned seed = 1; seed <= 20; ++seed) {
      expect_same(whole, inspect_in_pieces(t, s.policy, 97, seed),
                  std::string(s.name) + " seed " + std::to_string(seed));
    }
  }
}

TEST(TlsInspector, ReassemblesAClientHelloSpreadOverManyRecords) {
  const transcript t = record_handshake({});
  const bytes& first = t[0].data;
  ASSERT_EQ(first[0], 22);
  const std::size_t len = (std::size_t{first[3]} << 8) | first[4];
  const bytes msg(first.begin() + 5, first.begin() + 5 + static_cast<std::ptrdiff_t>(len));
  for (std::size_t size : {1u, 2u, 3u, 4u, 5u, 100u}) {
    transcript fragmented = t;
    bytes records;
    for (std::size_t off = 0; off < msg.size(); off += size) {
      const std::size_t n = std::min(size, msg.size() - off);
      append(records, record(22, bytes(msg.begin() + static_cast<std::ptrdiff_t>(off),
                                       msg.begin() + static_cast<std::ptrdiff_t>(off + n))));
    }
    records.insert(records.end(), first.begin() + 5 + static_cast<std::ptrdiff_t>(len),
                   first.end());
    fragmented[0].data = records;
    const auto r = inspect(fragmented, make_policy());
    EXPECT_EQ(r.kind, tls::verdict::verified) << size << ": " << r.detail;
    EXPECT_EQ(r.sni, "agent.example.com");
  }
}

TEST(TlsInspector, ReadsSeveralHandshakeMessagesCoalescedInOneRecord) {
  // ServerHello (TLS 1.2) + Certificate + ServerHelloDone in one record, then the client's
  // Certificate + ClientKeyExchange in one record.
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  tls::handshake_inspector in(p);
  feed_client(in, client_hello({sni_extension(connect_host)}));
  bytes flight = message(2, server_hello_body(0x0303, {}));
  append(flight, message(11, {0, 0, 0}));
  append(flight, message(14, {}));
  feed_server(in, record(22, flight, 0x0303));
  EXPECT_EQ(in.result().kind, tls::verdict::need_more);
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(agent_identity().cert.get(), &der);
  bytes certs;
  put24(certs, static_cast<std::size_t>(der_len));
  certs.insert(certs.end(), der, der + der_len);
  OPENSSL_free(der);
  bytes list;
  put24(list, certs.size());
  append(list, certs);
  bytes client_flight = message(11, list);
  append(client_flight, message(16, {0, 1, 2}));
  const auto& r = feed_client(in, record(22, client_flight, 0x0303));
  EXPECT_EQ(r.kind, tls::verdict::verified) << r.detail;
  EXPECT_EQ(r.client_subject, "CN=agent01,O=Contoso,C=US");
}

// ==== hand-made bytes ==================================================================

TEST(TlsInspector, RejectsSslv2FormatClientHello) {
  // 2-byte header with the high bit set, then CLIENT-HELLO (1), version 0x0301, ...
  const bytes hello = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
  tls::handshake_inspector in(make_policy());
  in.feed_client(hello.data(), 2);
  EXPECT_EQ(in.result().kind, tls::verdict::need_more);
  in.feed_client(hello.data() + 2, 1);
  EXPECT_EQ(in.result().kind, tls::verdict::reject);
  EXPECT_EQ(in.result().reason, tls::reject_reason::ssl_version);
}

TEST(TlsInspector, RejectsSsl3ClientHello) {
  tls::handshake_inspector in(make_policy(0x0301));
  const auto& r =
      feed_client(in, record(22, message(1, client_hello_body(0x0300, nullptr)), 0x0300));
  EXPECT_EQ(r.reason, tls::reject_reason::ssl_version);
  EXPECT_EQ(r.offered_version, 0x0300);
  EXPECT_EQ(r.detail, "client offered SSL 3.0");
}

TEST(TlsInspector, UsesSupportedVersionsOverTheLegacyVersion) {
  tls::handshake_inspector in(make_policy(0x0304));
  const auto& r = feed_client(in, client_hello({versions_extension({0x0304, 0x0303})}, 0x0300));
  EXPECT_EQ(r.kind, tls::verdict::need_more) << r.detail;
  EXPECT_EQ(r.offered_version, 0x0304);
}

TEST(TlsInspector, IgnoresGreaseInSupportedVersions) {
  {
    tls::handshake_inspector in(make_policy(0x0304));
    const auto& r = feed_client(in, client_hello({versions_extension({0x7a7a, 0x0303, 0xfafa})}));
    EXPECT_EQ(r.reason, tls::reject_reason::version_too_low);
    EXPECT_EQ(r.offered_version, 0x0303);
  }
  {
    tls::handshake_inspector in(make_policy());
    const auto& r = feed_client(in, client_hello({versions_extension({0x0a0a})}));
    EXPECT_EQ(r.reason, tls::reject_reason::version_too_low);
    EXPECT_EQ(r.offered_version, 0);
  }
}

TEST(TlsInspector, RejectsServerHelloChoosingSsl3) {
  tls::handshake_inspector in(make_policy(0x0301));
  feed_client(in, client_hello({}, 0x0301));
  const auto& r = feed_server(in, server_hello(0x0300));
  EXPECT_EQ(r.reason, tls::reject_reason::ssl_version);
  EXPECT_EQ(r.negotiated_version, 0x0300);
}

TEST(TlsInspector, RejectsPlainHttpAsNotTls) {
  tls::handshake_inspector in(make_policy());
  const auto& r = feed_client(in, text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(r.kind, tls::verdict::reject);
  EXPECT_EQ(r.reason, tls::reject_reason::not_tls);
  tls::handshake_inspector one_byte(make_policy());
  EXPECT_EQ(feed_client(one_byte, text("G")).reason, tls::reject_reason::not_tls);
}

TEST(TlsInspector, RejectsFirstRecordWithMajorVersionOtherThanThree) {
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, bytes{0x16, 0x02}).reason, tls::reject_reason::not_tls);
}

TEST(TlsInspector, RejectsFirstHandshakeMessageThatIsNotAClientHello) {
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, record(22, message(2, server_hello_body(0x0303, {})))).reason,
            tls::reject_reason::not_tls);
}

TEST(TlsInspector, RejectsZeroLengthHandshakeRecord) {
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, bytes{0x16, 0x03, 0x01, 0x00, 0x00}).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsRecordLongerThanTheProtocolAllows) {
  tls::handshake_inspector at_limit(make_policy());
  EXPECT_EQ(feed_client(at_limit, bytes{0x16, 0x03, 0x01, 0x48, 0x00}).kind,
            tls::verdict::need_more);
  tls::handshake_inspector over(make_policy());
  EXPECT_EQ(feed_client(over, bytes{0x16, 0x03, 0x01, 0x48, 0x01}).kind, tls::verdict::parse_error);
  tls::handshake_inspector huge(make_policy());
  EXPECT_EQ(feed_client(huge, bytes{0x16, 0x03, 0x01, 0xff, 0xff}).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsClientHelloWithTruncatedExtension) {
  bytes sni = sni_extension(connect_host);
  sni[3] += 5;  // extension claims more bytes than the block holds
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, client_hello({sni})).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsClientHelloWhoseLengthsDisagree) {
  const std::vector<bytes> exts = {sni_extension(connect_host)};
  bytes body = client_hello_body(0x0303, &exts);
  {
    bytes longer = body;
    longer.push_back(0);  // a byte after the extension block
    tls::handshake_inspector in(make_policy());
    EXPECT_EQ(feed_client(in, record(22, message(1, longer))).kind, tls::verdict::parse_error);
  }
  {
    bytes shorter(body.begin(), body.end() - 1);  // extension block overruns the message
    tls::handshake_inspector in(make_policy());
    EXPECT_EQ(feed_client(in, record(22, message(1, shorter))).kind, tls::verdict::parse_error);
  }
  {
    bytes no_ciphers(body.begin(), body.begin() + 35);  // ends inside the header fields
    tls::handshake_inspector in(make_policy());
    EXPECT_EQ(feed_client(in, record(22, message(1, no_ciphers))).kind, tls::verdict::parse_error);
  }
  {
    bytes bad_sni = sni_extension(connect_host);
    bad_sni[5] -= 1;  // server_name list length one short
    tls::handshake_inspector in(make_policy());
    EXPECT_EQ(feed_client(in, client_hello({bad_sni})).kind, tls::verdict::parse_error);
  }
}

TEST(TlsInspector, RejectsDuplicateServerNameExtension) {
  tls::handshake_inspector in(make_policy());
  const auto& r = feed_client(
      in, client_hello({sni_extension(connect_host), sni_extension("evil.example.net")}));
  EXPECT_EQ(r.kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsSniWithControlCharacters) {
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, client_hello({sni_extension("agent.example.com\nx")})).kind,
            tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsApplicationDataOrHeartbeatBeforeTheHandshakeCompletes) {
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};  // TLS 1.2: the verdict waits for the Certificate
  for (std::uint8_t type : {23, 24, 99}) {
    tls::handshake_inspector in(p);
    feed_client(in, client_hello({sni_extension(connect_host)}));
    feed_server(in, server_hello(0x0303));
    EXPECT_EQ(feed_client(in, record(type, {1, 2, 3})).kind, tls::verdict::parse_error)
        << int{type};
  }
  tls::handshake_inspector in(make_policy());
  feed_client(in, client_hello({}));
  EXPECT_EQ(feed_server(in, record(23, {1, 2, 3})).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, TakesNothingFromTheClientBetweenItsHelloAndTheServersHello) {
  // A ClientHello offering early data, a dummy ChangeCipherSpec and 1 MB of early data
  // in one chunk: only the ClientHello is taken until the server has answered it.
  const bytes hello =
      client_hello({sni_extension(connect_host), versions_extension({0x0304}), extension(42, {})});
  bytes chunk = hello;
  append(chunk, record(20, {1}, 0x0303));
  for (int i = 0; i < 64; ++i) append(chunk, record(23, bytes(16000, 0xee), 0x0303));
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_client(in, chunk).kind, tls::verdict::need_more);
  EXPECT_EQ(in.taken(), hello.size());
  EXPECT_TRUE(in.client_waits());
  const bytes rest(chunk.begin() + static_cast<std::ptrdiff_t>(hello.size()), chunk.end());
  feed_client(in, rest);
  EXPECT_EQ(in.taken(), 0u);  // still waiting
  EXPECT_EQ(feed_server(in, server_hello(0x0303, {extension(43, {0x03, 0x04})})).kind,
            tls::verdict::verified);
  EXPECT_FALSE(in.client_waits());
  EXPECT_EQ(in.taken(), server_hello(0x0303, {extension(43, {0x03, 0x04})}).size());
}

TEST(TlsInspector, WaitsForTheServerAfterASplitClientHelloToo) {
  const bytes hello = client_hello({sni_extension(connect_host)});
  bytes chunk = hello;
  append(chunk, text("SSH-2.0-evil"));
  for (std::size_t at = 1; at < hello.size(); ++at) {
    tls::handshake_inspector in(make_policy());
    in.feed_client(chunk.data(), at);
    ASSERT_EQ(in.taken(), at);
    ASSERT_FALSE(in.client_waits());
    in.feed_client(chunk.data() + at, chunk.size() - at);
    ASSERT_EQ(in.taken(), hello.size() - at) << at;
    ASSERT_TRUE(in.client_waits());
    ASSERT_EQ(in.result().kind, tls::verdict::need_more);
  }
}

TEST(TlsInspector, SkipsEarlyDataAfterAHelloRetryRequestWithinTheBound) {
  const bytes hello =
      client_hello({sni_extension(connect_host), versions_extension({0x0304}), extension(42, {})});
  const bytes retry =
      record(22, message(2, server_hello_body(0x0303, {extension(43, {3, 4})}, true)), 0x0303);
  bytes early = record(20, {1}, 0x0303);
  for (int i = 0; i < 3; ++i) append(early, record(23, bytes(16000, 0xee), 0x0303));
  tls::handshake_inspector in(make_policy());
  feed_client(in, hello);
  EXPECT_TRUE(in.client_waits());
  feed_server(in, retry);
  EXPECT_FALSE(in.client_waits());
  // The server skips the early data it did not accept (RFC 8446 4.2.10); so does the
  // inspector, counting it against max_handshake_bytes.
  EXPECT_EQ(feed_client(in, early).kind, tls::verdict::need_more);
  EXPECT_EQ(in.taken(), early.size());
  feed_client(in, client_hello({sni_extension(connect_host), versions_extension({0x0304})}));
  EXPECT_TRUE(in.client_waits());
  EXPECT_EQ(feed_server(in, server_hello(0x0303, {extension(43, {0x03, 0x04})})).kind,
            tls::verdict::verified);

  tls::handshake_inspector over(make_policy());
  feed_client(over, hello);
  feed_server(over, retry);
  for (int i = 0; i < 5 && !over.done(); ++i) {
    feed_client(over, record(23, bytes(16000, 0xee), 0x0303));
  }
  EXPECT_EQ(over.result().reason, tls::reject_reason::too_large);

  // Without early_data offered, application data is still refused.
  tls::handshake_inspector plain(make_policy());
  feed_client(plain, client_hello({sni_extension(connect_host), versions_extension({0x0304})}));
  feed_server(plain, retry);
  EXPECT_EQ(feed_client(plain, record(23, bytes(100, 0xee), 0x0303)).kind,
            tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsOtherRecordInsideAFragmentedHandshakeMessage) {
  bytes hello = client_hello({sni_extension(connect_host)});
  const bytes first_half(hello.begin() + 5, hello.begin() + 30);
  tls::handshake_inspector in(make_policy());
  feed_client(in, record(22, first_half));
  EXPECT_EQ(feed_client(in, record(21, {2, 40})).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsServerDataBeforeTheClientHello) {
  tls::handshake_inspector in(make_policy());
  EXPECT_EQ(feed_server(in, server_hello(0x0303)).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsHandshakeLargerThanTheLimit) {
  const transcript t = record_handshake({});
  auto p = make_policy();
  p.max_handshake_bytes = 100;
  const auto r = inspect(t, p);
  EXPECT_EQ(r.reason, tls::reject_reason::too_large);

  // A message declaring 16 MiB is refused at its header, not buffered.
  tls::handshake_inspector in(make_policy());
  const auto& huge = feed_client(in, bytes{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff});
  EXPECT_EQ(huge.reason, tls::reject_reason::too_large);

  // Many small records add up.
  tls::handshake_inspector many(make_policy());
  bytes msg = {0x01, 0x00, 0xff, 0x00};  // ClientHello of 65280 bytes, delivered 1 KiB a record
  feed_client(many, record(22, msg));
  for (int i = 0; i < 70 && !many.done(); ++i) feed_client(many, record(22, bytes(1024, 0)));
  EXPECT_EQ(many.result().reason, tls::reject_reason::too_large);
}

TEST(TlsInspector, RejectsSecondHelloRetryRequest) {
  const bytes retry =
      record(22, message(2, server_hello_body(0x0303, {extension(43, {3, 4})}, true)), 0x0303);
  tls::handshake_inspector in(make_policy());
  feed_client(in, client_hello({versions_extension({0x0304})}));
  EXPECT_EQ(feed_server(in, retry).kind, tls::verdict::need_more);
  feed_client(in, client_hello({versions_extension({0x0304})}));
  EXPECT_EQ(feed_server(in, retry).kind, tls::verdict::parse_error);
}

TEST(TlsInspector, RejectsClientCertificateThatIsNotX509) {
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  tls::handshake_inspector in(p);
  feed_client(in, client_hello({}));
  feed_server(in, server_hello(0x0303));
  const auto& r = feed_client(in, record(22, message(11, {0, 0, 6, 0, 0, 3, 0x30, 0x01, 0x00})));
  EXPECT_EQ(r.reason, tls::reject_reason::client_cert);
  tls::handshake_inspector bad(p);
  feed_client(bad, client_hello({}));
  feed_server(bad, server_hello(0x0303));
  EXPECT_EQ(feed_client(bad, record(22, message(11, {0, 0, 9, 0, 0, 3, 1}))).kind,
            tls::verdict::parse_error);
}

TEST(TlsInspector, EndsWithoutVerdictOnAFatalAlert) {
  tls::handshake_inspector in(make_policy());
  feed_client(in, client_hello({sni_extension(connect_host)}));
  feed_server(in, record(21, {1, 112}, 0x0303));  // warning unrecognized_name: ignored
  EXPECT_FALSE(in.ended());
  feed_server(in, record(21, {2, 40}, 0x0303));
  EXPECT_TRUE(in.ended());
  EXPECT_FALSE(in.done());
  EXPECT_EQ(in.result().kind, tls::verdict::need_more);
  EXPECT_NE(in.result().detail.find("handshake_failure"), std::string::npos);
  feed_server(in, server_hello(0x0301));  // no further work
  EXPECT_EQ(in.result().kind, tls::verdict::need_more);
  EXPECT_EQ(in.taken(), 0u);
}

TEST(TlsInspector, TakesAnAlertThatEndsTheHandshakeAndNothingAfterIt) {
  const bytes close_notify = record(21, {1, 0}, 0x0303);
  bytes after = close_notify;
  append(after, text("SSH-2.0-evil"));
  // From the server: a fatal alert and plaintext in one chunk.
  tls::handshake_inspector server(make_policy());
  feed_client(server, client_hello({sni_extension(connect_host)}));
  const bytes fatal = record(21, {2, 40}, 0x0303);
  bytes fatal_then_text = fatal;
  append(fatal_then_text, text("SSH-2.0-upstream"));
  feed_server(server, fatal_then_text);
  EXPECT_TRUE(server.ended());
  EXPECT_FALSE(server.done());
  EXPECT_EQ(server.taken(), fatal.size());

  // From the client, once it may send again (TLS 1.2 with a subject list: the verdict
  // waits for its Certificate).
  auto p = make_policy();
  p.allowed_subjects = {"CN=agent01"};
  tls::handshake_inspector client(p);
  feed_client(client, client_hello({sni_extension(connect_host)}));
  feed_server(client, server_hello(0x0303));
  ASSERT_FALSE(client.client_waits());
  feed_client(client, after);
  EXPECT_TRUE(client.ended());
  EXPECT_FALSE(client.done());
  EXPECT_EQ(client.taken(), close_notify.size());
  EXPECT_EQ(client.result().detail, "warning alert close_notify (0) from client before a verdict");
}

TEST(TlsInspector, ReturnsTheSameResultAfterAVerdictWithoutFurtherWork) {
  tls::handshake_inspector in(make_policy());
  feed_client(in, text("HELLO"));
  const tls::inspection_result first = in.result();
  ASSERT_TRUE(in.done());
  const transcript t = record_handshake({});
  for (const auto& c : t) feed(in, c.from_client, c.data.data(), c.data.size());
  expect_same(first, in.result(), "after not_tls");

  tls::handshake_inspector ok(make_policy());
  for (const auto& c : t) feed(ok, c.from_client, c.data.data(), c.data.size());
  const tls::inspection_result verified = ok.result();
  ASSERT_EQ(verified.kind, tls::verdict::verified);
  feed_client(ok, text("garbage after the verdict"));
  feed_server(ok, bytes{0x00, 0x00});
  expect_same(verified, ok.result(), "after verified");
}

// ==== subjects =========================================================================

TEST(TlsInspector, CanonicalSubjectNormalisesTypesSpacesAndEscapes) {
  const std::pair<const char*, const char*> cases[] = {
      {"CN=agent01", "CN=agent01"},
      {" cn = agent01 , o=Contoso ,c=US ", "CN=agent01,O=Contoso,C=US"},
      {"commonName=a, organizationalUnitName=b", "CN=a,OU=b"},
      {"E=ops@example.com, S=WA, G=Ann, T=Ops",
       "EMAILADDRESS=ops@example.com,ST=WA,GN=Ann,TITLE=Ops"},
      {"emailAddress=x", "EMAILADDRESS=x"},
      {"2.5.4.3=x, OID.2.5.4.10=y", "CN=x,O=y"},
      {"1.3.6.1.4.1.99999.7=z", "1.3.6.1.4.1.99999.7=z"},
      {"O=\"Contoso, Ltd\", CN=a", "O=Contoso\\, Ltd,CN=a"},
      {"CN=a\\2Cb", "CN=a\\,b"},
      {"CN=a+OU=b;O=c", "CN=a+OU=b,O=c"},
      {"CN=\\#1 <x>", "CN=\\#1 \\<x\\>"},
      {"CN=a=b", "CN=a=b"},
      {"CN=", "CN="},
      {"CN=caf\xc3\xa9", "CN=caf\xc3\xa9"},
      {"CN=a\\0Ab", "CN=a\\0Ab"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(tls::canonical_subject(in), want) << in;
}

TEST(TlsInspector, CanonicalSubjectIsEmptyForGarbage) {
  for (const char* in : {"", "   ", "agent01", "CN=a,", "=x", "C N=x", "CN=\"open", "CN=a\\q",
                         "CN=a\\", "CN=\"a\" b", "1..2=x", "c@=x"}) {
    EXPECT_EQ(tls::canonical_subject(in), "") << in;
  }
}

TEST(TlsInspector, CanonicalSubjectIsIdempotent) {
  for (const char* in : {"CN=agent01,O=Contoso", "O=\"a, \\\"b\\\"\"", "CN=\\ x\\ ", "CN=#ab",
                         "cn=a+ou=b+o=c", "CN=\\00\\01", "CN=a\\\\41"}) {
    const std::string once = tls::canonical_subject(in);
    EXPECT_FALSE(once.empty()) << in;
    EXPECT_EQ(tls::canonical_subject(once), once) << in;
  }
}

TEST(TlsInspector, SubjectAllowedMatchesCnOnlyEntriesAndWholeNames) {
  const std::string subject = "CN=agent01,OU=Ops+O=Contoso,C=US";
  auto allowed = [&](const char* entry) { return tls::subject_allowed({entry}, subject); };
  EXPECT_TRUE(allowed("CN=agent01"));
  EXPECT_TRUE(allowed("CN=AGENT01"));
  EXPECT_TRUE(allowed("cn=agent01, o=contoso+ou=ops, c=us"));  // RDN set order, case
  EXPECT_TRUE(allowed("C=US,O=Contoso+OU=Ops,CN=agent01"));    // reversed
  EXPECT_FALSE(allowed("CN=agent01,C=US"));
  EXPECT_FALSE(allowed("O=Contoso"));
  EXPECT_FALSE(allowed("CN=agent02"));
  EXPECT_FALSE(allowed("not a name"));
  EXPECT_FALSE(tls::subject_allowed({}, subject));
  EXPECT_FALSE(tls::subject_allowed({"CN=agent01"}, ""));
  EXPECT_TRUE(tls::subject_allowed({"garbage", "CN=agent01"}, subject));
}

// A CN-only entry used to match any CN of the subject: "CN=evil,CN=agent01" (most
// specific CN evil) and the multi-valued "CN=evil+CN=agent01" passed "CN=agent01".
TEST(TlsInspector, ACnOnlyEntryMatchesOnlyASubjectWithThatOneCn) {
  for (const char* subject : {"CN=agent01,CN=evil", "CN=evil,CN=agent01", "CN=evil+CN=agent01",
                              "CN=agent01,OU=x,CN=agent01"}) {
    SCOPED_TRACE(subject);
    EXPECT_FALSE(tls::subject_allowed({"CN=agent01"}, subject));
    EXPECT_TRUE(tls::subject_allowed({tls::canonical_subject(subject)}, subject));  // in full
  }
  EXPECT_TRUE(tls::subject_allowed({"CN=agent01"}, "CN=agent01,O=Contoso,C=US"));
}

TEST(TlsInspector, NamesEveryReasonAndVerdict) {
  EXPECT_STREQ(tls::to_string(tls::reject_reason::sni_mismatch), "sni_mismatch");
  EXPECT_STREQ(tls::to_string(tls::reject_reason::too_large), "too_large");
  EXPECT_STREQ(tls::to_string(tls::verdict::parse_error), "parse_error");
}

// ---- fuzz seeds -----------------------------------------------------------------------

/// Writes the real handshakes as tests/fuzz/tls_inspector_fuzz.cpp reads them when
/// OMSGW_WRITE_FUZZ_SEEDS names a directory: byte 0 policy flags, then frames of
/// [direction: 0 client, 1 server][u16 length][bytes].
TEST(TlsInspector, WritesFuzzSeedsWhenAsked) {
  const char* dir = std::getenv("OMSGW_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set OMSGW_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  int n = 0;
  for (const auto& s : scenarios()) {
    std::uint8_t flags = static_cast<std::uint8_t>((s.policy.min_version - 0x0301) & 3) | 0x04;
    if (!s.policy.allowed_subjects.empty()) flags |= 0x08;
    bytes out{flags};
    for (const auto& c : record_handshake(s.options)) {
      out.push_back(c.from_client ? 0 : 1);
      put16(out, c.data.size());
      append(out, c.data);
    }
    std::ofstream f(std::string(dir) + "/handshake-" + std::to_string(++n) + ".bin",
                    std::ios::binary);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  }
}

}  // namespace
