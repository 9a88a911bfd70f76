#pragma once
// Command-line options of omsgw-loadgen (see usage() and README "Performance").

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace omsgw::loadgen {

/// What the generator does with its connections.
enum class run_mode {
  agents,  ///< N keep-alive tunnels, each POSTing a body every period (staggered)
  rate,    ///< C workers opening and closing tunnels back to back
  bulk,    ///< K tunnels streaming large POST bodies back to back
  idle,    ///< hold N tunnels open, then check that each still works
};

const char* to_string(run_mode m);

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// Parsed options; zero/negative numbers mean "the mode's default" (resolved by
/// parse_options, so the rest of the program sees final values).
struct options {
  run_mode mode = run_mode::agents;
  std::optional<host_port> proxy;  ///< first hop; empty = straight to the target
  host_port target;                ///< CONNECT authority, Host header and TLS SNI
  /// Every port of --target HOST:PORT[,PORT...] (the first is target.port): set-ups
  /// take them in turn, so the upstream leg of a proxy spreads over several
  /// destinations instead of wearing out one destination's ephemeral ports.
  std::vector<std::uint16_t> target_ports;
  /// --sources N: client sockets bind to 127.0.0.1 ... 127.0.0.N in turn (the first hop
  /// must be on 127.0.0.0/8), so the client leg spreads over N source addresses.
  unsigned sources = 1;
  std::string connect_to;           ///< target address when direct (default: resolve host)
  std::uint64_t count = 0;          ///< agents / workers / tunnels
  std::uint64_t body = 0;           ///< POST body bytes
  double period_s = 6;              ///< agents: one POST per agent per period
  double duration_s = 10;           ///< measurement window
  double ramp_s = -1;               ///< spread of the tunnel set-ups before the window
  double timeout_s = 30;            ///< per set-up / request, extended on progress
  unsigned procs = 0;               ///< worker processes (0 = as many as descriptors need)
  bool tls = true;                  ///< TLS session inside each tunnel
  bool verify_idle = true;          ///< idle: one small request per tunnel at the end
  bool resume = true;               ///< resume TLS sessions (as agents do) after the first
  std::uint64_t max_pending = 256;  ///< set-ups in progress per process (agents/idle/bulk)
  std::string path = "/";           ///< request path
  std::string cafile;               ///< verify the server against this CA (default: no check)
  bool progress = false;            ///< progress lines on stderr once a second
};

/// Parses argv into `out`. Returns an error message, or "" on success; `help` is set
/// when --help was given.
std::string parse_options(int argc, char** argv, options& out, bool& help);

const char* usage();

}  // namespace omsgw::loadgen
