/// \file
/// `omsgw reload` and `omsgw status` (see cli_admin.hpp), over a small HTTP/1.1
/// client for the admin endpoint.

#include "cli/cli_admin.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>

#include "cli/i18n.hpp"
#include "config/config_file.hpp"
#include "config/loader.hpp"
#include "config/secret_file.hpp"

namespace omsgw::cli::detail {
namespace {

/// How long `reload` waits: the service answers after it has read and applied the
/// file, which it bounds at 30 s itself (actors' k_reload_timeout).
constexpr auto reload_timeout = std::chrono::seconds(35);
constexpr auto status_timeout = std::chrono::seconds(10);

/// Where the admin endpoint is and how to authenticate to it.
struct admin_target {
  cfg::admin_config admin;  ///< address (a wildcard means the local host), port, token_file
  std::string token;        ///< admin.token_file's token; "" = none configured
  ~admin_target() { cfg::wipe(token); }
};

struct http_answer {
  int status = 0;
  std::string body;
  std::string error;  ///< transport failure (connect, timeout, malformed answer)
};

/// One request to the admin endpoint. Beast's operations run on a private
/// io_context and the call blocks until they finish; the stream's expiry bounds the
/// whole exchange, which Beast's purely synchronous calls cannot do.
http_answer http_call(const admin_target& t, boost::beast::http::verb verb,
                      const std::string& target, std::chrono::seconds timeout) {
  const std::string& host = t.admin.address;
  const std::uint16_t port = t.admin.port;
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = asio::ip::tcp;
  http_answer answer;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    answer.error = format(_("invalid admin address %1%"), host);
    return answer;
  }
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "omsgw-cli/" OMSGW_VERSION);
  if (!t.token.empty()) req.set(http::field::authorization, "Bearer " + t.token);
  req.keep_alive(false);
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  const auto fail = [&](const char* what, const boost::system::error_code& e) {
    answer.error = std::string(what) + ": " +
                   (e == beast::error::timeout ? std::string(_("timed out")) : e.message());
  };
  stream.expires_after(timeout);
  stream.async_connect(tcp::endpoint(address, port), [&](const boost::system::error_code& e) {
    if (e) return fail(_("cannot connect"), e);
    http::async_write(stream, req, [&](const boost::system::error_code& e2, std::size_t) {
      if (e2) return fail(_("cannot send the request"), e2);
      http::async_read(stream, buffer, parser,
                       [&](const boost::system::error_code& e3, std::size_t) {
                         if (e3) return fail(_("cannot read the answer"), e3);
                         answer.status = static_cast<int>(parser.get().result_int());
                         answer.body = parser.get().body();
                       });
    });
  });
  ioc.run();
  return answer;
}

/// admin.* read leniently from a file the loader rejects: the service still runs its
/// previous configuration, and `reload` should reach it to hear why.
void lenient_admin(const std::string& text, cfg::admin_config& admin) {
  try {
    const YAML::Node node = YAML::Load(text)["admin"];
    const auto scalar = [&](const char* key) {
      return node && node[key] && node[key].IsScalar() ? node[key].Scalar() : std::string();
    };
    if (!scalar("address").empty()) admin.address = scalar("address");
    if (!scalar("port").empty()) admin.port = node["port"].as<std::uint16_t>();
    admin.token_file = scalar("token_file");
  } catch (const std::exception&) {
    // Unreadable YAML: the defaults stay.
  }
}

/// The admin endpoint to talk to, from the configuration, and its token.
bool admin_endpoint(const context& c, admin_target& t) {
  std::string text;
  std::string why;
  const auto rs = cfg::read_text_file(c.path, text, why);
  if (rs == cfg::read_status::error || (rs == cfg::read_status::missing && c.explicit_path)) {
    c.err << format(_("omsgw: cannot read %1%: %2%\n"), c.path, why);
    return false;
  }
  if (rs == cfg::read_status::ok) {
    const auto loaded = cfg::parse_config(text);
    if (loaded.ok()) {
      t.admin = loaded.config->admin;
    } else {
      c.err << format(_("omsgw: warning: %1% is invalid (%2% error(s)); the service keeps its "
                        "running configuration\n"),
                      c.path, loaded.errors.size());
      lenient_admin(text, t.admin);
    }
  }
  if (auto problem = cfg::read_admin_token(t.admin, t.token)) {
    c.err << format(_("omsgw: %1%: %2%\n"), problem->key,
                    localized(problem->text, problem->message));
    return false;
  }
  if (t.admin.address == "0.0.0.0") t.admin.address = "127.0.0.1";
  if (t.admin.address == "::") t.admin.address = "::1";
  return true;
}

std::string url_of(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<boost::property_tree::ptree> parse_json(const std::string& body) {
  try {
    std::istringstream in(body);
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(in, tree);
    return tree;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int admin_request(const context& c, const cli_args& a, boost::beast::http::verb verb,
                  const std::string& target, std::chrono::seconds timeout,
                  const std::function<int(const http_answer&)>& handle) {
  if (a.help) {
    c.out << help_for(a.command);
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (!a.positional.empty()) {
    c.err << format(_("omsgw %1%: takes no argument\n"), a.command);
    return exit_usage;
  }
  admin_target t;
  if (!admin_endpoint(c, t)) return exit_failure;
  const auto answer = http_call(t, verb, target, timeout);
  if (answer.status == 401) {
    c.err << format(
        t.token.empty()
            ? _("omsgw: the admin endpoint %1% refused the request: it wants a token and "
                "admin.token_file is not set in %2%\n")
            : _("omsgw: the admin endpoint %1% refused the token from admin.token_file "
                "of %2%\n"),
        url_of(t.admin.address, t.admin.port), c.path);
    return exit_failure;
  }
  if (!answer.error.empty()) {
    c.err << format(_("omsgw: cannot reach the admin endpoint %1% (%2%); is the service running "
                      "with %3%?\n"),
                    url_of(t.admin.address, t.admin.port) + target, answer.error, c.path);
    return exit_failure;
  }
  return handle(answer);
}

std::string uptime_text(double seconds) {
  auto s = static_cast<long long>(std::floor(seconds));
  const long long d = s / 86400;
  s %= 86400;
  std::ostringstream out;
  if (d > 0) out << d << "d ";
  out << std::setfill('0') << std::setw(2) << s / 3600 << ":" << std::setw(2) << (s % 3600) / 60
      << ":" << std::setw(2) << s % 60;
  return out.str();
}

}  // namespace

int reload(const context& c, const cli_args& a) {
  return admin_request(
      c, a, boost::beast::http::verb::post, "/reload", reload_timeout, [&](const http_answer& r) {
        const auto json = parse_json(r.body);
        if (!json || (r.status != 200 && r.status != 422)) {
          c.err << format(_("omsgw %1%: unexpected answer HTTP %2%: %3%\n"), "reload", r.status,
                          r.body);
          return exit_failure;
        }
        const std::string version = json->get<std::string>("config_version", "?");
        const std::string hash = json->get<std::string>("config_hash", "?");
        const std::string result = json->get<std::string>("result", "");
        if (r.status == 200 && result == "success") {
          c.out << format(_("reloaded: configuration version %1% (hash %2%) is active\n"), version,
                          hash);
          return exit_ok;
        }
        if (r.status == 200 && result == "unchanged") {
          c.out << format(_("reloaded: no change, configuration version %1% (hash %2%) stays "
                            "active\n"),
                          version, hash);
          return exit_ok;
        }
        c.err << format(_("omsgw: reload refused; the running configuration (version %1%, hash "
                          "%2%) stays:\n"),
                        version, hash);
        if (const auto errors = json->get_child_optional("errors")) {
          for (const auto& e : *errors) c.err << "  " << e.second.get_value<std::string>() << "\n";
        }
        return exit_failure;
      });
}

int status(const context& c, const cli_args& a) {
  return admin_request(
      c, a, boost::beast::http::verb::get, "/status", status_timeout, [&](const http_answer& r) {
        const auto json = parse_json(r.body);
        if (r.status != 200 || !json) {
          c.err << format(_("omsgw %1%: unexpected answer HTTP %2%: %3%\n"), "status", r.status,
                          r.body);
          return exit_failure;
        }
        const auto get = [&](const char* key) { return json->get<std::string>(key, "?"); };
        double uptime = 0;
        try {
          uptime = std::stod(get("uptime_seconds"));
        } catch (const std::exception&) {
        }
        std::vector<std::pair<std::string, std::string>> rows;
        const auto row = [&](const char* label, std::string value) {
          rows.emplace_back(label, std::move(value));
        };
        // TRANSLATORS: the row labels of `omsgw status` (a table for people); the values
        // (figures, mode and relay as the service reports them) stay as they are.
        row(_("version"), get("version"));
        row(_("uptime"), uptime_text(uptime));
        row(_("configuration"),
            format(_("version %1%, hash %2%"), get("config_version"), get("config_hash")));
        row(_("mode"),
            get("draining") == "true" ? format(_("%1% (draining)"), get("mode")) : get("mode"));
        row(_("relay proxy"), get("relay_proxy"));
        row(_("capacity"), format(_("%1% connections"), get("capacity")));
        row(_("Active Client Connection"), get("active_client_connections"));
        row(_("Connected Client"), get("connected_clients"));
        row(_("Error Count"), get("error_count"));
        row(_("Rejection Count"), get("rejection_count"));
        row(_("CONNECT requests"), get("connect_requests"));
        if (const auto file = json->get<std::string>("perfmon.csv_file", ""); !file.empty()) {
          row(_("PerfMon counter log"),
              format(_("%1% every %2% s"), file, get("perfmon.interval_s")));
        }
        c.out << label_table(rows, 28);
        return exit_ok;
      });
}

}  // namespace omsgw::cli::detail
