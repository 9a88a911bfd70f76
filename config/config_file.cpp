/// \file
/// The configuration file on disk (see config_file.hpp).

#include "config/config_file.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "config/path_parts.hpp"
#include "config/relay_files.hpp"
#include "config/secret_file.hpp"

namespace omsgw::config {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

/// Writes all of `text` to `fd`; false with errno set on failure.
bool write_all(int fd, const std::string& text) {
  for (std::size_t off = 0; off < text.size();) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

/// Gives the temp file `fd` the mode and owner of the file it replaces (`old`), or the
/// umask's mode for a new file. "" or why not.
std::string copy_mode_and_owner(int fd, const struct stat* old, const std::string& path) {
  mode_t mode = 0644;
  if (old) {
    mode = old->st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode &= ~mask;
  }
  if (::fchmod(fd, mode) != 0) return "cannot set the mode: " + errno_text(errno);
  struct stat now {};
  if (old && ::fstat(fd, &now) == 0 && (now.st_uid != old->st_uid || now.st_gid != old->st_gid) &&
      ::fchown(fd, old->st_uid, old->st_gid) != 0) {
    return "cannot keep the owner " + std::to_string(old->st_uid) + ":" +
           std::to_string(old->st_gid) + " of " + path +
           " (run as root or as its owner): " + errno_text(errno);
  }
  return {};
}

/// The position (1-based line and column) of `key`'s value ("admin.token_file") in
/// `text`, a document parse_config accepted; {0, 0} when it is not there.
std::pair<int, int> position_of(const std::string& text, const std::string& key) {
  try {
    YAML::Node node = YAML::Load(text);
    for (std::size_t start = 0; start <= key.size();) {
      const std::size_t dot = std::min(key.find('.', start), key.size());
      const YAML::Node& map = node;  // const: looking a key up must not add it
      if (!map.IsMap()) return {0, 0};
      node.reset(map[key.substr(start, dot - start)]);
      if (!node.IsDefined()) return {0, 0};
      start = dot + 1;
    }
    return {node.Mark().line + 1, node.Mark().column + 1};
  } catch (const YAML::Exception&) {
    return {0, 0};
  }
}

/// Checks the files `cfg` (read from `text`) names, each error at its key's line; the
/// admin token read lands in `token`.
std::vector<config_error> named_file_errors(const gateway_config& cfg, const std::string& text,
                                            std::string& token) {
  std::vector<config_error> errors;
  auto add = [&](const named_file_error& problem) {
    const auto [line, column] = position_of(text, problem.key);
    errors.push_back({problem.key, line, column, problem.message, problem.text});
  };
  std::string password;
  if (auto problem = read_relay_password(cfg.relay_proxy, password)) add(*problem);
  wipe(password);
  if (auto problem = check_relay_keytab(cfg.relay_proxy)) add(*problem);
  if (auto problem = check_relay_ca_file(cfg.relay_proxy)) add(*problem);
  if (auto problem = read_admin_token(cfg.admin, token)) add(*problem);
  return errors;
}

}  // namespace

read_status read_text_file(const std::string& path, std::string& text, std::string& why) {
  text.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    why = errno_text(e);
    return e == ENOENT ? read_status::missing : read_status::error;
  }
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {  // EISDIR for a directory: an error, never an empty file
      why = errno_text(errno);
      ::close(fd);
      text.clear();
      return read_status::error;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return read_status::ok;
}

std::string content_hash(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 6 && i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 0xf];
  }
  return out;
}

std::string resolve_path(const std::string& path) {
  std::string out = path;
  if (char* real = ::realpath(path.c_str(), nullptr)) {
    out = real;
    std::free(real);
  }
  return out;
}

file_lock::file_lock(const std::string& file) {
  const std::string lock_path = file + ".lock";
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fd_ = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error_ = "cannot open lock file " + lock_path + ": " + errno_text(errno);
    return;
  }
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      error_ = "cannot lock " + lock_path + ": " + errno_text(errno);
      return;
    }
  }
}

file_lock::~file_lock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

std::string check_writable(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    // A new file: its directory must take it (a read-only mount says EROFS here).
    const std::string dir = dir_of(file);
    if (::access(dir.c_str(), W_OK) != 0) {
      return dir + " is not writable (" + errno_text(errno) + "): cannot create " + file;
    }
    return {};
  }
  if (::access(file.c_str(), W_OK) != 0) {
    return file + " is read-only (" + errno_text(errno) + ")";
  }
  if ((st.st_mode & 0222) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return file + " is read-only (mode " + mode + ")";
  }
  return {};
}

bool replace_file(const std::string& path, const std::string& text, std::string& why) {
  const std::string file = resolve_path(path);  // a symlink stays a link: replace its target
  struct stat old {};
  const bool exists = ::stat(file.c_str(), &old) == 0;
  const std::string dir = dir_of(file);
  std::string tmp = dir + "/." + base_of(file) + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    why = "cannot create a temporary file in " + dir + ": " + errno_text(errno);
    return false;
  }
  const auto fail = [&](const std::string& what) {
    why = what;
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  if (!write_all(fd, text)) return fail("cannot write " + tmp + ": " + errno_text(errno));
  if (auto e = copy_mode_and_owner(fd, exists ? &old : nullptr, file); !e.empty()) {
    return fail(tmp + ": " + e);
  }
  if (::fsync(fd) != 0) return fail("cannot sync " + tmp + ": " + errno_text(errno));
  if (::close(fd) != 0) {
    why = "cannot write " + tmp + ": " + errno_text(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    why = "cannot replace " + file + ": " + errno_text(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename durable; a failure here loses nothing already read
    ::close(dfd);
  }
  return true;
}

config_source choose_source(const std::string& path, bool given) {
  if (given) return {path, false};
  return {default_config_path(), true};
}

file_load load_text(const std::string& text, const std::string& source_name, file_checks checks) {
  file_load out;
  auto parsed = parse_config(text);
  if (!parsed.ok()) {
    out.errors = std::move(parsed.errors);
    return out;
  }
  loaded_config l;
  if (checks == file_checks::all) {
    out.errors = named_file_errors(*parsed.config, text, l.admin_token);
    if (!out.errors.empty()) return out;
  }
  l.config = std::make_shared<const gateway_config>(std::move(*parsed.config));
  l.hash = content_hash(text);
  l.source = source_name;
  l.text = text;
  out.loaded = std::move(l);
  return out;
}

file_load load_source(const config_source& source, file_checks checks) {
  file_load out;
  std::string text;
  std::string why;
  const read_status rs =
      source.path.empty() ? read_status::missing : read_text_file(source.path, text, why);
  if (rs == read_status::missing && (source.defaults_if_missing || source.path.empty())) {
    loaded_config l;
    l.config = std::make_shared<const gateway_config>();
    l.hash = content_hash("");
    l.source = "embedded defaults";
    l.embedded = true;
    out.loaded = std::move(l);
    return out;
  }
  if (rs != read_status::ok) {
    out.errors.push_back(make_error("", 0, 0, grammar::message(N_("cannot read: %1%"), why)));
    return out;
  }
  return load_text(text, source.path, checks);
}

}  // namespace omsgw::config
