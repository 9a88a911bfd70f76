#pragma once
/// \file
/// The typed, immutable configuration of omsgw (SPEC.md "Configuration (YAML)").
/// Every default below is the embedded default used when no file exists; every
/// number the gateway uses comes from here, none is a literal in the code.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "net/grammar/ip.hpp"

namespace omsgw::config {

enum class run_mode { enforce, report };
enum class log_format { text, json };
enum class tls_version : std::uint16_t {
  tls1_0 = 0x0301,
  tls1_1 = 0x0302,
  tls1_2 = 0x0303,
  tls1_3 = 0x0304,
};
enum class unverifiable_cert_action { allow, reject };

/// The peers that may send a PROXY header by default: the host itself.
inline std::vector<grammar::cidr> default_proxy_protocol_trusted() {
  return {grammar::cidr{boost::asio::ip::make_address("127.0.0.0"), 8},
          grammar::cidr{boost::asio::ip::make_address("::1"), 128}};
}

struct listen_config {
  std::string address = "0.0.0.0";
  std::uint16_t port = 8080;
  bool proxy_protocol = false;
  /// Peers (load balancers) allowed to send a PROXY header; any other peer is closed
  /// before a byte is read. Typed: parsed once by the loader (net/grammar).
  std::vector<grammar::cidr> proxy_protocol_trusted = default_proxy_protocol_trusted();
};

struct admin_config {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8081;
  std::string token_file;  ///< path; "" = no token (the token itself is never held here)
};

struct workspace {
  std::string id;                  ///< GUID, lower-case
  std::string cloud = "AzureCloud";  ///< AzureCloud | AzureUSGovernment | AzureChinaCloud
};

struct tls_config {
  bool inspect = true;
  tls_version min_version = tls_version::tls1_2;
  bool require_sni_match = true;
  unverifiable_cert_action unverifiable_client_cert = unverifiable_cert_action::allow;
};

/// How the gateway answers a relay's 407 (SPEC relay_proxy.auth).
enum class relay_auth { auto_, basic, digest, ntlm, negotiate };

struct relay_proxy_config {
  std::string address;        ///< "http://host:port" or "https://host:port", empty = direct
  std::vector<std::string> fallback;  ///< more relays (same forms), tried in order
  std::string username;       ///< "user" or "DOMAIN\\user"; the principal for negotiate
  std::string password_file;  ///< path; the password itself is never held here
  relay_auth auth = relay_auth::auto_;
  std::string keytab;         ///< negotiate: client keytab; "" = the credential cache
  std::string ca_file;        ///< https:// relays: CA bundle; "" = the system store
  std::vector<std::string> bypass;  ///< host patterns that go direct
};

struct clients_config {
  std::vector<std::string> allow = {"0.0.0.0/0", "::/0"};
};

struct upstream_config {
  std::map<std::string, std::string> resolve;  ///< host (lower-case) -> IP literal
  bool allow_private = false;
};

struct limits_config {
  std::uint32_t max_connections = 0;  ///< 0 = derived from RLIMIT_NOFILE
  std::uint32_t max_connections_per_client = 1000;
  std::uint32_t header_timeout_s = 10;
  std::uint32_t handshake_timeout_s = 15;
  std::uint32_t idle_timeout_s = 600;
  std::uint32_t drain_timeout_s = 30;
  std::uint32_t connect_timeout_s = 10;  ///< omsgw extension: TCP connect to destination/relay
};

struct log_config {
  log_format format = log_format::text;
  std::string level = "info";  ///< trace | debug | info | warn | error
};

struct perfmon_config {
  std::string csv_file;
  std::uint32_t interval_s = 15;
};

/// The whole configuration. Value type: copy it, never mutate a shared one.
struct gateway_config {
  listen_config listen;
  admin_config admin;
  std::vector<std::uint16_t> allowed_ports = {443};
  run_mode mode = run_mode::enforce;
  std::vector<std::string> allowed_hosts = {
      "*.ods.opinsights.azure.com",          "*.oms.opinsights.azure.com",
      "*.handler.control.monitor.azure.com", "*.ingest.monitor.azure.com",
      "*.monitoring.azure.com",              "*.blob.core.windows.net",
      "*.azure-automation.net",
  };
  std::vector<workspace> workspaces;
  std::vector<std::string> automation_regions;
  std::vector<std::string> allowed_client_certificates;
  tls_config tls;
  relay_proxy_config relay_proxy;
  clients_config clients;
  upstream_config upstream;
  limits_config limits;
  log_config log;
  perfmon_config perfmon;
};

std::string to_string(tls_version v);
std::string to_string(run_mode m);
std::string to_string(relay_auth a);

}  // namespace omsgw::config
