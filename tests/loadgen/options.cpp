#include "options.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace omsgw::loadgen {
namespace {

/// A decimal port, 1..65535.
bool parse_port(const std::string& s, std::uint16_t& out) {
  char* end = nullptr;
  const long p = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || p < 1 || p > 65535) return false;
  out = static_cast<std::uint16_t>(p);
  return true;
}

bool parse_host_port(const std::string& s, host_port& out) {
  std::string host;
  std::string port;
  if (!s.empty() && s[0] == '[') {  // [v6]:port
    const auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.empty() || !parse_port(port, out.port)) return false;
  out.host = host;
  return true;
}

/// "HOST:PORT[,PORT...]": the host and the first port in out.target, every port in
/// out.target_ports.
bool parse_target(const std::string& s, options& out) {
  const auto colon = s.rfind(':');
  const auto comma = s.find(',', colon == std::string::npos ? 0 : colon);
  if (!parse_host_port(s.substr(0, comma), out.target)) return false;
  out.target_ports = {out.target.port};
  for (auto at = comma; at != std::string::npos;) {
    const auto next = s.find(',', at + 1);
    std::uint16_t port = 0;
    if (!parse_port(s.substr(at + 1, next == std::string::npos ? next : next - at - 1), port)) {
      return false;
    }
    out.target_ports.push_back(port);
    at = next;
  }
  return true;
}

/// "204800", "200k", "64m", "1g" (binary multiples).
bool parse_size(const std::string& s, std::uint64_t& out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !(v >= 0)) return false;
  double mult = 1;
  const std::string_view rest(end);
  if (rest == "k" || rest == "K" || rest == "KiB" || rest == "KB") {
    mult = 1024;
  } else if (rest == "m" || rest == "M" || rest == "MiB" || rest == "MB") {
    mult = 1024.0 * 1024;
  } else if (rest == "g" || rest == "G" || rest == "GiB" || rest == "GB") {
    mult = 1024.0 * 1024 * 1024;
  } else if (!rest.empty()) {
    return false;
  }
  out = static_cast<std::uint64_t>(std::llround(v * mult));
  return true;
}

bool parse_seconds(const std::string& s, double& out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !(v >= 0) || v > 86400) return false;
  out = v;
  return true;
}

}  // namespace

const char* to_string(run_mode m) {
  switch (m) {
    case run_mode::agents:
      return "agents";
    case run_mode::rate:
      return "rate";
    case run_mode::bulk:
      return "bulk";
    case run_mode::idle:
      return "idle";
  }
  return "?";
}

const char* usage() {
  return "usage: omsgw-loadgen MODE --target HOST:PORT [--proxy HOST:PORT] [options]\n"
         "\n"
         "Modes (each sets up its tunnels, prints {\"event\":\"ready\"} on stdout, measures for\n"
         "--duration seconds, then prints one JSON result line on stdout):\n"
         "  agents  N agents, each a keep-alive CONNECT tunnel with a TLS session, POSTing\n"
         "          --body bytes every --period seconds, staggered evenly over the period\n"
         "  rate    C workers opening tunnels back to back (CONNECT, 200, close); --tls adds\n"
         "          a TLS handshake to each\n"
         "  bulk    K tunnels streaming --body sized POSTs back to back\n"
         "  idle    hold N tunnels (TLS established) for --duration, then send one small\n"
         "          request through each to prove it still works\n"
         "\n"
         "Options:\n"
         "  --proxy HOST:PORT    HTTP proxy to CONNECT through (omit: straight to the target)\n"
         "  --target HOST:PORT[,PORT...]\n"
         "                       CONNECT authority, Host header and TLS SNI (required);\n"
         "                       with several ports, set-ups take them in turn\n"
         "  --connect-to ADDR    address of the target when direct (default: resolve HOST)\n"
         "  --sources N          bind client sockets to 127.0.0.1 ... 127.0.0.N in turn (a\n"
         "                       first hop on 127.0.0.0/8 only). With several target ports,\n"
         "                       this keeps set-up rates above ~14k/s from being capped by\n"
         "                       the reuse of one address pair's TIME_WAIT ports\n"
         "  --agents N | --workers C | --tunnels K | --count N\n"
         "                       connections (defaults: agents 100, rate 16, bulk 4, idle 100)\n"
         "  --body SIZE          POST body: 200k (agents), 64m (bulk); suffixes k m g\n"
         "  --period S           agents: seconds between one agent's POSTs (default 6)\n"
         "  --duration S         measurement window (default 10)\n"
         "  --ramp S             spread tunnel set-ups over S seconds (default N/1000)\n"
         "  --timeout S          per set-up or request, reset on progress (default 30)\n"
         "  --max-pending N      set-ups in progress per process; more wait their turn, so\n"
         "                       an overloaded machine ramps slower instead of timing out\n"
         "                       (default 256; rate mode: --workers)\n"
         "  --no-resume          full TLS handshake every time (default: resume sessions,\n"
         "                       as agents do, once the server has issued some)\n"
         "  --procs P            worker processes (default: as many as RLIMIT_NOFILE needs)\n"
         "  --tls | --no-tls     TLS inside the tunnel (default on, rate: off)\n"
         "  --no-verify-idle     idle: skip the closing request through each tunnel\n"
         "  --path P             request path (default /)\n"
         "  --cafile F           verify the server certificate against F (default: no check)\n"
         "  --progress           one progress line per second on stderr\n"
         "\n"
         "Counts, latencies and errors are exact; latency percentiles are histogram bucket\n"
         "bounds (within 6%). An agent-equivalent is one 200 KiB POST every 6 s.\n";
}

std::string parse_options(int argc, char** argv, options& out, bool& help) {
  help = false;
  if (argc < 2) return "missing MODE";
  int tls = -1;
  int i = 1;
  const std::string m = argv[i++];
  if (m == "--help" || m == "-h") {
    help = true;
    return "";
  }
  if (m == "agents") {
    out.mode = run_mode::agents;
  } else if (m == "rate") {
    out.mode = run_mode::rate;
  } else if (m == "bulk") {
    out.mode = run_mode::bulk;
  } else if (m == "idle") {
    out.mode = run_mode::idle;
  } else {
    return "unknown mode '" + m + "' (agents, rate, bulk, idle)";
  }
  for (; i < argc; ++i) {
    std::string key = argv[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = key.find('='); key.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    auto need = [&](std::string& v) {
      if (has_value) {
        v = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    std::string v;
    if (key == "--help" || key == "-h") {
      help = true;
      return "";
    } else if (key == "--tls") {
      tls = 1;
    } else if (key == "--no-tls") {
      tls = 0;
    } else if (key == "--no-verify-idle") {
      out.verify_idle = false;
    } else if (key == "--no-resume") {
      out.resume = false;
    } else if (key == "--progress") {
      out.progress = true;
    } else if (!need(v)) {
      return key + " needs a value";
    } else if (key == "--proxy") {
      host_port hp;
      if (!parse_host_port(v, hp)) return "--proxy: expected HOST:PORT, got '" + v + "'";
      out.proxy = hp;
    } else if (key == "--target") {
      if (!parse_target(v, out)) {
        return "--target: expected HOST:PORT[,PORT...], got '" + v + "'";
      }
    } else if (key == "--connect-to") {
      out.connect_to = v;
    } else if (key == "--agents" || key == "--workers" || key == "--tunnels" || key == "--count") {
      if (!parse_size(v, out.count) || out.count == 0 || out.count > 10'000'000) {
        return key + ": expected a positive count, got '" + v + "'";
      }
    } else if (key == "--max-pending") {
      if (!parse_size(v, out.max_pending) || out.max_pending == 0) {
        return "--max-pending: expected a positive count, got '" + v + "'";
      }
    } else if (key == "--body") {
      if (!parse_size(v, out.body)) return "--body: expected a size, got '" + v + "'";
    } else if (key == "--period") {
      if (!parse_seconds(v, out.period_s) || out.period_s <= 0) return "--period: bad '" + v + "'";
    } else if (key == "--duration") {
      if (!parse_seconds(v, out.duration_s) || out.duration_s <= 0) {
        return "--duration: bad '" + v + "'";
      }
    } else if (key == "--ramp") {
      if (!parse_seconds(v, out.ramp_s)) return "--ramp: bad '" + v + "'";
    } else if (key == "--timeout") {
      if (!parse_seconds(v, out.timeout_s) || out.timeout_s <= 0) {
        return "--timeout: bad '" + v + "'";
      }
    } else if (key == "--sources") {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 254) return "--sources: expected 1..254, got '" + v + "'";
      out.sources = static_cast<unsigned>(n);
    } else if (key == "--procs") {
      char* end = nullptr;
      const long p = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || p < 0 || p > 256) return "--procs: expected 0..256, got '" + v + "'";
      out.procs = static_cast<unsigned>(p);
    } else if (key == "--path") {
      if (v.empty() || v[0] != '/') return "--path must start with /";
      out.path = v;
    } else if (key == "--cafile") {
      out.cafile = v;
    } else {
      return "unknown option " + key;
    }
  }
  if (out.target.host.empty()) return "--target HOST:PORT is required";
  if (out.count == 0) {
    out.count = out.mode == run_mode::rate ? 16 : out.mode == run_mode::bulk ? 4 : 100;
  }
  if (out.body == 0 && out.mode != run_mode::idle) {
    out.body = out.mode == run_mode::bulk ? (64u << 20) : 200u * 1024;
  }
  out.tls = tls < 0 ? out.mode != run_mode::rate : tls == 1;
  if (out.mode == run_mode::bulk && !out.tls) return "bulk needs TLS (it POSTs to the target)";
  if (out.mode == run_mode::agents && !out.tls) return "agents need TLS (they POST to the target)";
  if (out.ramp_s < 0) out.ramp_s = static_cast<double>(out.count) / 1000.0;
  return "";
}

}  // namespace omsgw::loadgen
