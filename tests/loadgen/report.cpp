#include "report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace omsgw::loadgen {

int histogram::index_of(std::uint64_t v) {
  constexpr std::uint64_t subs = 1u << sub_bits;
  if (v < subs) return static_cast<int>(v);
  const int e = 63 - __builtin_clzll(v);
  const auto sub = static_cast<int>((v >> (e - sub_bits)) & (subs - 1));
  return (e - sub_bits + 1) * static_cast<int>(subs) + sub;
}

std::uint64_t histogram::upper_of(int index) {
  constexpr int subs = 1 << sub_bits;
  if (index < subs) return static_cast<std::uint64_t>(index);
  const int e = index / subs + sub_bits - 1;
  const auto sub = static_cast<std::uint64_t>(index % subs);
  const std::uint64_t lower = (subs + sub) << (e - sub_bits);
  return lower + ((std::uint64_t{1} << (e - sub_bits)) - 1);
}

void histogram::record(std::uint64_t us) {
  ++counts_[static_cast<std::size_t>(index_of(us))];
  ++n_;
  max_ = std::max(max_, us);
  sum_ += us;
}

void histogram::merge(const histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  n_ += other.n_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::uint64_t histogram::percentile(double p) const {
  if (n_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(n_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      return std::min(upper_of(static_cast<int>(i)), max_);
    }
  }
  return max_;
}

std::string histogram::serialize() const {
  std::ostringstream out;
  out << n_ << ' ' << max_ << ' ' << sum_;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i]) out << ' ' << i << ':' << counts_[i];
  }
  return out.str();
}

bool histogram::parse(const std::string& text) {
  std::istringstream in(text);
  if (!(in >> n_ >> max_ >> sum_)) return false;
  std::string item;
  while (in >> item) {
    std::size_t idx = 0;
    std::uint64_t c = 0;
    if (std::sscanf(item.c_str(), "%zu:%" SCNu64, &idx, &c) != 2 || idx >= counts_.size()) {
      return false;
    }
    counts_[idx] = c;
  }
  return true;
}

const char* to_string(error_kind k) {
  switch (k) {
    case error_kind::connect:
      return "connect";
    case error_kind::proxy:
      return "proxy";
    case error_kind::tls:
      return "tls";
    case error_kind::http:
      return "http";
    case error_kind::closed:
      return "closed";
    case error_kind::timeout:
      return "timeout";
    case error_kind::count_:
      break;
  }
  return "?";
}

std::uint64_t stats::error_total() const {
  std::uint64_t t = 0;
  for (auto e : errors) t += e;
  return t;
}

void stats::merge(const stats& o) {
  connections += o.connections;
  established += o.established;
  tunnels += o.tunnels;
  handshakes += o.handshakes;
  resumed += o.resumed;
  requests += o.requests;
  bytes += o.bytes;
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  window_s = std::max(window_s, o.window_s);
  setup.merge(o.setup);
  latency.merge(o.latency);
}

std::string stats::serialize() const {
  std::ostringstream out;
  out << "connections " << connections << "\nestablished " << established << "\ntunnels " << tunnels
      << "\nhandshakes " << handshakes << "\nresumed " << resumed << "\nrequests " << requests
      << "\nbytes " << bytes << "\nerrors";
  for (auto e : errors) out << ' ' << e;
  char w[64];
  std::snprintf(w, sizeof w, "%.6f", window_s);
  out << "\nwindow " << w << "\nsetup " << setup.serialize() << "\nlatency " << latency.serialize()
      << "\nend\n";
  return out.str();
}

bool stats::parse(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  bool ended = false;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    const std::string key = line.substr(0, sp);
    const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    std::istringstream v(rest);
    if (key == "connections") {
      v >> connections;
    } else if (key == "established") {
      v >> established;
    } else if (key == "tunnels") {
      v >> tunnels;
    } else if (key == "handshakes") {
      v >> handshakes;
    } else if (key == "resumed") {
      v >> resumed;
    } else if (key == "requests") {
      v >> requests;
    } else if (key == "bytes") {
      v >> bytes;
    } else if (key == "errors") {
      for (auto& e : errors) v >> e;
    } else if (key == "window") {
      v >> window_s;
    } else if (key == "setup") {
      if (!setup.parse(rest)) return false;
    } else if (key == "latency") {
      if (!latency.parse(rest)) return false;
    } else if (key == "end") {
      ended = true;
    } else {
      return false;
    }
  }
  return ended;
}

namespace {

std::string fixed(double v, int decimals = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::isfinite(v) ? v : 0.0);
  return buf;
}

std::string hist_json(const histogram& h) {
  auto ms = [](std::uint64_t us) { return fixed(static_cast<double>(us) / 1000.0); };
  return "{\"count\":" + std::to_string(h.count()) + ",\"p50\":" + ms(h.percentile(50)) +
         ",\"p99\":" + ms(h.percentile(99)) + ",\"max\":" + ms(h.max()) +
         ",\"mean\":" + fixed(h.mean() / 1000.0) + "}";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

double per_second(double n, double window) { return window > 0 ? n / window : 0; }

}  // namespace

std::string to_json(const options& o, unsigned procs, const stats& s) {
  const double win = s.window_s;
  const double rate =
      per_second(static_cast<double>(o.mode == run_mode::rate ? s.tunnels : s.requests), win);
  // Microsoft sizes the OMS Gateway in agents; we count an agent as one 200 KiB upload
  // every 6 s, so bigger bodies or shorter periods are worth proportionally more agents.
  const double agent_eq = o.mode == run_mode::agents
                              ? per_second(static_cast<double>(s.requests), win) * 6.0 *
                                    static_cast<double>(o.body) / (200.0 * 1024)
                              : 0;
  std::string errs = "{";
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    if (i) errs += ',';
    errs += json_string(to_string(static_cast<error_kind>(i))) + ":" + std::to_string(s.errors[i]);
  }
  errs += "}";
  return std::string("{\"event\":\"result\",\"mode\":") + json_string(to_string(o.mode)) +
         ",\"via\":" +
         json_string(o.proxy ? o.proxy->host + ":" + std::to_string(o.proxy->port) : "direct") +
         ",\"target\":" + json_string(o.target.host + ":" + std::to_string(o.target.port)) +
         ",\"tls\":" + (o.tls ? "true" : "false") + ",\"procs\":" + std::to_string(procs) +
         ",\"connections\":" + std::to_string(s.connections) +
         ",\"established\":" + std::to_string(s.established) + ",\"window_s\":" + fixed(win) +
         ",\"tunnels\":" + std::to_string(s.tunnels) +
         ",\"handshakes\":" + std::to_string(s.handshakes) +
         ",\"resumed\":" + std::to_string(s.resumed) +
         ",\"requests\":" + std::to_string(s.requests) + ",\"bytes\":" + std::to_string(s.bytes) +
         ",\"errors\":" + std::to_string(s.error_total()) + ",\"error_kinds\":" + errs +
         ",\"rate_per_s\":" + fixed(rate, 1) +
         ",\"throughput_mb_s\":" + fixed(per_second(static_cast<double>(s.bytes), win) / 1e6, 2) +
         ",\"body\":" + std::to_string(o.body) + ",\"period_s\":" + fixed(o.period_s) +
         ",\"agent_equivalents\":" + fixed(agent_eq, 0) + ",\"setup_ms\":" + hist_json(s.setup) +
         ",\"latency_ms\":" + hist_json(s.latency) + "}";
}

std::string summary(const options& o, unsigned procs, const stats& s) {
  const double win = s.window_s;
  auto ms = [](std::uint64_t us) { return fixed(static_cast<double>(us) / 1000.0, 1); };
  std::string out = std::string("omsgw-loadgen ") + to_string(o.mode) + " via " +
                    (o.proxy ? o.proxy->host + ":" + std::to_string(o.proxy->port) : "direct") +
                    ": " + std::to_string(s.connections) + " connections in " +
                    std::to_string(procs) + " process(es), " + fixed(win, 1) + " s window, ";
  switch (o.mode) {
    case run_mode::rate:
      out += fixed(per_second(static_cast<double>(s.tunnels), win), 0) + " tunnels/s, set-up p50 " +
             ms(s.setup.percentile(50)) + " ms p99 " + ms(s.setup.percentile(99)) + " ms";
      break;
    case run_mode::bulk:
      out += fixed(per_second(static_cast<double>(s.bytes), win) / 1e6, 1) + " MB/s, " +
             std::to_string(s.requests) + " bodies";
      break;
    case run_mode::agents:
    case run_mode::idle:
      out += std::to_string(s.established) + " established, " + std::to_string(s.requests) +
             " requests, latency p50 " + ms(s.latency.percentile(50)) + " ms p99 " +
             ms(s.latency.percentile(99)) + " ms max " + ms(s.latency.max()) + " ms";
      break;
  }
  out += ", " + std::to_string(s.error_total()) + " errors";
  if (s.error_total()) {
    out += " (";
    bool first = true;
    for (std::size_t i = 0; i < s.errors.size(); ++i) {
      if (!s.errors[i]) continue;
      out += (first ? "" : ", ") + std::string(to_string(static_cast<error_kind>(i))) + " " +
             std::to_string(s.errors[i]);
      first = false;
    }
    out += ")";
  }
  return out;
}

}  // namespace omsgw::loadgen
