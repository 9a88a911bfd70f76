#pragma once
/// \file
/// Readers: each returns the value_reader for one key, storing into its field only
/// when the value is valid (a document with any error yields no config anyway).
/// loader.cpp's schema (read_root) is built from them. Internal to config/.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/loader_checker.hpp"

namespace omsgw::config::detail {

/// A map section with a fixed set of keys.
value_reader section(checker& c, std::vector<key_rule> rules);

/// An integer in lo..hi, stored as T.
template <class T>
value_reader integer_into(checker& c, T& field, std::uint32_t lo, std::uint32_t hi) {
  return [&c, &field, lo, hi](const YAML::Node& v, const where& at) {
    if (const auto x = c.integer(v, at, lo, hi)) field = static_cast<T>(*x);
  };
}

/// true or false.
value_reader bool_into(checker& c, bool& field);

/// Free text where an empty value means "" (paths, user names).
value_reader text_into(checker& c, std::string& field, const char* what);

/// One of the names in `choices`, stored as its value.
template <class E>
value_reader choice_into(checker& c, E& field,
                         std::vector<std::pair<std::string_view, E>> choices) {
  return [&c, &field, choices = std::move(choices)](const YAML::Node& v, const where& at) {
    if (const auto x = c.choice(v, at, choices)) field = E(*x);
  };
}

/// An IPv4 or IPv6 address literal (listen.address, admin.address).
value_reader ip_into(checker& c, std::string& field);

/// Normalises one list item: returns an empty message or why the item is bad, and sets `out`.
using normaliser = std::function<message(const std::string& in, std::string& out)>;

/// A list of scalars, each normalised by `norm`, de-duplicated in order.
value_reader string_set_into(checker& c, std::vector<std::string>& field, const char* what,
                             normaliser norm);

/// allowed_hosts entries: host names, IP literals and "*.suffix" patterns.
normaliser host_pattern();

/// clients.allow entries: an IP address or CIDR.
normaliser client_cidr();

/// A list of IP addresses or CIDRs, parsed (listen.proxy_protocol_trusted).
value_reader cidrs_into(checker& c, std::vector<grammar::cidr>& field);

/// automation_regions entries: a known region, stored in its table key form.
normaliser automation_region();

/// allowed_client_certificates entries: a certificate subject, kept as written.
normaliser certificate_subject();

/// allowed_ports: a non-empty list of ports 1..65535, de-duplicated in order.
value_reader ports_into(checker& c, std::vector<std::uint16_t>& field);

/// tls.min_version: "1.0" | "1.1" | "1.2" | "1.3".
value_reader tls_version_into(checker& c, tls_version& field);

/// relay_proxy.fallback entries: http://HOST:PORT or https://HOST:PORT.
normaliser relay_url();

/// relay_proxy.address: "" or http(s)://HOST:PORT.
value_reader relay_address_into(checker& c, std::string& field);

/// upstream.resolve: host name -> IP literal; keys are normalised like allowed_hosts.
value_reader resolve_into(checker& c, std::map<std::string, std::string>& field);

/// workspaces: [{id: GUID, cloud: AzureCloud}]; the id is stored lower-case and the
/// cloud name in its canonical spelling (matched case-insensitively).
value_reader workspaces_into(checker& c, std::vector<workspace>& field);

}  // namespace omsgw::config::detail
