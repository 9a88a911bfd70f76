// omsgw-connect-answerer: the upstream behind scripts/bench's HAProxy baseline. It
// stands in for a CONNECT proxy's far end as a tunnel has it: it answers a request head
// with "200 Connection established", then keeps the connection open until the client
// ends it, and closes only after the client's FIN, as a TLS server does (the bench's
// nginx, which the CONNECT proxies reach). So a TCP-mode HAProxy in front of it does
// the same socket work as omsgw in front of nginx: it passes the client's FIN on and
// closes second. One thread, level-triggered epoll, nothing else.
//
// usage: omsgw-connect-answerer PORT...  (listens on 127.0.0.1:PORT, each PORT; prints
//                                         "ready")

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr char k_answer[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/// Per descriptor: how much of "\r\n\r\n" the bytes so far end with (4: answered).
std::vector<unsigned char> g_matched;

void raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) {
    std::perror("omsgw-connect-answerer: listen");
    std::exit(1);
  }
  return fd;
}

void accept_all(int ep, int lfd) {
  for (;;) {
    const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: the backlog waits
    if (static_cast<std::size_t>(fd) >= g_matched.size()) g_matched.resize(fd + 1024);
    g_matched[fd] = 0;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
}

/// Reads what the client sent: the head is answered once it is complete; the end of
/// the client's stream (or an error) closes the connection.
void serve(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      ::close(fd);  // also leaves the epoll set
      return;
    }
    unsigned char& m = g_matched[fd];
    for (ssize_t i = 0; i < n && m < 4; ++i) {
      const char want = (m % 2 == 0) ? '\r' : '\n';
      m = buf[i] == want ? m + 1 : (buf[i] == '\r' ? 1 : 0);
      if (m == 4) (void)!::send(fd, k_answer, sizeof k_answer - 1, MSG_NOSIGNAL);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: omsgw-connect-answerer PORT...\n");
    return 2;
  }
  raise_nofile();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<bool> listener;
  for (int i = 1; i < argc; ++i) {
    const int lfd = listen_on(std::atoi(argv[i]));
    if (static_cast<std::size_t>(lfd) >= listener.size()) listener.resize(lfd + 1);
    listener[lfd] = true;
    epoll_event lev{};
    lev.events = EPOLLIN;
    lev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (static_cast<std::size_t>(fd) < listener.size() && listener[fd]) {
        accept_all(ep, fd);
      } else {
        serve(fd);
      }
    }
  }
}
