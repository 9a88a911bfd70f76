#pragma once
/// \file
/// A tiny DNS server on 127.0.0.1 (UDP, an ephemeral port) for resolver tests: it
/// answers A/AAAA queries for the names it is given with chosen addresses and TTL,
/// NXDOMAIN for unknown names, and nothing at all for names set silent. It counts the
/// queries it receives per name. Runs on its own thread until destroyed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace omsgw::test {

class fake_dns_server {
 public:
  struct record {
    std::vector<std::string> v4, v6;
    std::uint32_t ttl = 60;
  };

  fake_dns_server() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      throw std::runtime_error("fake_dns_server: bind");
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_dns_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::uint16_t port() const { return port_; }
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }

  void answer(const std::string& name, record r) {
    std::lock_guard<std::mutex> lock(mutex_);
    records_[name] = std::move(r);
  }
  void silent(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    silent_.insert(name);
  }
  /// AAAA queries for name get no answer (A queries do), as from some firewalls and
  /// IPv4-only forwarders.
  void silent_aaaa(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    silent_aaaa_.insert(name);
  }
  /// Queries received for name (A and AAAA each count).
  int queries(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_[name];
  }

 private:
  void serve() {
    std::vector<std::uint8_t> buf(1500);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      std::vector<std::uint8_t> reply;
      if (respond(buf.data(), static_cast<std::size_t>(n), reply)) {
        ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    }
  }

  // Parses the question; builds the answer. False: stay silent.
  bool respond(const std::uint8_t* q, std::size_t n, std::vector<std::uint8_t>& out) {
    std::size_t pos = 12;
    std::string name;
    while (pos < n && q[pos] != 0) {
      const std::size_t len = q[pos];
      if (pos + 1 + len > n) return false;
      if (!name.empty()) name += '.';
      name.append(reinterpret_cast<const char*>(q + pos + 1), len);
      pos += 1 + len;
    }
    if (pos + 5 > n) return false;
    const std::size_t question_end = pos + 5;
    const int qtype = (q[pos + 1] << 8) | q[pos + 2];
    record r;
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_[name];
      if (silent_.count(name)) return false;
      if (qtype == 28 && silent_aaaa_.count(name)) return false;
      if (auto it = records_.find(name); it != records_.end()) {
        r = it->second;
        known = true;
      }
    }
    const std::vector<std::string>& addrs = qtype == 28 ? r.v6 : r.v4;
    const bool answerable = known && (qtype == 1 || qtype == 28);
    out.assign(q, q + question_end);  // header + question, as asked
    out[2] = 0x84 | (q[2] & 0x01);    // QR, AA, RD copied
    out[3] = answerable ? 0x00 : (known ? 0x00 : 0x03);  // NOERROR / NXDOMAIN
    const std::size_t count = answerable ? addrs.size() : 0;
    out[4] = 0; out[5] = 1;
    out[6] = 0; out[7] = static_cast<std::uint8_t>(count);
    out[8] = out[9] = out[10] = out[11] = 0;
    for (std::size_t i = 0; i < count; ++i) {
      std::uint8_t rdata[16];
      const bool v6 = qtype == 28;
      ::inet_pton(v6 ? AF_INET6 : AF_INET, addrs[i].c_str(), rdata);
      const std::uint8_t rr[] = {0xc0, 0x0c, 0, static_cast<std::uint8_t>(qtype), 0, 1,
                                 static_cast<std::uint8_t>(r.ttl >> 24),
                                 static_cast<std::uint8_t>(r.ttl >> 16),
                                 static_cast<std::uint8_t>(r.ttl >> 8),
                                 static_cast<std::uint8_t>(r.ttl), 0,
                                 static_cast<std::uint8_t>(v6 ? 16 : 4)};
      out.insert(out.end(), rr, rr + sizeof rr);
      out.insert(out.end(), rdata, rdata + (v6 ? 16 : 4));
    }
    return true;
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<std::string, record> records_;
  std::set<std::string> silent_;
  std::set<std::string> silent_aaaa_;
  std::map<std::string, int> counts_;
  std::thread thread_;
};

}  // namespace omsgw::test
