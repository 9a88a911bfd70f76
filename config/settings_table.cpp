/// \file
/// The settings table (see settings_table.hpp).

#include "config/settings_table.hpp"

#include <algorithm>

#include "config/editor.hpp"
#include "config/loader.hpp"
#include "net/grammar/message.hpp"
#include "net/grammar/text.hpp"

namespace omsgw::config {

using grammar::lower;
using grammar::trim;

namespace {

template <class T>
std::vector<std::string> numbers(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(std::to_string(x));
  return out;
}

std::vector<std::string> one(std::string s) { return {std::move(s)}; }
std::vector<std::string> flag(bool b) { return {b ? "true" : "false"}; }

}  // namespace

const std::vector<setting>& settings() {
  using k = setting_kind;
  static const std::vector<setting> table = {
      {"listen.address", k::text, {"ListenAddress"}, true, N_("restart needed")},
      {"listen.port", k::integer, {"ListenPort"}, true, N_("restart needed")},
      {"listen.proxy_protocol", k::boolean, {"ProxyProtocol"}, true, ""},  // applies at reload
      {"listen.proxy_protocol_trusted", k::list, {"ProxyProtocolTrusted"}, true, N_("CIDRs")},
      {"admin.address", k::text, {"AdminAddress"}, true, N_("restart needed")},
      {"admin.port", k::integer, {"AdminPort"}, true, N_("restart needed")},
      {"admin.token_file",
       k::text,
       {"AdminTokenFile"},
       true,
       N_("bearer token file (0640 at most)")},
      {"allowed_ports", k::list, {"AllowedPorts"}, true, ""},
      {"mode", k::choice, {"Mode"}, true, "enforce | report"},
      {"allowed_hosts", k::list, {"AllowedHosts", "AllowedHost"}, true, N_("see allowed-host")},
      {"workspaces", k::table, {"Workspaces"}, false, N_("edit the file")},
      {"automation_regions", k::list, {"AutomationRegions"}, true, N_("see automation-hosts")},
      {"allowed_client_certificates",
       k::list,
       {"AllowedClientCertificates", "AllowedClientCertificate"},
       true,
       N_("see allowed-client-cert")},
      {"tls.inspect", k::boolean, {"TlsInspection", "InspectTls"}, true, ""},
      {"tls.min_version", k::tls_version, {"MinTlsVersion", "TlsMinVersion"}, true, "1.0..1.3"},
      {"tls.require_sni_match", k::boolean, {"RequireSniMatch"}, true, ""},
      {"tls.unverifiable_client_cert",
       k::choice,
       {"UnverifiableClientCert", "UnverifiableClientCertificate"},
       true,
       "allow | reject"},
      {"relay_proxy.address",
       k::text,
       {"RelayProxy", "RelayProxyAddress"},
       false,
       N_("see relay-proxy")},
      {"relay_proxy.username", k::text, {"RelayProxyUsername"}, false, N_("see relay-proxy")},
      {"relay_proxy.password_file",
       k::text,
       {"RelayProxyPasswordFile"},
       false,
       N_("see relay-proxy")},
      {"relay_proxy.fallback", k::list, {"RelayProxyFallback"}, false, N_("see relay-proxy")},
      {"relay_proxy.auth", k::choice, {"RelayProxyAuth"}, false, N_("see relay-proxy")},
      {"relay_proxy.keytab", k::text, {"RelayProxyKeytab"}, false, N_("see relay-proxy")},
      {"relay_proxy.ca_file", k::text, {"RelayProxyCaFile"}, false, N_("see relay-proxy")},
      {"relay_proxy.bypass", k::list, {"RelayProxyBypass"}, false, N_("see relay-proxy bypass")},
      {"clients.allow", k::list, {"AllowedClients", "ClientsAllow"}, true, N_("CIDRs")},
      {"upstream.resolve", k::table, {"Resolve"}, false, N_("edit the file")},
      {"upstream.allow_private", k::boolean, {"AllowPrivate"}, true, ""},
      {"limits.max_connections",
       k::integer,
       {"MaxConnections"},
       true,
       N_("0 = from open-files limit")},
      {"limits.max_connections_per_client", k::integer, {"MaxConnectionsPerClient"}, true, ""},
      {"limits.header_timeout_s", k::integer, {"HeaderTimeout"}, true, N_("seconds")},
      {"limits.handshake_timeout_s", k::integer, {"HandshakeTimeout"}, true, N_("seconds")},
      {"limits.idle_timeout_s", k::integer, {"IdleTimeout"}, true, N_("seconds")},
      {"limits.drain_timeout_s", k::integer, {"DrainTimeout"}, true, N_("seconds")},
      {"limits.connect_timeout_s", k::integer, {"ConnectTimeout"}, true, N_("seconds")},
      {"log.format", k::choice, {"LogFormat"}, true, "text | json"},
      {"log.level", k::choice, {"LogLevel"}, true, "trace | debug | info | warn | error"},
      {"perfmon.csv_file", k::text, {"PerfmonCsvFile", "PerfMonFile"}, true, ""},
      {"perfmon.interval_s", k::integer, {"PerfmonInterval"}, true, N_("seconds")},
  };
  return table;
}

const setting* find_setting(std::string_view name) {
  const std::string l = lower(trim(name));
  for (const auto& s : settings()) {
    if (lower(s.key) == l) return &s;
    for (auto a : s.aliases) {
      if (lower(a) == l) return &s;
    }
  }
  return nullptr;
}

std::vector<std::string> setting_values(const gateway_config& c, const setting& s) {
  const std::string_view k = s.key;
  if (k == "listen.address") return one(c.listen.address);
  if (k == "listen.port") return one(std::to_string(c.listen.port));
  if (k == "listen.proxy_protocol") return flag(c.listen.proxy_protocol);
  if (k == "listen.proxy_protocol_trusted") {
    std::vector<std::string> out;
    for (const auto& n : c.listen.proxy_protocol_trusted) out.push_back(n.to_string());
    return out;
  }
  if (k == "admin.address") return one(c.admin.address);
  if (k == "admin.port") return one(std::to_string(c.admin.port));
  if (k == "admin.token_file") return one(c.admin.token_file);
  if (k == "allowed_ports") return numbers(c.allowed_ports);
  if (k == "mode") return one(to_string(c.mode));
  if (k == "allowed_hosts") return c.allowed_hosts;
  if (k == "workspaces") {
    std::vector<std::string> out;
    for (const auto& w : c.workspaces) out.push_back(w.id + " " + w.cloud);
    return out;
  }
  if (k == "automation_regions") return c.automation_regions;
  if (k == "allowed_client_certificates") return c.allowed_client_certificates;
  if (k == "tls.inspect") return flag(c.tls.inspect);
  if (k == "tls.min_version") return one(to_string(c.tls.min_version));
  if (k == "tls.require_sni_match") return flag(c.tls.require_sni_match);
  if (k == "tls.unverifiable_client_cert") return one(to_string(c.tls.unverifiable_client_cert));
  if (k == "relay_proxy.address") return one(c.relay_proxy.address);
  if (k == "relay_proxy.username") return one(c.relay_proxy.username);
  if (k == "relay_proxy.password_file") return one(c.relay_proxy.password_file);
  if (k == "relay_proxy.fallback") return c.relay_proxy.fallback;
  if (k == "relay_proxy.auth") return one(to_string(c.relay_proxy.auth));
  if (k == "relay_proxy.keytab") return one(c.relay_proxy.keytab);
  if (k == "relay_proxy.ca_file") return one(c.relay_proxy.ca_file);
  if (k == "relay_proxy.bypass") return c.relay_proxy.bypass;
  if (k == "clients.allow") return c.clients.allow;
  if (k == "upstream.resolve") {
    std::vector<std::string> out;
    for (const auto& [host, ip] : c.upstream.resolve) out.push_back(host + " " + ip);
    return out;
  }
  if (k == "upstream.allow_private") return flag(c.upstream.allow_private);
  if (k == "limits.max_connections") return one(std::to_string(c.limits.max_connections));
  if (k == "limits.max_connections_per_client") {
    return one(std::to_string(c.limits.max_connections_per_client));
  }
  if (k == "limits.header_timeout_s") return one(std::to_string(c.limits.header_timeout_s));
  if (k == "limits.handshake_timeout_s") return one(std::to_string(c.limits.handshake_timeout_s));
  if (k == "limits.idle_timeout_s") return one(std::to_string(c.limits.idle_timeout_s));
  if (k == "limits.drain_timeout_s") return one(std::to_string(c.limits.drain_timeout_s));
  if (k == "limits.connect_timeout_s") return one(std::to_string(c.limits.connect_timeout_s));
  if (k == "log.format") return one(to_string(c.log.format));
  if (k == "log.level") return one(c.log.level);
  if (k == "perfmon.csv_file") return one(c.perfmon.csv_file);
  if (k == "perfmon.interval_s") return one(std::to_string(c.perfmon.interval_s));
  return {};
}

std::string setting_yaml_value(const setting& s, std::string_view value) {
  const std::string_view v = trim(value);
  switch (s.kind) {
    case setting_kind::boolean: {
      const std::string l = lower(v);
      if (l == "true" || l == "yes" || l == "on" || l == "1") return "true";
      if (l == "false" || l == "no" || l == "off" || l == "0") return "false";
      return yaml_token(v);
    }
    case setting_kind::choice:
      return yaml_token(lower(v));
    case setting_kind::tls_version: {
      std::string l = lower(v);
      l.erase(std::remove(l.begin(), l.end(), ' '), l.end());
      if (l.rfind("tls", 0) == 0) l.erase(0, 3);
      if (!l.empty() && l[0] == 'v') l.erase(0, 1);
      return yaml_string(l);  // "1.2": quoted, as any text that reads as a number
    }
    case setting_kind::integer:
      return yaml_token(v);
    case setting_kind::text:
    case setting_kind::list:
    case setting_kind::table:
      break;
  }
  return yaml_string(v);
}

}  // namespace omsgw::config
