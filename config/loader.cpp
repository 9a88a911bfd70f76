/// \file
/// YAML -> gateway_config with strict, located validation (SPEC.md "Configuration
/// (YAML)"). The walk visits the document in order and records every problem it
/// finds; a config is returned only when there is none. yaml-cpp exceptions are
/// caught here and turned into errors: nothing escapes the public functions.
/// This file holds the schema and the document handling; the walk is in
/// loader_checker, the per-key readers in loader_readers, the value checks in
/// loader_values.

#include "config/loader.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config/loader_checker.hpp"
#include "config/loader_readers.hpp"
#include "config/loader_values.hpp"

namespace omsgw::config {
namespace {

using namespace detail;

constexpr const char* k_no_mapping_message =
    N_("the file holds no settings (empty, blank, comments only, '---' or null): refused, so a "
       "truncated file cannot widen the policy to the defaults; write {} for all defaults");

/// The public listener and the admin endpoint cannot share a port on overlapping
/// addresses: the second bind would fail at start-up, far from the cause.
void check_listen_admin_overlap(checker& c, const gateway_config& cfg) {
  if (cfg.listen.port != cfg.admin.port) return;
  const auto wildcard = [](const std::string& a) { return a == "0.0.0.0" || a == "::"; };
  if (cfg.listen.address != cfg.admin.address && !wildcard(cfg.listen.address) &&
      !wildcard(cfg.admin.address)) {
    return;
  }
  std::optional<where> at = c.seen("admin.port");
  if (!at) at = c.seen("listen.port");
  if (!at) at = c.seen("admin.address");
  if (!at) at = c.seen("listen.address");
  c.fail(at ? *at : where{"admin.port", YAML::Mark::null_mark()},
         message(N_("admin endpoint and listener both use port %1% on overlapping addresses"),
                 cfg.admin.port));
}

// The schema: SPEC.md "Configuration (YAML)", key for key, one reader per section.

value_reader listen_section(checker& c, listen_config& l) {
  return section(c, {{"address", ip_into(c, l.address)},
                     {"port", integer_into(c, l.port, 1, k_max_port)},
                     {"proxy_protocol", bool_into(c, l.proxy_protocol)},
                     {"proxy_protocol_trusted", cidrs_into(c, l.proxy_protocol_trusted)}});
}

value_reader admin_section(checker& c, admin_config& a) {
  return section(c, {{"address", ip_into(c, a.address)},
                     {"port", integer_into(c, a.port, 1, k_max_port)},
                     {"token_file", text_into(c, a.token_file, N_("a file path"))}});
}

value_reader tls_section(checker& c, tls_config& t) {
  return section(c, {{"inspect", bool_into(c, t.inspect)},
                     {"min_version", tls_version_into(c, t.min_version)},
                     {"require_sni_match", bool_into(c, t.require_sni_match)},
                     {"unverifiable_client_cert",
                      choice_into(c, t.unverifiable_client_cert,
                                  {{"allow", unverifiable_cert_action::allow},
                                   {"reject", unverifiable_cert_action::reject}})}});
}

value_reader relay_section(checker& c, relay_proxy_config& r) {
  return section(
      c, {{"address", relay_address_into(c, r.address)},
          {"fallback",
           string_set_into(c, r.fallback, N_("a relay URL http(s)://HOST:PORT"), relay_url())},
          {"username", text_into(c, r.username, N_("a string"))},
          {"password_file", text_into(c, r.password_file, N_("a file path"))},
          {"auth", choice_into(c, r.auth,
                               {{"auto", relay_auth::auto_},
                                {"basic", relay_auth::basic},
                                {"digest", relay_auth::digest},
                                {"ntlm", relay_auth::ntlm},
                                {"negotiate", relay_auth::negotiate}})},
          {"keytab", text_into(c, r.keytab, N_("a file path"))},
          {"ca_file", text_into(c, r.ca_file, N_("a file path"))},
          {"bypass",
           string_set_into(c, r.bypass, N_("a host name or *.suffix pattern"), host_pattern())}});
}

value_reader limits_section(checker& c, limits_config& lim) {
  return section(
      c, {{"max_connections", integer_into(c, lim.max_connections, 0, k_max_connections)},
          {"max_connections_per_client",
           integer_into(c, lim.max_connections_per_client, 1, k_max_connections)},
          {"header_timeout_s", integer_into(c, lim.header_timeout_s, 1, k_max_timeout_s)},
          {"handshake_timeout_s", integer_into(c, lim.handshake_timeout_s, 1, k_max_timeout_s)},
          {"idle_timeout_s", integer_into(c, lim.idle_timeout_s, 1, k_max_timeout_s)},
          {"drain_timeout_s", integer_into(c, lim.drain_timeout_s, 1, k_max_timeout_s)},
          {"connect_timeout_s", integer_into(c, lim.connect_timeout_s, 1, k_max_timeout_s)}});
}

value_reader log_section(checker& c, log_config& l) {
  return section(
      c, {{"format",
           choice_into(c, l.format, {{"text", log_format::text}, {"json", log_format::json}})},
          {"level", choice_into<std::string>(c, l.level,
                                             {{"trace", "trace"},
                                              {"debug", "debug"},
                                              {"info", "info"},
                                              {"warn", "warn"},
                                              {"error", "error"}})}});
}

void read_root(checker& c, const YAML::Node& root, gateway_config& cfg) {
  c.walk_map(
      root, {"", root.Mark()},
      {
          {"listen", listen_section(c, cfg.listen)},
          {"admin", admin_section(c, cfg.admin)},
          {"allowed_ports", ports_into(c, cfg.allowed_ports)},
          {"mode", choice_into(c, cfg.mode,
                               {{"enforce", run_mode::enforce}, {"report", run_mode::report}})},
          {"allowed_hosts", string_set_into(c, cfg.allowed_hosts,
                                            N_("a host name or *.suffix pattern"), host_pattern())},
          {"workspaces", workspaces_into(c, cfg.workspaces)},
          {"automation_regions",
           string_set_into(c, cfg.automation_regions, N_("a region name"), automation_region())},
          {"allowed_client_certificates",
           string_set_into(c, cfg.allowed_client_certificates, N_("a certificate subject"),
                           certificate_subject())},
          {"tls", tls_section(c, cfg.tls)},
          {"relay_proxy", relay_section(c, cfg.relay_proxy)},
          {"clients", section(c, {{"allow", string_set_into(c, cfg.clients.allow, N_("a CIDR"),
                                                            client_cidr())}})},
          {"upstream", section(c, {{"resolve", resolve_into(c, cfg.upstream.resolve)},
                                   {"allow_private", bool_into(c, cfg.upstream.allow_private)}})},
          {"limits", limits_section(c, cfg.limits)},
          {"log", log_section(c, cfg.log)},
          {"perfmon",
           section(c, {{"csv_file", text_into(c, cfg.perfmon.csv_file, N_("a file path"))},
                       {"interval_s",
                        integer_into(c, cfg.perfmon.interval_s, 1, k_max_perfmon_interval_s)}})},
      });
}

load_result failure(std::vector<config_error> errors) {
  load_result r;
  r.errors = std::move(errors);
  return r;
}

/// Records where each document starts and where its first node is.
struct document_probe final : YAML::EventHandler {
  YAML::Mark start;
  YAML::Mark first_node;
  bool has_node = false;
  void node(const YAML::Mark& m) {
    if (!has_node) first_node = m;
    has_node = true;
  }
  void OnDocumentStart(const YAML::Mark& m) override { start = m; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnMapEnd() override {}
};

/// yaml-cpp 0.7's LoadAll never returns on a ',' outside a flow collection (",", or a
/// stray comma after a document): its parser reports a new empty document without
/// consuming the token, forever, allocating for each (jbeder/yaml-cpp#1040, fixed
/// upstream after 0.8 by #1319). A typo would hang `check-config` and make a reload eat
/// memory until the OOM killer ends the gateway. So the documents are probed with the
/// event API first, never more than two, and the first one is loaded with Load.
std::optional<config_error> check_documents(const std::string& yaml_text) {
  std::istringstream in(yaml_text);
  YAML::Parser parser(in);
  document_probe first;
  if (!parser.HandleNextDocument(first)) return std::nullopt;
  document_probe second;
  if (!parser.HandleNextDocument(second)) return std::nullopt;
  const auto at = static_cast<std::size_t>(second.start.pos);
  // The stuck parser: a "document" that starts where the first one did, or at a ','.
  if (second.start.pos == first.start.pos || (at < yaml_text.size() && yaml_text[at] == ',')) {
    const message what = at < yaml_text.size()
                             ? message(N_("unexpected '%1%'"), std::string(1, yaml_text[at]))
                             : message(N_("unexpected end of input"));
    return make_error("", second.start.line + 1, second.start.column + 1,
                      message(N_("YAML syntax error: %1%"), what));
  }
  const YAML::Mark m = second.has_node ? second.first_node : second.start;
  return make_error("", m.line + 1, m.column + 1,
                    message(N_("expected a single YAML document, found a second one")));
}

load_result parse_or_throw(const std::string& yaml_text) {
  std::vector<YAML::Node> docs;
  try {
    if (auto problem = check_documents(yaml_text)) return failure({std::move(*problem)});
    docs.push_back(YAML::Load(yaml_text));
  } catch (const YAML::ParserException& e) {
    // yaml-cpp marks are 0-based; a null mark (-1) means "unknown". Its message for
    // too-deep nesting is a bare "bad file", hence the rewording.
    const bool too_deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr;
    return failure({make_error("", e.mark.line >= 0 ? e.mark.line + 1 : 0,
                               e.mark.column >= 0 ? e.mark.column + 1 : 0,
                               too_deep ? message(N_("YAML nesting is too deep"))
                                        : message(N_("YAML syntax error: %1%"), e.msg))});
  }
  gateway_config cfg;
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    // SPEC.md "Configuration": a truncated file must never widen the policy to the
    // defaults; "{}" is how a file says "all defaults".
    return failure({make_error("", 1, 1, message(k_no_mapping_message))});
  }
  checker c;
  if (!docs[0].IsMap()) {
    // A scalar is not quoted: this is what --config pointed at a password file shows.
    c.fail({"", docs[0].Mark()},
           message(
               N_("expected a map of settings at the top level, got %1%"),
               docs[0].IsScalar() ? message(N_("a single value (not shown)")) : describe(docs[0])));
  } else {
    read_root(c, docs[0], cfg);
    check_listen_admin_overlap(c, cfg);
  }
  std::vector<config_error> errors = c.take_errors();
  if (!errors.empty()) return failure(std::move(errors));
  return load_result{std::move(cfg), {}};
}

}  // namespace

std::string to_string(tls_version v) {
  switch (v) {
    case tls_version::tls1_0:
      return "1.0";
    case tls_version::tls1_1:
      return "1.1";
    case tls_version::tls1_2:
      return "1.2";
    case tls_version::tls1_3:
      return "1.3";
  }
  return "unknown";
}

std::string to_string(run_mode m) {
  switch (m) {
    case run_mode::enforce:
      return "enforce";
    case run_mode::report:
      return "report";
  }
  return "unknown";
}

std::string to_string(relay_auth a) {
  switch (a) {
    case relay_auth::auto_:
      return "auto";
    case relay_auth::basic:
      return "basic";
    case relay_auth::digest:
      return "digest";
    case relay_auth::ntlm:
      return "ntlm";
    case relay_auth::negotiate:
      return "negotiate";
  }
  return "unknown";
}

std::string to_string(log_format f) { return f == log_format::json ? "json" : "text"; }

std::string to_string(unverifiable_cert_action a) {
  return a == unverifiable_cert_action::reject ? "reject" : "allow";
}

config_error make_error(std::string key, int line, int column, grammar::message text) {
  std::string english = text.str();
  return config_error{std::move(key), line, column, std::move(english), std::move(text)};
}

std::string format_error(const std::string& source_name, const config_error& e,
                         grammar::message::translator tr) {
  std::string out = source_name;
  if (e.line > 0) {
    out += ":" + std::to_string(e.line);
    if (e.column > 0) out += ":" + std::to_string(e.column);
  }
  out += ": ";
  if (!e.key.empty()) out += e.key + ": ";
  out += tr && !e.text.empty() ? e.text.str(tr) : e.message;
  return out;
}

load_result parse_config(const std::string& yaml_text) {
  try {
    return parse_or_throw(yaml_text);
  } catch (const std::exception& e) {
    return failure({make_error("", 0, 0, message(N_("cannot load configuration: %1%"), e.what()))});
  } catch (...) {
    return failure({make_error("", 0, 0, message(N_("cannot load configuration: unknown error")))});
  }
}

const char* default_config_path() { return "/etc/omsgw/omsgw.yaml"; }

}  // namespace omsgw::config
