/// \file
/// Readers for the individual keys (see loader_readers.hpp).

#include "config/loader_readers.hpp"

#include <algorithm>
#include <array>

#include "config/loader_values.hpp"
#include "config/subject.hpp"
#include "net/grammar/authority.hpp"
#include "net/grammar/host.hpp"
#include "net/grammar/ip.hpp"

namespace omsgw::config::detail {
namespace {

constexpr std::array<std::string_view, 3> k_clouds = {"AzureCloud", "AzureUSGovernment",
                                                      "AzureChinaCloud"};

/// "'VALUE' REASON": a refused value from the file, quoted, and why.
message quoted(const std::string& value, message why) {
  return message(N_("'%1%' %2%"), shown(value), std::move(why));
}

}  // namespace

value_reader section(checker& c, std::vector<key_rule> rules) {
  return [&c, rules = std::move(rules)](const YAML::Node& v, const where& at) {
    c.walk_map(v, at, rules);
  };
}

value_reader bool_into(checker& c, bool& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    if (const auto x = c.boolean(v, at)) field = *x;
  };
}

value_reader text_into(checker& c, std::string& field, const char* what) {
  return [&c, &field, what](const YAML::Node& v, const where& at) {
    if (auto x = c.text(v, at, what, true)) field = std::move(*x);
  };
}

value_reader ip_into(checker& c, std::string& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    const auto s = c.text(v, at, N_("an IP address"), false);
    if (s && !grammar::parse_ip(*s)) {
      c.fail(at, message(N_("expected an IPv4 or IPv6 address such as 0.0.0.0 or ::, got %1%"),
                         describe(v)));
    } else if (s) {
      field = *s;
    }
  };
}

value_reader string_set_into(checker& c, std::vector<std::string>& field, const char* what,
                             normaliser norm) {
  return [&c, &field, what, norm = std::move(norm)](const YAML::Node& n, const where& at) {
    std::vector<std::string> items;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& v, const where& a) {
      const auto s = c.text(v, a, what, false);
      if (!s) return;
      std::string value;
      if (const message why = norm(*s, value); !why.empty()) {
        c.fail(a, s->empty() ? why : quoted(*s, why));
      } else if (std::find(items.begin(), items.end(), value) == items.end()) {
        items.push_back(std::move(value));
      }
    });
    if (ok) field = std::move(items);
  };
}

normaliser host_pattern() {
  return [](const std::string& s, std::string& out) {
    auto pattern = grammar::normalize_host_pattern(s);
    if (!pattern) return pattern.reason();
    out = std::move(*pattern);
    return message();
  };
}

normaliser relay_url() {
  return [](const std::string& s, std::string& out) {
    out = std::string(trim(s));
    if (out.empty()) return message(N_("is empty"));
    return grammar::parse_relay_url(out).reason();
  };
}

normaliser client_cidr() {
  return [](const std::string& s, std::string& out) {
    out = std::string(trim(s));
    return grammar::parse_cidr(out).reason();
  };
}

value_reader cidrs_into(checker& c, std::vector<grammar::cidr>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::vector<grammar::cidr> items;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& v, const where& a) {
      const auto s = c.text(v, a, N_("a CIDR"), false);
      if (!s) return;
      const auto parsed = grammar::parse_cidr(trim(*s));
      if (!parsed) {
        c.fail(a, quoted(*s, parsed.reason()));
      } else if (std::find(items.begin(), items.end(), *parsed) == items.end()) {
        items.push_back(*parsed);
      }
    });
    if (ok) field = std::move(items);
  };
}

normaliser automation_region() {
  return [](const std::string& s, std::string& out) {
    if (const auto key = automation_region_key(s)) {
      out = *key;
      return message();
    }
    const std::vector<std::string_view> known(k_automation_regions.begin(),
                                              k_automation_regions.end());
    message hint = did_you_mean(automation_region_key_form(s), known);
    if (hint.empty()) hint = message(N_("; known regions: %1%"), join(known, ", "));
    return message(N_("is not a known Azure Automation region%1%"), hint);
  };
}

normaliser certificate_subject() {
  return [](const std::string& s, std::string& out) {
    out = std::string(trim(s));
    if (out.empty()) return message(N_("must not be empty"));
    // Kept as written (the CLI lists it so), but it must read as a subject: an entry
    // that matches no certificate would refuse every agent.
    if (canonical_subject(out).empty()) {
      return message(
          N_("is not a certificate subject: write CN=<name> (matches that common name) or a "
             "whole subject such as CN=agent01,O=Contoso (README \"TLS inspection\")"));
    }
    return message();
  };
}

value_reader ports_into(checker& c, std::vector<std::uint16_t>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::vector<std::uint16_t> ports;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& v, const where& a) {
      const auto p = c.integer(v, a, 1, k_max_port);
      if (p && std::find(ports.begin(), ports.end(), *p) == ports.end()) {
        ports.push_back(static_cast<std::uint16_t>(*p));
      }
    });
    if (ok && n.size() == 0) c.fail(at, message(N_("must list at least one port, e.g. [443]")));
    if (ok) field = std::move(ports);
  };
}

value_reader tls_version_into(checker& c, tls_version& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    // Unquoted 1.2 is a YAML float, but yaml-cpp keeps its text, so both spellings
    // compare equal here.
    static constexpr std::pair<std::string_view, tls_version> versions[] = {
        {"1.0", tls_version::tls1_0},
        {"1.1", tls_version::tls1_1},
        {"1.2", tls_version::tls1_2},
        {"1.3", tls_version::tls1_3}};
    for (const auto& [name, version] : versions) {
      if (v.IsScalar() && name == v.Scalar()) {
        field = version;
        return;
      }
    }
    const bool ssl = v.IsScalar() && lower(v.Scalar()).rfind("ssl", 0) == 0;
    c.fail(at,
           message(N_("expected one of %1%, got %2%%3%"), R"("1.0"|"1.1"|"1.2"|"1.3")", describe(v),
                   ssl ? message(N_("; SSL 2/3 are always rejected")) : message()));
  };
}

value_reader relay_address_into(checker& c, std::string& field) {
  return [&c, &field](const YAML::Node& v, const where& at) {
    const auto s = c.text(v, at, N_("http(s)://HOST:PORT or \"\""), true);
    if (!s) return;
    if (s->empty()) {
      field.clear();
    } else if (const auto url = grammar::parse_relay_url(*s); !url) {
      c.fail(at, quoted(*s, url.reason()));
    } else {
      field = *s;
    }
  };
}

value_reader resolve_into(checker& c, std::map<std::string, std::string>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::map<std::string, std::string> resolve;
    c.each_entry(
        n, at,
        [&](const std::string& host, const YAML::Node& k, const YAML::Node& ip, const where& vat) {
          const std::string key = at.key + "[" + host + "]";
          std::string name;
          message why;
          const auto normalised = grammar::normalize_host(host);
          if (grammar::is_wildcard(host)) {
            why = message(N_("must be an exact host name, not a wildcard"));
          } else if (!normalised) {
            why = normalised.reason();
          } else {
            name = *normalised;
            if (grammar::is_ip_literal(name)) {
              why = message(N_("is an IP address; expected a host name"));
            } else if (resolve.count(name)) {
              why = message(N_("is listed twice (host names are compared in lower case)"));
            }
          }
          if (!why.empty()) c.fail({key, k.Mark()}, quoted(host, why));
          const auto addr = c.text(ip, {key, vat.mark}, N_("an IP address"), false);
          if (addr && !grammar::parse_ip(*addr)) {
            c.fail({key, vat.mark},
                   message(N_("expected an IPv4 or IPv6 address, got %1%"), describe(ip)));
          } else if (addr && why.empty()) {
            resolve.emplace(name, *addr);
          }
        });
    field = std::move(resolve);
  };
}

value_reader workspaces_into(checker& c, std::vector<workspace>& field) {
  return [&c, &field](const YAML::Node& n, const where& at) {
    std::vector<workspace> items;
    const bool ok = c.walk_list(n, at, [&](const YAML::Node& item, const where& iat) {
      workspace ws;
      bool valid = item.IsMap();
      bool has_id = false;
      const value_reader id = [&](const YAML::Node& v, const where& a) {
        has_id = true;
        const auto s = c.text(v, a, N_("a workspace GUID"), false);
        const auto guid = s ? normalise_guid(*s) : std::nullopt;
        if (s && !guid) {
          c.fail(a, message(N_("expected a GUID such as 01234567-89ab-cdef-0123-456789abcdef, "
                               "got %1%"),
                            describe(v)));
        }
        valid = valid && guid;
        if (guid) ws.id = *guid;
      };
      const value_reader cloud = [&](const YAML::Node& v, const where& a) {
        const auto s = c.text(v, a, N_("a cloud name"), false);
        const auto it = std::find_if(k_clouds.begin(), k_clouds.end(), [&](std::string_view x) {
          return s && lower(*s) == lower(x);
        });
        if (s && it == k_clouds.end()) {
          const std::vector<std::string_view> names(k_clouds.begin(), k_clouds.end());
          c.fail(a, message(N_("expected one of %1%, got %2%%3%"), join(names, "|"), describe(v),
                            message()));
        }
        valid = valid && it != k_clouds.end();
        if (it != k_clouds.end()) ws.cloud = std::string(*it);
      };
      c.walk_map(item, iat, {{"id", id}, {"cloud", cloud}});
      if (item.IsMap() && !has_id) {
        c.fail({child(iat.key, "id"), iat.mark},
               message(N_("is required: every workspace needs its GUID")));
        valid = false;
      }
      if (!valid) return;
      const auto same = std::find_if(items.begin(), items.end(),
                                     [&](const workspace& w) { return w.id == ws.id; });
      if (same == items.end()) {
        items.push_back(ws);
      } else if (same->cloud != ws.cloud) {
        c.fail(iat, message(N_("workspace %1% is listed twice with different clouds"), ws.id));
      }
    });
    if (ok) field = std::move(items);
  };
}

}  // namespace omsgw::config::detail
