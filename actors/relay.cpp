#include "actors/relay.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "metrics/events.hpp"

namespace omsgw::actors {
namespace {

/// A password is one line; anything bigger is not a password file.
constexpr std::size_t max_password_file = 4096;

/// Closes a descriptor on every return path.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

bool has_control_octet(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

void wipe(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

/// Reads the password (first line) from path into password; returns "" or why not.
/// The mode is checked on the opened descriptor, so the file checked is the file read.
std::string read_password_file(const std::string& path, std::string& password) {
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0) return path + ": cannot open: " + std::strerror(errno);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return path + ": cannot stat: " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fmt::format(
        "{} has mode {:04o}: a password file must not be readable or writable by group or "
        "others (chmod 600 {})",
        path, st.st_mode & 07777, path);
  }
  std::string content;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      wipe(content);
      return path + ": cannot read: " + std::strerror(errno);
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    std::fill(std::begin(buf), std::end(buf), '\0');
    if (content.size() > max_password_file) {
      wipe(content);
      return fmt::format("{} is larger than {} bytes: it must hold the password on one line",
                         path, max_password_file);
    }
  }
  const std::size_t eol = content.find('\n');
  password.assign(content, 0, eol);
  wipe(content);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) return path + " is empty: it must hold the password on its first line";
  if (has_control_octet(password)) {
    wipe(password);
    return path + ": the password contains control characters";
  }
  return {};
}

}  // namespace

relay_load_result load_relay_target(const config::relay_proxy_config& cfg) {
  relay_load_result r;
  auto fail = [&r](std::string key, std::string error) {
    r.key = std::move(key);
    r.error = std::move(error);
    return r;
  };
  if (cfg.address.empty()) return r;  // direct: username and password_file unused
  auto target = net::parse_relay_address(cfg.address);
  if (!target) return fail("relay_proxy.address", "'" + cfg.address + "' is not http://HOST:PORT");
  if (cfg.username.empty() && cfg.password_file.empty()) {
    r.target = std::make_shared<const net::relay_target>(std::move(*target));
    return r;
  }
  if (cfg.username.empty()) {
    return fail("relay_proxy.username", "is required when relay_proxy.password_file is set");
  }
  // RFC 7617 2: the user-id cannot contain a colon; control characters are not allowed.
  if (cfg.username.find(':') != std::string::npos || has_control_octet(cfg.username)) {
    return fail("relay_proxy.username", "must not contain ':' or control characters");
  }
  if (cfg.password_file.empty()) {
    return fail("relay_proxy.password_file", "is required when relay_proxy.username is set");
  }
  std::string password;
  if (auto why = read_password_file(cfg.password_file, password); !why.empty()) {
    return fail("relay_proxy.password_file", std::move(why));
  }
  target->authorization = net::basic_authorization(cfg.username, password);
  wipe(password);
  r.target = std::make_shared<const net::relay_target>(std::move(*target));
  return r;
}

bool same_relay(const net::relay_ptr& a, const net::relay_ptr& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
}

std::string relay_display(const net::relay_ptr& r) { return r ? r->display() : "direct"; }

void register_relay(caf::actor_system& sys, const relay_actor& r) {
  sys.registry().put(relay_atom::value, r);
}

relay_actor find_relay(caf::actor_system& sys) {
  return sys.registry().get<relay_actor>(relay_atom::value);
}

void unregister_relay(caf::actor_system& sys) { sys.registry().erase(relay_atom::value); }

relay_actor::behavior_type relay(relay_actor::stateful_pointer<relay_state> self,
                                 net::relay_ptr initial,
                                 std::shared_ptr<route_generations> generations) {
  self->state.current = std::move(initial);
  self->state.generations = std::move(generations);
  if (self->state.generations) {
    self->state.generations->publish_relay(self->state.current, self->state.generation);
  }
  return {
      [=](caf::get_atom) { return self->state.current; },
      [=](subscribe_atom, caf::actor who) {
        self->state.subscribers.push_back(who);
        caf::anon_send(who, update_atom::value, self->state.current, self->state.generation);
      },
      [=](update_atom, net::relay_ptr next) {
        auto& current = self->state.current;
        if (same_relay(current, next)) return;
        if (!next) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {} cleared: new tunnels connect directly; established "
                      "tunnels keep their path",
                      relay_display(current));
        } else if (current && current->host == next->host && current->port == next->port) {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy {}: credentials changed; new tunnels use them",
                      next->display());
        } else {
          OMSGW_EVENT(info, info, events::context{},
                      "relay proxy set to {} ({}): new tunnels go through it; established "
                      "tunnels keep their path",
                      next->display(),
                      next->authorization.empty() ? "no authentication" : "Basic authentication");
        }
        current = std::move(next);
        auto& st = self->state;
        ++st.generation;
        if (st.generations) st.generations->publish_relay(current, st.generation);  // first
        for (auto& s : st.subscribers) caf::anon_send(s, update_atom::value, current, st.generation);
      },
  };
}

}  // namespace omsgw::actors
