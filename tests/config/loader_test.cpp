// Unit tests for config/loader: the SPEC example, defaults, and every error kind with
// its key, line and column.

#include "config/loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace omsgw::config {
namespace {

/// The "Configuration (YAML)" block of SPEC.md, verbatim.
constexpr const char* k_spec_example = R"yaml(
listen:    { address: 0.0.0.0, port: 8080, proxy_protocol: false }  # port 1-65535;
           # proxy_protocol: accept PROXY v1/v2 from a load balancer, so client ACLs,
           # logs and counters see the agent's real address
admin:     { address: 127.0.0.1, port: 8081 }      # /metrics /healthz /readyz /status /reload
allowed_ports: [443]
mode: enforce             # enforce | report (log what would be refused, let it through)
allowed_hosts:            # exact names or "*.suffix" wildcards; defaults: Azure Monitor
  - "*.ods.opinsights.azure.com"            # Log Analytics ingestion (MMA, AMA)
  - "*.oms.opinsights.azure.com"
  - "*.handler.control.monitor.azure.com"   # Azure Monitor Agent control
  - "*.ingest.monitor.azure.com"            # data collection endpoints
  - "*.monitoring.azure.com"                # custom metrics
  - "*.blob.core.windows.net"               # legacy agent solution packs
  - "*.azure-automation.net"                # automation / hybrid workers
workspaces: []            # [{id: GUID, cloud: AzureCloud}] -> derived allowed hosts
automation_regions: []    # e.g. [westeurope] -> hybrid-worker hosts from the built-in table
allowed_client_certificates: []   # subject strings, e.g. "CN=agent01"; empty = not enforced
tls:
  inspect: true
  min_version: "1.2"      # 1.0 | 1.1 | 1.2 | 1.3 ; SSL 2/3 are always rejected
  require_sni_match: true # SNI, when present, must equal the CONNECT host
  unverifiable_client_cert: allow  # allow | reject: TLS 1.3 hides the client certificate
relay_proxy: { address: "", username: "", password_file: "" }
clients:   { allow: ["0.0.0.0/0", "::/0"] }       # source CIDRs allowed to connect
upstream:
  resolve: {}             # static "host: ip" overrides, like curl --resolve
  allow_private: false    # destinations resolving to loopback/private/link-local are refused
limits:
  max_connections: 0      # 0 = derived from the open-files limit (two per tunnel)
  max_connections_per_client: 1000
  header_timeout_s: 10    # time to send the CONNECT request
  handshake_timeout_s: 15 # time to finish the TLS handshake
  idle_timeout_s: 600
  drain_timeout_s: 30     # on SIGTERM
log:       { format: text, level: info }          # text | json, to stderr (journald)
perfmon:   { csv_file: "", interval_s: 15 }       # PDH-CSV counter log, see below
)yaml";

void expect_same(const gateway_config& a, const gateway_config& b) {
  EXPECT_EQ(a.listen.address, b.listen.address);
  EXPECT_EQ(a.listen.port, b.listen.port);
  EXPECT_EQ(a.listen.proxy_protocol, b.listen.proxy_protocol);
  EXPECT_EQ(a.listen.proxy_protocol_trusted, b.listen.proxy_protocol_trusted);
  EXPECT_EQ(a.admin.address, b.admin.address);
  EXPECT_EQ(a.admin.port, b.admin.port);
  EXPECT_EQ(a.allowed_ports, b.allowed_ports);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.allowed_hosts, b.allowed_hosts);
  ASSERT_EQ(a.workspaces.size(), b.workspaces.size());
  for (std::size_t i = 0; i < a.workspaces.size(); ++i) {
    EXPECT_EQ(a.workspaces[i].id, b.workspaces[i].id);
    EXPECT_EQ(a.workspaces[i].cloud, b.workspaces[i].cloud);
  }
  EXPECT_EQ(a.automation_regions, b.automation_regions);
  EXPECT_EQ(a.allowed_client_certificates, b.allowed_client_certificates);
  EXPECT_EQ(a.tls.inspect, b.tls.inspect);
  EXPECT_EQ(a.tls.min_version, b.tls.min_version);
  EXPECT_EQ(a.tls.require_sni_match, b.tls.require_sni_match);
  EXPECT_EQ(a.tls.unverifiable_client_cert, b.tls.unverifiable_client_cert);
  EXPECT_EQ(a.relay_proxy.address, b.relay_proxy.address);
  EXPECT_EQ(a.relay_proxy.username, b.relay_proxy.username);
  EXPECT_EQ(a.relay_proxy.password_file, b.relay_proxy.password_file);
  EXPECT_EQ(a.clients.allow, b.clients.allow);
  EXPECT_EQ(a.upstream.resolve, b.upstream.resolve);
  EXPECT_EQ(a.upstream.allow_private, b.upstream.allow_private);
  EXPECT_EQ(a.limits.max_connections, b.limits.max_connections);
  EXPECT_EQ(a.limits.max_connections_per_client, b.limits.max_connections_per_client);
  EXPECT_EQ(a.limits.header_timeout_s, b.limits.header_timeout_s);
  EXPECT_EQ(a.limits.handshake_timeout_s, b.limits.handshake_timeout_s);
  EXPECT_EQ(a.limits.idle_timeout_s, b.limits.idle_timeout_s);
  EXPECT_EQ(a.limits.drain_timeout_s, b.limits.drain_timeout_s);
  EXPECT_EQ(a.limits.connect_timeout_s, b.limits.connect_timeout_s);
  EXPECT_EQ(a.log.format, b.log.format);
  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.perfmon.csv_file, b.perfmon.csv_file);
  EXPECT_EQ(a.perfmon.interval_s, b.perfmon.interval_s);
}

std::string dump(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += format_error("test.yaml", e) + "\n";
  return out;
}

/// Parses text expected to be valid; fails the test with the errors otherwise.
gateway_config parse_ok(const std::string& text) {
  const load_result r = parse_config(text);
  EXPECT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.errors.empty()) << dump(r);
  return r.config.value_or(gateway_config{});
}

/// Parses text expected to give exactly one error and returns it.
config_error one_error(const std::string& text) {
  const load_result r = parse_config(text);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 1u) << dump(r);
  return r.errors.empty() ? config_error{} : r.errors.front();
}

bool mentions(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- documents that load -----------------------------------------------------------

TEST(ConfigLoader, LoadsSpecExampleAsExactlyTheDefaults) {
  expect_same(parse_ok(k_spec_example), gateway_config{});
}

// SPEC.md (issue 15, defect 1): a file with no mapping is refused -- it used to give
// the defaults, so a truncated file widened clients.allow and dropped the relay. "{}"
// is how a file asks for every default.
TEST(ConfigLoader, RefusesADocumentWithNoMappingAndTakesBracesForDefaults) {
  for (const char* text :
       {"", "\n\n", "  \t\n", "# nothing here\n  # still nothing\n", "---\n", "~\n", "null\n"}) {
    SCOPED_TRACE(text);
    const load_result r = parse_config(text);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 1);
    EXPECT_TRUE(mentions(r.errors[0].message, "no settings")) << r.errors[0].message;
  }
  for (const char* text : {"{}\n", "---\n{}\n", "# all defaults\n{}\n"}) {
    SCOPED_TRACE(text);
    expect_same(parse_ok(text), gateway_config{});
  }
}

TEST(ConfigLoader, KeepsDefaultsOfMissingSectionsAndOfEmptyMaps) {
  const gateway_config c = parse_ok("listen:\n  port: 3128\ntls: {}\nlimits: {}\n");
  EXPECT_EQ(c.listen.port, 3128);
  EXPECT_EQ(c.listen.address, "0.0.0.0");
  expect_same(
      [&] {
        gateway_config d;
        d.listen.port = 3128;
        return d;
      }(),
      c);
}

// A file cut off right after a section's key ("clients:" as its last line) used to load
// that section's defaults: every client admitted, the admin token and the relay dropped.
// A key with no value is an error for every section; "{}" asks for the defaults.
TEST(ConfigLoader, RefusesASectionKeyWithNoValueAtTheKey) {
  for (const char* section : {"listen", "admin", "tls", "relay_proxy", "clients", "upstream",
                              "limits", "log", "perfmon"}) {
    for (const char* empty : {"", " ~", " null"}) {
      SCOPED_TRACE(std::string(section) + ":" + empty);
      const config_error e =
          one_error("mode: enforce\n" + std::string(section) + ":" + empty + "\n");
      EXPECT_EQ(e.key, section);
      EXPECT_EQ(e.line, 2);
      EXPECT_EQ(e.column, 1);
      EXPECT_EQ(e.message, "expected a map, got an empty value (write {} for the defaults)");
    }
  }
  const config_error e = one_error("upstream:\n  resolve:\n");
  EXPECT_EQ(e.key, "upstream.resolve");
  EXPECT_EQ(e.line, 2);
}

// The same for text settings: "token_file:" cut short must not switch admin
// authentication off, nor "address:" drop the relay; "" is how a file says "none".
TEST(ConfigLoader, RefusesATextKeyWithNoValueAndTakesTheEmptyString) {
  const config_error e = one_error("admin:\n  port: 9090\n  token_file:\n");
  EXPECT_EQ(e.key, "admin.token_file");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(mentions(e.message, "got an empty value (write \"\" for none)")) << e.message;
  for (const char* key : {"address", "username", "password_file", "keytab", "ca_file"}) {
    SCOPED_TRACE(key);
    const config_error r = one_error("relay_proxy:\n  " + std::string(key) + ":\n");
    EXPECT_EQ(r.key, "relay_proxy." + std::string(key));
    EXPECT_TRUE(mentions(r.message, "write \"\" for none")) << r.message;
  }
  const gateway_config c =
      parse_ok("admin: { token_file: \"\" }\nrelay_proxy: { address: \"\" }\n");
  EXPECT_EQ(c.admin.token_file, "");
  EXPECT_EQ(c.relay_proxy.address, "");
}

TEST(ConfigLoader, ReadsEverySettingWhenGiven) {
  const gateway_config c = parse_ok(R"(
listen: { address: "::", port: 3128, proxy_protocol: true }
admin: { address: ::1, port: 9090 }
allowed_ports: [443, 8443, 443]
mode: report
allowed_hosts: ["*.Example.COM.", "Api.Example.org", "*.example.com"]
workspaces:
  - id: 01234567-89AB-CDEF-0123-456789ABCDEF
  - {id: 11111111-2222-3333-4444-555555555555, cloud: AzureUSGovernment}
automation_regions: [West Europe, eastus2, Japan-East]
allowed_client_certificates: ["CN=agent01", " CN=agent02 "]
tls: { inspect: false, min_version: 1.3, require_sni_match: false,
       unverifiable_client_cert: reject }
relay_proxy: { address: "http://proxy.corp.example:3128", username: svc,
               password_file: /etc/omsgw/relay.pw }
clients: { allow: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7] }
upstream:
  resolve: { Ods.Example.com: 192.0.2.10, v6.example.com: "2001:db8::10" }
  allow_private: true
limits: { max_connections: 20000, max_connections_per_client: 50, header_timeout_s: 5,
          handshake_timeout_s: 6, idle_timeout_s: 7, drain_timeout_s: 8, connect_timeout_s: 9 }
log: { format: json, level: debug }
perfmon: { csv_file: /var/log/omsgw/perf.csv, interval_s: 60 }
)");
  EXPECT_EQ(c.listen.address, "::");
  EXPECT_EQ(c.listen.port, 3128);
  EXPECT_TRUE(c.listen.proxy_protocol);
  EXPECT_EQ(c.admin.address, "::1");
  EXPECT_EQ(c.admin.port, 9090);
  EXPECT_EQ(c.allowed_ports, (std::vector<std::uint16_t>{443, 8443}));
  EXPECT_EQ(c.mode, run_mode::report);
  EXPECT_EQ(c.allowed_hosts, (std::vector<std::string>{"*.example.com", "api.example.org"}));
  ASSERT_EQ(c.workspaces.size(), 2u);
  EXPECT_EQ(c.workspaces[0].id, "01234567-89ab-cdef-0123-456789abcdef");
  EXPECT_EQ(c.workspaces[0].cloud, "AzureCloud");
  EXPECT_EQ(c.workspaces[1].cloud, "AzureUSGovernment");
  EXPECT_EQ(c.automation_regions, (std::vector<std::string>{"westeurope", "eastus2", "japaneast"}));
  EXPECT_EQ(c.allowed_client_certificates, (std::vector<std::string>{"CN=agent01", "CN=agent02"}));
  EXPECT_FALSE(c.tls.inspect);
  EXPECT_EQ(c.tls.min_version, tls_version::tls1_3);
  EXPECT_FALSE(c.tls.require_sni_match);
  EXPECT_EQ(c.tls.unverifiable_client_cert, unverifiable_cert_action::reject);
  EXPECT_EQ(c.relay_proxy.address, "http://proxy.corp.example:3128");
  EXPECT_EQ(c.relay_proxy.username, "svc");
  EXPECT_EQ(c.relay_proxy.password_file, "/etc/omsgw/relay.pw");
  EXPECT_EQ(c.clients.allow,
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}));
  EXPECT_EQ(c.upstream.resolve,
            (std::map<std::string, std::string>{{"ods.example.com", "192.0.2.10"},
                                                {"v6.example.com", "2001:db8::10"}}));
  EXPECT_TRUE(c.upstream.allow_private);
  EXPECT_EQ(c.limits.max_connections, 20000u);
  EXPECT_EQ(c.limits.max_connections_per_client, 50u);
  EXPECT_EQ(c.limits.header_timeout_s, 5u);
  EXPECT_EQ(c.limits.handshake_timeout_s, 6u);
  EXPECT_EQ(c.limits.idle_timeout_s, 7u);
  EXPECT_EQ(c.limits.drain_timeout_s, 8u);
  EXPECT_EQ(c.limits.connect_timeout_s, 9u);
  EXPECT_EQ(c.log.format, log_format::json);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.perfmon.csv_file, "/var/log/omsgw/perf.csv");
  EXPECT_EQ(c.perfmon.interval_s, 60u);
}

TEST(ConfigLoader, AcceptsEveryTlsVersionQuotedOrNot) {
  EXPECT_EQ(parse_ok("tls: {min_version: 1.0}").tls.min_version, tls_version::tls1_0);
  EXPECT_EQ(parse_ok("tls: {min_version: \"1.1\"}").tls.min_version, tls_version::tls1_1);
  EXPECT_EQ(parse_ok("tls: {min_version: 1.2}").tls.min_version, tls_version::tls1_2);
  EXPECT_EQ(parse_ok("tls: {min_version: '1.3'}").tls.min_version, tls_version::tls1_3);
}

// --- type, range and enum errors ------------------------------------------------------

TEST(ConfigLoader, RejectsTextPortWithKeyAndLine) {
  const config_error e = one_error("# comment\nlisten:\n  port: text\n");
  EXPECT_EQ(e.key, "listen.port");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.column, 9);
  EXPECT_EQ(e.message, "expected an integer in 1..65535, got 'text'");
}

TEST(ConfigLoader, RejectsOutOfRangePortsInFlowMaps) {
  config_error e = one_error("listen: { address: 0.0.0.0, port: 70000 }\n");
  EXPECT_EQ(e.key, "listen.port");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 35);
  EXPECT_EQ(e.message, "expected an integer in 1..65535, got '70000'");

  e = one_error("admin:\n  port: 0\n");
  EXPECT_EQ(e.key, "admin.port");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.message, "expected an integer in 1..65535, got '0'");
}

TEST(ConfigLoader, RejectsQuotedSignedFractionalAndHugeIntegers) {
  for (const char* v : {"\"8080\"", "-1", "80.5", "0x50", "08080", "99999999999999999999"}) {
    SCOPED_TRACE(v);
    const config_error e = one_error(std::string("listen: {port: ") + v + "}");
    EXPECT_EQ(e.key, "listen.port");
    EXPECT_TRUE(mentions(e.message, "expected an integer in 1..65535")) << e.message;
  }
}

TEST(ConfigLoader, RejectsEmptyValueForScalarAtTheKey) {
  const config_error e = one_error("listen:\n  port:\n  address: 0.0.0.0\n");
  EXPECT_EQ(e.key, "listen.port");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
  EXPECT_EQ(e.message, "expected an integer in 1..65535, got an empty value");
}

TEST(ConfigLoader, RejectsBoolsOtherThanTrueAndFalse) {
  for (const char* v : {"yes", "on", "True", "1", "\"true\""}) {
    SCOPED_TRACE(v);
    const config_error e = one_error(std::string("tls:\n  inspect: ") + v + "\n");
    EXPECT_EQ(e.key, "tls.inspect");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 12);
    EXPECT_TRUE(mentions(e.message, "expected true or false, got")) << e.message;
  }
}

TEST(ConfigLoader, RejectsUnknownEnumValuesWithSuggestion) {
  config_error e = one_error("mode: Enforce\n");
  EXPECT_EQ(e.key, "mode");
  EXPECT_EQ(e.column, 7);
  EXPECT_EQ(e.message, "expected one of enforce|report, got 'Enforce'; did you mean 'enforce'?");

  e = one_error("log: {format: xml}");
  EXPECT_EQ(e.key, "log.format");
  EXPECT_EQ(e.message, "expected one of text|json, got 'xml'");

  e = one_error("log: {level: warning}");
  EXPECT_EQ(e.key, "log.level");
  EXPECT_TRUE(mentions(e.message, "trace|debug|info|warn|error")) << e.message;

  e = one_error("tls: {unverifiable_client_cert: deny}");
  EXPECT_EQ(e.key, "tls.unverifiable_client_cert");
  EXPECT_EQ(e.message, "expected one of allow|reject, got 'deny'");
}

TEST(ConfigLoader, RejectsTlsVersionsOutsideOneZeroToOneThree) {
  for (const char* v : {"\"1.4\"", "1.4", "1", "TLS1.2"}) {
    SCOPED_TRACE(v);
    const config_error e = one_error(std::string("tls:\n  min_version: ") + v + "\n");
    EXPECT_EQ(e.key, "tls.min_version");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 16);
    EXPECT_TRUE(mentions(e.message, R"(expected one of "1.0"|"1.1"|"1.2"|"1.3")")) << e.message;
  }
  const config_error e = one_error("tls: {min_version: SSLv3}");
  EXPECT_TRUE(mentions(e.message, "SSL 2/3 are always rejected")) << e.message;
}

TEST(ConfigLoader, RejectsWrongShapesForSectionsAndLists) {
  config_error e = one_error("listen: 8080\n");
  EXPECT_EQ(e.key, "listen");
  EXPECT_EQ(e.message, "expected a map, got '8080'");

  e = one_error("allowed_hosts: example.com\n");
  EXPECT_EQ(e.key, "allowed_hosts");
  EXPECT_EQ(e.message, "expected a list, got 'example.com'");

  e = one_error("allowed_hosts:\n");
  EXPECT_EQ(e.key, "allowed_hosts");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 1);
  EXPECT_TRUE(mentions(e.message, "write [] for an empty list")) << e.message;

  e = one_error("allowed_client_certificates: [[CN=a]]\n");
  EXPECT_EQ(e.key, "allowed_client_certificates[0]");
  EXPECT_EQ(e.message, "expected a certificate subject, got a list");
}

TEST(ConfigLoader, RejectsBadAllowedPortsElementByElement) {
  load_result r = parse_config("allowed_ports:\n  - 443\n  - https\n  - 65536\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "allowed_ports[1]");
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].column, 5);
  EXPECT_EQ(r.errors[1].key, "allowed_ports[2]");
  EXPECT_EQ(r.errors[1].line, 4);

  const config_error e = one_error("allowed_ports: []\n");
  EXPECT_EQ(e.key, "allowed_ports");
  EXPECT_TRUE(mentions(e.message, "at least one port")) << e.message;
}

TEST(ConfigLoader, RejectsLimitsOutOfRange) {
  EXPECT_EQ(parse_ok("limits: {max_connections: 10000000}").limits.max_connections, 10000000u);
  const load_result r = parse_config(R"(limits:
  max_connections: 10000001
  max_connections_per_client: 0
  idle_timeout_s: 0
  drain_timeout_s: 86401
perfmon:
  interval_s: 3601
)");
  ASSERT_EQ(r.errors.size(), 5u) << dump(r);
  EXPECT_EQ(r.errors[0].message, "expected an integer in 0..10000000, got '10000001'");
  EXPECT_EQ(r.errors[1].message, "expected an integer in 1..10000000, got '0'");
  EXPECT_EQ(r.errors[2].message, "expected an integer in 1..86400, got '0'");
  EXPECT_EQ(r.errors[3].key, "limits.drain_timeout_s");
  EXPECT_EQ(r.errors[4].key, "perfmon.interval_s");
  EXPECT_EQ(r.errors[4].message, "expected an integer in 1..3600, got '3601'");
}

// --- unknown and duplicate keys -------------------------------------------------------

TEST(ConfigLoader, RejectsUnknownKeyWithSuggestion) {
  config_error e = one_error("listen:\n  prot: 8080\n");
  EXPECT_EQ(e.key, "listen.prot");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
  EXPECT_EQ(e.message, "unknown key 'prot'; did you mean 'port'?");

  e = one_error("limits:\n  idel_timeout_s: 5\n");
  EXPECT_EQ(e.message, "unknown key 'idel_timeout_s'; did you mean 'idle_timeout_s'?");

  e = one_error("allowed_host: []\n");
  EXPECT_EQ(e.key, "allowed_host");
  EXPECT_EQ(e.message, "unknown key 'allowed_host'; did you mean 'allowed_hosts'?");
}

TEST(ConfigLoader, ListsValidKeysWhenNothingIsClose) {
  const config_error e = one_error("admin: {bind: 127.0.0.1}\n");
  EXPECT_EQ(e.key, "admin.bind");
  EXPECT_EQ(e.column, 9);
  EXPECT_EQ(e.message, "unknown key 'bind'; expected one of address, port, token_file");
}

TEST(ConfigLoader, RejectsUnknownKeysAtEveryLevel) {
  const load_result r = parse_config(R"(colour: blue
workspaces:
  - {id: 01234567-89ab-cdef-0123-456789abcdef, region: x}
upstream:
  resolve: {}
  resolver: 1.1.1.1
)");
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "colour");
  EXPECT_EQ(r.errors[1].key, "workspaces[0].region");
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_EQ(r.errors[1].column, 48);
  EXPECT_EQ(r.errors[2].key, "upstream.resolver");
  EXPECT_EQ(r.errors[2].message, "unknown key 'resolver'; did you mean 'resolve'?");
}

TEST(ConfigLoader, RejectsDuplicateKeys) {
  const config_error e = one_error("listen:\n  port: 1\nmode: report\nlisten:\n  port: 2\n");
  EXPECT_EQ(e.key, "listen");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.column, 1);
  EXPECT_EQ(e.message, "duplicate key 'listen' (first set at line 1)");

  const config_error f = one_error("tls: {inspect: true, inspect: false}\n");
  EXPECT_EQ(f.key, "tls.inspect");
  EXPECT_EQ(f.column, 22);
}

// --- several errors, syntax errors, document shape ------------------------------------

TEST(ConfigLoader, ReportsSeveralErrorsAtOnceInDocumentOrder) {
  const load_result r = parse_config(R"(listen:
  port: text
mode: deny
tls:
  inspect: maybe
  min_versoin: "1.2"
allowed_ports: [0]
)");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 5u) << dump(r);
  const std::vector<std::string> keys = {"listen.port", "mode", "tls.inspect", "tls.min_versoin",
                                         "allowed_ports[0]"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(r.errors[i].key, keys[i]);
    EXPECT_EQ(r.errors[i].line, static_cast<int>(i) + 2 + (i >= 2 ? 1 : 0));
  }
}

TEST(ConfigLoader, LocatesYamlSyntaxError) {
  const config_error e = one_error("listen:\n  port: 8080\nallowed_ports: [443,\nmode: report\n");
  EXPECT_EQ(e.key, "");
  EXPECT_GT(e.line, 0);
  EXPECT_GT(e.column, 0);
  EXPECT_TRUE(mentions(e.message, "YAML syntax error")) << e.message;

  const config_error f = one_error("listen: port: 8080\n");
  EXPECT_EQ(f.line, 1);
  EXPECT_EQ(f.column, 13);
  EXPECT_EQ(f.message, "YAML syntax error: illegal map value");
}

TEST(ConfigLoader, ReportsTooDeepNestingAsOneLocatedError) {
  const config_error e = one_error("listen: " + std::string(5000, '[') + "\n");
  EXPECT_EQ(e.key, "");
  EXPECT_GT(e.line, 0);
  EXPECT_EQ(e.message, "YAML nesting is too deep");
}

TEST(ConfigLoader, RejectsTopLevelThatIsNotAMap) {
  config_error e = one_error("- listen\n- admin\n");
  EXPECT_EQ(e.key, "");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.message, "expected a map of settings at the top level, got a list");

  // Not quoted: a password file passed as --config must not print the password.
  e = one_error("S3cr3t-Relay-PW\n");
  EXPECT_EQ(e.message,
            "expected a map of settings at the top level, got a single value (not shown)");
}

// A relay address refused for carrying credentials must not repeat them (the error is
// printed by check-config and the CLI and logged as event 401 at reload).
TEST(ConfigLoader, NeverRepeatsTheCredentialsOfARefusedRelayAddress) {
  for (const char* text :
       {"relay_proxy: { address: \"http://svc:Hunter2PW@127.0.0.1:3128\" }\n",
        "relay_proxy: { fallback: [\"https://svc:Hunter2PW@proxy.corp:8443/\"] }\n",
        "relay_proxy: { address: \"http://svc%3aHunter2PW@proxy.corp:3128\" }\n",
        "relay_proxy: { address: [\"http://a:Hunter2PW@b:1\"] }\n",
        "relay_proxy: { address: \"svc:Hunter2PW@proxy.corp:3128\" }\n",
        "relay_proxy: { address: \"http:/svc:Hunter2PW@proxy.corp:3128\" }\n",
        "relay_proxy: { fallback: [\"svc:Hunter2PW@proxy.corp:3128\"] }\n"}) {
    SCOPED_TRACE(text);
    const config_error e = one_error(text);
    EXPECT_FALSE(mentions(e.message, "Hunter2PW")) << e.message;
    EXPECT_FALSE(mentions(format_error("f.yaml", e), "Hunter2PW"));
  }
  const config_error e = one_error("relay_proxy: { address: \"http://u:pw@proxy.corp:3128\" }\n");
  EXPECT_EQ(e.message,
            "'http://***@proxy.corp:3128' must not contain credentials; use "
            "relay_proxy.username and password_file");
}

TEST(ConfigLoader, RejectsAStrayCommaInsteadOfHanging) {
  // yaml-cpp 0.7's LoadAll loops forever (allocating) on these (yaml-cpp#1040).
  config_error e = one_error(",");
  EXPECT_EQ(e.line, 1);
  EXPECT_TRUE(mentions(e.message, "unexpected ','")) << e.message;
  e = one_error("# comment\n,");
  EXPECT_EQ(e.line, 2);
  EXPECT_TRUE(mentions(e.message, "unexpected ','")) << e.message;
  e = one_error("{mode: report}\n  , x");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
}

TEST(ConfigLoader, RejectsHostNamesTheResolverWouldReadAsIpv4) {
  for (const char* host : {"1.0x7f", "1.2.3.0x4", "0x7f.1"}) {
    const config_error e = one_error(std::string("allowed_hosts: [\"") + host + "\"]");
    EXPECT_EQ(e.key, "allowed_hosts[0]") << host;
  }
}

TEST(ConfigLoader, RejectsASecondDocument) {
  const config_error e = one_error("mode: report\n---\nmode: enforce\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(mentions(e.message, "single YAML document")) << e.message;
}

// --- semantic checks --------------------------------------------------------------------

TEST(ConfigLoader, RequiresIpLiteralsForListenAndAdminAddresses) {
  config_error e = one_error("listen: {address: localhost}");
  EXPECT_EQ(e.key, "listen.address");
  EXPECT_TRUE(mentions(e.message, "expected an IPv4 or IPv6 address")) << e.message;
  e = one_error("admin: {address: \"[::1]\"}");
  EXPECT_EQ(e.key, "admin.address");
  e = one_error("admin: {address: 127.0.0.256}");
  EXPECT_EQ(e.key, "admin.address");
  EXPECT_EQ(parse_ok("admin: {address: \"::1\"}").admin.address, "::1");
}

TEST(ConfigLoader, RejectsListenerAndAdminOnTheSamePort) {
  const config_error e = one_error("listen: {port: 9000}\nadmin:\n  port: 9000\n");
  EXPECT_EQ(e.key, "admin.port");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(mentions(e.message, "both use port 9000")) << e.message;
  // Distinct specific addresses may share a port.
  parse_ok("listen: {address: 192.0.2.1, port: 9000}\nadmin: {address: 127.0.0.1, port: 9000}\n");
}

TEST(ConfigLoader, NormalisesAllowedHostsAndWildcards) {
  const gateway_config c = parse_ok(R"(allowed_hosts:
  - "*.ODS.OpInsights.Azure.com."
  - Gateway.Example.com.
  - 192.0.2.1
  - "[2001:DB8:0::1]"
  - 2001:db8::2
  - gateway.example.com
  - under_score.example.com
)");
  EXPECT_EQ(c.allowed_hosts, (std::vector<std::string>{
                                 "*.ods.opinsights.azure.com", "gateway.example.com", "192.0.2.1",
                                 "2001:db8::1", "2001:db8::2", "under_score.example.com"}));
}

TEST(ConfigLoader, RejectsBadHostPatternsWithTheirIndex) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"\"*.com\"", "two labels after '*.'"},
      {"\"*\"", "would allow every host"},
      {"a.*.example.com", "whole first label"},
      {"\"*example.com\"", "whole first label"},
      {"example.com:443", "must not include a port"},
      {"-bad.example.com", "starts or ends with '-'"},
      {"bad..example.com", "empty label"},
      {"bad/path.example.com", "contains '/'"},
      {"10.0.0.256", "neither a valid IP address nor a host name"},
      {"\"\"", "must not be empty"},
      {"\"[example.com]\"", "not a valid IPv6 address"},
  };
  for (const auto& [value, why] : bad) {
    SCOPED_TRACE(value);
    const config_error e = one_error("allowed_hosts:\n  - ok.example.com\n  - " + value + "\n");
    EXPECT_EQ(e.key, "allowed_hosts[1]");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 5);
    EXPECT_TRUE(mentions(e.message, why)) << e.message;
  }
}

TEST(ConfigLoader, ValidatesWorkspaceGuidsAndClouds) {
  const gateway_config c = parse_ok(
      "workspaces:\n  - {id: AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE, cloud: azurechinacloud}\n");
  ASSERT_EQ(c.workspaces.size(), 1u);
  EXPECT_EQ(c.workspaces[0].id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  EXPECT_EQ(c.workspaces[0].cloud, "AzureChinaCloud");

  const load_result r = parse_config(R"(workspaces:
  - id: not-a-guid
  - id: 01234567-89ab-cdef-0123-456789abcdeg
  - cloud: AzureCloud
  - id: 01234567-89ab-cdef-0123-456789abcdef
    cloud: AzureGermany
  - 01234567-89ab-cdef-0123-456789abcdef
)");
  ASSERT_EQ(r.errors.size(), 5u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "workspaces[0].id");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].column, 9);
  EXPECT_TRUE(mentions(r.errors[0].message, "expected a GUID")) << r.errors[0].message;
  EXPECT_EQ(r.errors[1].key, "workspaces[1].id");
  EXPECT_EQ(r.errors[2].key, "workspaces[2].id");
  EXPECT_TRUE(mentions(r.errors[2].message, "is required")) << r.errors[2].message;
  EXPECT_EQ(r.errors[3].key, "workspaces[3].cloud");
  EXPECT_EQ(r.errors[3].line, 6);
  EXPECT_EQ(r.errors[4].key, "workspaces[4]");
  EXPECT_EQ(r.errors[4].message, "expected a map, got '01234567-89ab-cdef-0123-456789abcdef'");
}

TEST(ConfigLoader, NormalisesAutomationRegionsAndRejectsUnknownOnes) {
  const gateway_config c =
      parse_ok("automation_regions: [West Europe, north-central-us, SouthEastAsia, westeurope]");
  EXPECT_EQ(c.automation_regions,
            (std::vector<std::string>{"westeurope", "northcentralus", "southeastasia"}));

  config_error e = one_error("automation_regions: [westeurop]");
  EXPECT_EQ(e.key, "automation_regions[0]");
  EXPECT_EQ(e.column, 22);
  EXPECT_EQ(e.message,
            "'westeurop' is not a known Azure Automation region; did you mean 'westeurope'?");
  e = one_error("automation_regions: [mars]");
  EXPECT_TRUE(mentions(e.message, "known regions: northcentralus, westeurope")) << e.message;
}

TEST(ConfigLoader, ValidatesClientCidrs) {
  EXPECT_EQ(parse_ok("clients: {allow: [\"::/0\", 0.0.0.0/0, 10.1.2.3, \"fe80::/10\"]}")
                .clients.allow.size(),
            4u);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"10.0.0.0/33", "invalid prefix length: expected 0..32 for IPv4"},
      {"\"::/129\"", "invalid prefix length: expected 0..128 for IPv6"},
      {"10.0.0.0/", "prefix length"},
      {"10.0.0.0/-1", "prefix length"},
      {"10.0.0/8", "not an IP address or CIDR"},
      {"example.com", "not an IP address or CIDR"},
  };
  for (const auto& [value, why] : bad) {
    SCOPED_TRACE(value);
    const config_error e = one_error("clients:\n  allow:\n    - " + value + "\n");
    EXPECT_EQ(e.key, "clients.allow[0]");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 7);
    EXPECT_TRUE(mentions(e.message, why)) << e.message;
  }
}

TEST(ConfigLoader, ValidatesRelayProxyAddress) {
  for (const char* ok :
       {"http://proxy.corp:3128", "http://10.1.1.1:8080", "http://[2001:db8::1]:3128",
        "HTTP://Proxy.Corp:3128/", "", "https://proxy:3128"}) {
    SCOPED_TRACE(ok);
    EXPECT_EQ(parse_ok(std::string("relay_proxy: {address: \"") + ok + "\"}").relay_proxy.address,
              ok);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"ftp://proxy:3128", "is not of the form http://HOST:PORT or https://HOST:PORT"},
      {"proxy.corp:3128", "is not of the form http://HOST:PORT"},
      {"http://proxy.corp", "needs a port"},
      {"http://proxy.corp:0", "invalid port: expected 1..65535"},
      {"http://proxy.corp:70000", "invalid port: expected 1..65535"},
      {"http://user:pw@proxy.corp:3128", "must not contain credentials"},
      {"http://proxy.corp:3128/path", "must not contain a path"},
      {"http://2001:db8::1:3128", "in brackets"},
      {"http://bad_host!:3128", "invalid host: it contains '!'"},
  };
  for (const auto& [value, why] : bad) {
    SCOPED_TRACE(value);
    const config_error e = one_error("relay_proxy:\n  address: \"" + value + "\"\n");
    EXPECT_EQ(e.key, "relay_proxy.address");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 12);
    EXPECT_TRUE(mentions(e.message, why)) << e.message;
  }
}

TEST(ConfigLoader, ReadsRelayAuthFallbackKeytabCaFileAndBypass) {
  const gateway_config c = parse_ok(R"(relay_proxy:
  address: https://proxy.corp:8443
  fallback: [http://backup.corp:3128, "https://[2001:db8::2]:8443"]
  auth: ntlm
  username: CORP\svc
  password_file: /etc/omsgw/relay.pw
  keytab: /etc/omsgw/relay.keytab
  ca_file: /etc/omsgw/relay-ca.pem
  bypass: ["*.internal.corp", Intranet.Corp]
)");
  EXPECT_EQ(c.relay_proxy.address, "https://proxy.corp:8443");
  EXPECT_EQ(c.relay_proxy.fallback,
            (std::vector<std::string>{"http://backup.corp:3128", "https://[2001:db8::2]:8443"}));
  EXPECT_EQ(c.relay_proxy.auth, relay_auth::ntlm);
  EXPECT_EQ(c.relay_proxy.username, "CORP\\svc");
  EXPECT_EQ(c.relay_proxy.keytab, "/etc/omsgw/relay.keytab");
  EXPECT_EQ(c.relay_proxy.ca_file, "/etc/omsgw/relay-ca.pem");
  EXPECT_EQ(c.relay_proxy.bypass, (std::vector<std::string>{"*.internal.corp", "intranet.corp"}));
  EXPECT_EQ(parse_ok("{}").relay_proxy.auth, relay_auth::auto_);
}

TEST(ConfigLoader, RefusesAnUnknownRelayAuthAndABadFallbackWithKeyAndLine) {
  const config_error auth = one_error("relay_proxy:\n  auth: kerberos\n");
  EXPECT_EQ(auth.key, "relay_proxy.auth");
  EXPECT_EQ(auth.line, 2);
  EXPECT_TRUE(mentions(auth.message, "negotiate")) << auth.message;
  const config_error fb = one_error("relay_proxy:\n  fallback:\n    - ftp://x:1\n");
  EXPECT_EQ(fb.key, "relay_proxy.fallback[0]");
  EXPECT_EQ(fb.line, 3);
  const config_error bp = one_error("relay_proxy:\n  bypass: [\"bad host!\"]\n");
  EXPECT_EQ(bp.key, "relay_proxy.bypass[0]");
}

TEST(ConfigLoader, ValidatesUpstreamResolveHostsAndAddresses) {
  const load_result r = parse_config(R"(upstream:
  resolve:
    good.example.com: 192.0.2.1
    bad..example.com: 192.0.2.2
    name.example.com: not-an-ip
    192.0.2.9: 192.0.2.3
    GOOD.example.com: 192.0.2.4
)");
  ASSERT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "upstream.resolve[bad..example.com]");
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 5);
  EXPECT_EQ(r.errors[1].key, "upstream.resolve[name.example.com]");
  EXPECT_EQ(r.errors[1].column, 23);
  EXPECT_EQ(r.errors[1].message, "expected an IPv4 or IPv6 address, got 'not-an-ip'");
  EXPECT_TRUE(mentions(r.errors[2].message, "is an IP address")) << r.errors[2].message;
  EXPECT_TRUE(mentions(r.errors[3].message, "listed twice")) << r.errors[3].message;
}

TEST(ConfigLoader, RejectsAClientCertificateEntryThatIsNotASubject) {
  // "agent01" (no "CN=") would match no certificate and so refuse every agent.
  for (const char* bad : {"agent01", "CN=a\\", "CN=\"a", "=x", "1bad=x"}) {
    const config_error e =
        one_error(std::string("allowed_client_certificates:\n  - CN=a\n  - '") + bad + "'\n");
    EXPECT_EQ(e.key, "allowed_client_certificates[1]") << bad;
    EXPECT_EQ(e.line, 3) << bad;
    EXPECT_TRUE(mentions(e.message, "is not a certificate subject")) << e.message;
  }
  const load_result r = parse_config(
      "allowed_client_certificates: [\"CN=agent01\", \"cn = a, o = Contoso\", "
      "\"commonName=b+OU=x\", \"2.5.4.3=c\"]\n");
  EXPECT_TRUE(r.ok()) << dump(r);
  // Kept as written: the CLI lists what the operator wrote.
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->allowed_client_certificates[1], "cn = a, o = Contoso");
}

TEST(ConfigLoader, RejectsEmptyClientCertificateSubject) {
  const config_error e = one_error("allowed_client_certificates: [\"CN=a\", \"  \"]");
  EXPECT_EQ(e.key, "allowed_client_certificates[1]");
  EXPECT_TRUE(mentions(e.message, "must not be empty")) << e.message;
}

// --- files, formatting, names ---------------------------------------------------------

TEST(ConfigLoader, FormatsErrorsAsFileLineColumnKeyMessage) {
  EXPECT_EQ(format_error("/etc/omsgw/omsgw.yaml", {"listen.port", 3, 9, "bad", {}}),
            "/etc/omsgw/omsgw.yaml:3:9: listen.port: bad");
  EXPECT_EQ(format_error("f.yaml", {"", 2, 5, "YAML syntax error: x", {}}),
            "f.yaml:2:5: YAML syntax error: x");
  EXPECT_EQ(format_error("f.yaml", {"", 0, 0, "cannot read file: Permission denied", {}}),
            "f.yaml: cannot read file: Permission denied");
}

TEST(ConfigLoader, NamesTheDefaultPathAndEnumSpellings) {
  EXPECT_STREQ(default_config_path(), "/etc/omsgw/omsgw.yaml");
  EXPECT_EQ(to_string(tls_version::tls1_0), "1.0");
  EXPECT_EQ(to_string(tls_version::tls1_3), "1.3");
  EXPECT_EQ(to_string(run_mode::enforce), "enforce");
  EXPECT_EQ(to_string(run_mode::report), "report");
  EXPECT_EQ(to_string(log_format::json), "json");
  EXPECT_EQ(to_string(unverifiable_cert_action::reject), "reject");
}

TEST(ConfigLoader, ReadsProxyProtocolTrustedAsParsedCidrs) {
  const auto defaults = gateway_config{}.listen.proxy_protocol_trusted;
  ASSERT_EQ(defaults.size(), 2u);
  EXPECT_EQ(defaults[0].to_string(), "127.0.0.0/8");
  EXPECT_EQ(defaults[1].to_string(), "::1/128");
  const gateway_config c = parse_ok(
      "listen:\n  proxy_protocol: true\n  proxy_protocol_trusted: [10.1.2.3/16, \"fd00::/8\", "
      "192.0.2.1, 10.1.0.0/16]\n");
  ASSERT_EQ(c.listen.proxy_protocol_trusted.size(), 3u);  // duplicates once parsed dropped
  EXPECT_EQ(c.listen.proxy_protocol_trusted[0].to_string(), "10.1.0.0/16");
  EXPECT_EQ(c.listen.proxy_protocol_trusted[1].to_string(), "fd00::/8");
  EXPECT_EQ(c.listen.proxy_protocol_trusted[2].to_string(), "192.0.2.1/32");
  EXPECT_TRUE(
      parse_ok("listen: {proxy_protocol_trusted: []}").listen.proxy_protocol_trusted.empty());
}

TEST(ConfigLoader, RejectsBadProxyProtocolTrustedEntriesWithKeyAndLine) {
  config_error e =
      one_error("listen:\n  proxy_protocol_trusted:\n    - 10.0.0.0/8\n    - lb.example\n");
  EXPECT_EQ(e.key, "listen.proxy_protocol_trusted[1]");
  EXPECT_EQ(e.line, 4);
  EXPECT_TRUE(mentions(e.message, "'lb.example' is not an IP address or CIDR")) << e.message;
  e = one_error("listen: {proxy_protocol_trusted: [10.0.0.0/33]}");
  EXPECT_TRUE(mentions(e.message, "expected 0..32 for IPv4")) << e.message;
  e = one_error("listen: {proxy_protocol_trusted: 127.0.0.1}");
  EXPECT_EQ(e.key, "listen.proxy_protocol_trusted");
}

}  // namespace
}  // namespace omsgw::config
