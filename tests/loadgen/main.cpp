// omsgw-loadgen: load generator for omsgw (and any HTTP CONNECT proxy). See usage()
// and README "Performance". Results are one JSON line on stdout; everything else goes
// to stderr.
//
// One process holds at most RLIMIT_NOFILE descriptors (one per connection), so larger
// runs fork worker processes; each runs its own epoll loop over a share of the
// connections and sends its counters and histograms back over a pipe to be merged.

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "options.hpp"
#include "report.hpp"
#include "worker.hpp"

namespace lg = omsgw::loadgen;

namespace {

/// Raises the soft descriptor limit to the hard one; returns the usable limit.
std::uint64_t raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
}

bool resolve(const std::string& host, std::uint16_t port, lg::endpoint& out, std::string& err) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res) {
    err = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return true;
}

void print_line(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

std::string ready_line(const lg::options& o, std::uint64_t established) {
  return std::string("{\"event\":\"ready\",\"mode\":\"") + lg::to_string(o.mode) +
         "\",\"established\":" + std::to_string(established) + "}";
}

bool write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

struct child {
  pid_t pid = -1;
  FILE* from = nullptr;  // "R <established>\n", then the serialized stats
  int go = -1;           // one byte opens the window
};

bool on_loopback_v4(const lg::endpoint& e) {
  if (e.addr.ss_family != AF_INET) return false;
  const auto& a = reinterpret_cast<const sockaddr_in&>(e.addr);
  return (ntohl(a.sin_addr.s_addr) >> 24) == 127;
}

int run_forked(const lg::options& o, const lg::endpoint& hop, unsigned procs, lg::stats& total) {
  std::vector<child> kids(procs);
  for (unsigned w = 0; w < procs; ++w) {
    int up[2];
    int down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) {
      std::perror("omsgw-loadgen: pipe");
      return 2;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("omsgw-loadgen: fork");
      return 2;
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the coordinator
      ::close(up[0]);
      ::close(down[1]);
      for (unsigned k = 0; k < w; ++k) {
        std::fclose(kids[k].from);
        ::close(kids[k].go);
      }
      lg::share mine{o.count * w / procs, o.count * (w + 1) / procs - o.count * w / procs, o.count};
      const int to_parent = up[1];
      const int from_parent = down[0];
      lg::ready_fn ready = [&](std::uint64_t n) {
        write_all(to_parent, "R " + std::to_string(n) + "\n");
        char b;
        while (::read(from_parent, &b, 1) < 0 && errno == EINTR) {
        }
      };
      lg::stats s;
      std::string err;
      if (!lg::run_worker(o, hop, mine, ready, s, err)) {
        write_all(to_parent, "E " + err + "\n");
        ::_exit(2);
      }
      write_all(to_parent, s.serialize());
      ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    kids[w] = {pid, ::fdopen(up[0], "r"), down[1]};
  }
  auto fail_all = [&](const std::string& why) {
    std::cerr << "omsgw-loadgen: " << why << "\n";
    for (auto& k : kids) ::kill(k.pid, SIGTERM);
    for (auto& k : kids) ::waitpid(k.pid, nullptr, 0);
    return 2;
  };
  std::uint64_t established = 0;
  char* line = nullptr;
  std::size_t cap = 0;
  for (auto& k : kids) {
    if (::getline(&line, &cap, k.from) <= 0) return fail_all("a worker died during set-up");
    if (line[0] != 'R') return fail_all(std::string("worker: ") + (line + 2));
    established += std::strtoull(line + 2, nullptr, 10);
  }
  print_line(ready_line(o, established));
  for (auto& k : kids) write_all(k.go, "G");
  int rc = 0;
  for (auto& k : kids) {
    std::string text;
    while (::getline(&line, &cap, k.from) > 0) text += line;
    lg::stats s;
    if (!s.parse(text)) {
      std::cerr << "omsgw-loadgen: worker " << k.pid << " sent no result\n";
      rc = 2;
    }
    total.merge(s);
    std::fclose(k.from);
    ::close(k.go);
    int status = 0;
    ::waitpid(k.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 2;
  }
  std::free(line);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  lg::options o;
  bool help = false;
  const std::string err = lg::parse_options(argc, argv, o, help);
  if (help) {
    std::cout << lg::usage();
    return 0;
  }
  if (!err.empty()) {
    std::cerr << "omsgw-loadgen: " << err << "\n\n" << lg::usage();
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2)
  const std::uint64_t nofile = raise_nofile();
  constexpr std::uint64_t reserve = 64;  // stdio, epoll, pipes
  const std::uint64_t per_proc = nofile > 2 * reserve ? nofile - reserve : nofile / 2;
  unsigned procs = o.procs;
  if (procs == 0) procs = static_cast<unsigned>((o.count + per_proc - 1) / per_proc);
  procs = static_cast<unsigned>(std::min<std::uint64_t>(procs, o.count));
  if (o.count / procs > per_proc) {
    std::cerr << "omsgw-loadgen: " << o.count << " connections in " << procs
              << " processes exceed RLIMIT_NOFILE (" << nofile << " per process)\n";
    return 2;
  }
  lg::endpoint hop;
  std::string rerr;
  const bool ok = o.proxy ? resolve(o.proxy->host, o.proxy->port, hop, rerr)
                          : resolve(o.connect_to.empty() ? o.target.host : o.connect_to,
                                    o.target.port, hop, rerr);
  if (!ok) {
    std::cerr << "omsgw-loadgen: " << rerr << "\n";
    return 2;
  }
  if (o.sources > 1 && !on_loopback_v4(hop)) {
    std::cerr << "omsgw-loadgen: --sources needs a first hop on 127.0.0.0/8\n";
    return 2;
  }
  lg::stats total;
  int rc = 0;
  if (procs == 1) {
    lg::ready_fn ready = [&](std::uint64_t n) { print_line(ready_line(o, n)); };
    std::string werr;
    if (!lg::run_worker(o, hop, {0, o.count, o.count}, ready, total, werr)) {
      std::cerr << "omsgw-loadgen: " << werr << "\n";
      return 2;
    }
  } else {
    rc = run_forked(o, hop, procs, total);
  }
  print_line(lg::to_json(o, procs, total));
  std::cerr << lg::summary(o, procs, total) << "\n";
  if (rc != 0) return rc;
  return total.error_total() ? 1 : 0;
}
