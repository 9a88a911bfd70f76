/// \file
/// Secret files (see secret_file.hpp).

#include "config/secret_file.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace omsgw::config {
namespace {

/// A password is one line; anything bigger is not a password file.
constexpr std::size_t max_password_file = 4096;
/// A token is one word; anything bigger is not a token file.
constexpr std::size_t max_token_file = 4096;

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

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

using grammar::message;

mode_t forbidden_bits(secret_kind kind) {
  return kind == secret_kind::token ? S_IRWXO : S_IRWXG | S_IRWXO;
}

message mode_problem(const std::string& path, mode_t mode, secret_kind kind) {
  switch (kind) {
    case secret_kind::password:
      return message(N_("%1% has mode %2%: a password file must not be readable or writable "
                        "by group or others (chmod 600 %1%)"),
                     path, octal_mode(mode));
    case secret_kind::keytab:
      return message(N_("%1% has mode %2%: a keytab must not be readable or writable by group "
                        "or others (chmod 600 %1%)"),
                     path, octal_mode(mode));
    case secret_kind::token:
      break;
  }
  return message(N_("%1% has mode %2%: a secret file must not be readable or writable by "
                    "others (chmod 640 %1%)"),
                 path, octal_mode(mode));
}

}  // namespace

std::optional<named_file_error> file_error(const char* key, message why) {
  std::string english = why.str();
  return named_file_error{key, std::move(english), std::move(why)};
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

message read_private_file(const std::string& path, secret_kind kind, std::size_t max_bytes,
                          std::string& content) {
  content.clear();
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0) return message(N_("%1%: cannot open: %2%"), path, std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return message(N_("%1%: cannot stat: %2%"), path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return message(N_("%1% is not a regular file"), path);
  if ((st.st_mode & forbidden_bits(kind)) != 0) return mode_problem(path, st.st_mode, kind);
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      wipe(content);
      return message(N_("%1%: cannot read: %2%"), path, std::strerror(errno));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    OPENSSL_cleanse(buf, sizeof buf);
    if (content.size() > max_bytes) {
      wipe(content);
      return message(N_("%1% is larger than %2% bytes: it must hold the secret on one line"), path,
                     max_bytes);
    }
  }
  return {};
}

std::optional<named_file_error> read_relay_password(const relay_proxy_config& cfg,
                                                    std::string& password) {
  password.clear();
  if (cfg.address.empty()) return std::nullopt;  // direct: username and password_file unused
  if (cfg.username.empty() && cfg.password_file.empty()) return std::nullopt;
  // Negotiate may name its principal with no password: the keytab or the credential
  // cache holds the key.
  if (cfg.auth == relay_auth::negotiate && cfg.password_file.empty()) return std::nullopt;
  if (cfg.username.empty()) {
    return file_error("relay_proxy.username",
                      message(N_("is required when relay_proxy.password_file is set")));
  }
  // RFC 7617 2: the user-id cannot contain a colon; control characters are not allowed.
  if (cfg.username.find(':') != std::string::npos || has_control_octet(cfg.username)) {
    return file_error("relay_proxy.username",
                      message(N_("must not contain ':' or control characters")));
  }
  if (cfg.password_file.empty()) {
    return file_error("relay_proxy.password_file",
                      message(N_("is required when relay_proxy.username is set")));
  }
  const std::string& path = cfg.password_file;
  std::string content;
  if (auto why = read_private_file(path, secret_kind::password, max_password_file, content);
      !why.empty()) {
    return file_error("relay_proxy.password_file", std::move(why));
  }
  const std::size_t eol = content.find('\n');
  password.assign(content, 0, eol);
  wipe(content);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  // Blanks only is an empty password too: a file emptied by an editor or a template.
  if (password.find_first_not_of(" \t") == std::string::npos) {
    wipe(password);
    return file_error(
        "relay_proxy.password_file",
        message(N_("%1% is empty: it must hold the password on its first line"), path));
  }
  if (has_control_octet(password)) {
    wipe(password);
    return file_error("relay_proxy.password_file",
                      message(N_("%1%: the password contains control characters"), path));
  }
  return std::nullopt;
}

std::optional<named_file_error> read_admin_token(const admin_config& cfg, std::string& token) {
  token.clear();
  if (cfg.token_file.empty()) return std::nullopt;
  const auto fail = [](message why) { return file_error("admin.token_file", std::move(why)); };
  std::string content;
  if (auto why = read_private_file(cfg.token_file, secret_kind::token, max_token_file, content);
      !why.empty()) {
    return fail(std::move(why));
  }
  const auto first = content.find_first_not_of(" \t\r\n");
  if (first != std::string::npos) {
    token.assign(content, first, content.find_last_not_of(" \t\r\n") - first + 1);
  }
  wipe(content);
  if (token.empty()) {
    return fail(message(N_("%1% is empty: it must hold the admin token"), cfg.token_file));
  }
  if (has_control_octet(token) || token.find(' ') != std::string::npos) {
    wipe(token);
    return fail(
        message(N_("%1%: the token must be one word of printable characters"), cfg.token_file));
  }
  return std::nullopt;
}

}  // namespace omsgw::config
