/// \file
/// What the management commands share (see cli_support.hpp): the argument parser,
/// reading the configuration file, and the locked, atomic read-modify-write of it.

#include "cli/cli_support.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/loader.hpp"

namespace omsgw::cli::detail {

// ---------------------------------------------------------------------------------
// Arguments

namespace {

/// Options that take a value, and options that are flags, over all commands.
const std::set<std::string> k_value_options = {"--config",        "--address",  "--username",
                                               "--password-file", "--password", "--threads"};
const std::set<std::string> k_flag_options = {"--help", "-h", "--all"};

bool looks_numeric(const std::string& s) {
  return s.size() > 1 && s[0] == '-' && std::all_of(s.begin() + 1, s.end(), [](char c) {
           return (c >= '0' && c <= '9') || c == '.';
         });
}

}  // namespace

cli_args parse_args(const std::vector<std::string>& args) {
  cli_args a;
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    std::string positional;
    if (only_positional || s.empty() || s[0] != '-' || s == "-" || looks_numeric(s)) {
      positional = s;
    } else if (s == "--") {
      only_positional = true;
      continue;
    } else {
      const std::size_t eq = s.find('=');
      const std::string name = s.substr(0, eq);
      if (k_flag_options.count(name) && eq == std::string::npos) {
        if (name == "--help" || name == "-h") {
          a.help = true;
        } else {
          a.flags.insert(name);
        }
      } else if (k_value_options.count(name)) {
        std::string value;
        if (eq != std::string::npos) {
          value = s.substr(eq + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else if (a.error.empty()) {
          a.error = name + " needs a value";
        }
        if (name == "--config") {
          a.config = value;
          a.config_given = true;
        } else {
          a.options[name] = value;
        }
      } else if (a.error.empty()) {
        a.error = "unknown option " + s;
      }
      continue;
    }
    if (a.command.empty()) {
      a.command = positional;
    } else {
      a.positional.push_back(positional);
    }
  }
  return a;
}

/// Rejects options a command does not take.
bool only_options(const cli_args& a, const std::set<std::string>& allowed, std::ostream& err) {
  for (const auto& [name, value] : a.options) {
    if (!allowed.count(name)) {
      err << "omsgw " << a.command << ": unknown option " << name << "\n";
      return false;
    }
  }
  for (const auto& name : a.flags) {
    if (!allowed.count(name)) {
      err << "omsgw " << a.command << ": unknown option " << name << "\n";
      return false;
    }
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::string errno_text(int e) { return std::strerror(e); }

// ---------------------------------------------------------------------------------
// The configuration file

read_status read_file(const std::string& path, std::string& text, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = errno_text(errno);
    return errno == ENOENT ? read_status::missing : read_status::error;
  }
  text.clear();
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = errno_text(errno);
      ::close(fd);
      return read_status::error;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return read_status::ok;
}

namespace {

void print_errors(const context& c, const std::vector<cfg::config_error>& errors) {
  for (const auto& e : errors) c.err << cfg::format_error(c.path, e) << "\n";
}

}  // namespace

std::optional<cfg::gateway_config> effective_config(const context& c, std::string* text_out) {
  std::string text;
  std::string why;
  switch (read_file(c.path, text, why)) {
    case read_status::missing:
      if (!c.explicit_path) return cfg::gateway_config{};
      [[fallthrough]];
    case read_status::error:
      c.err << "omsgw: cannot read " << c.path << ": " << why << "\n";
      return std::nullopt;
    case read_status::ok:
      break;
  }
  auto result = cfg::parse_config(text);
  if (!result.ok()) {
    print_errors(c, result.errors);
    c.err << "omsgw: " << c.path << " is invalid (" << result.errors.size() << " error(s))\n";
    return std::nullopt;
  }
  if (text_out) *text_out = std::move(text);
  return std::move(*result.config);
}

namespace {

/// Holds an exclusive flock on "<config>.lock" for its lifetime. The lock file is
/// never deleted: removing it would let two writers lock different inodes.
class file_lock {
 public:
  explicit file_lock(const std::string& path) {
    const std::string lock_path = path + ".lock";
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
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Replaces `path` with `text` atomically: a temp file in the same directory gets the
/// text, the old file's mode and owner, fsync; then rename(2) over the old name and
/// fsync of the directory. Readers see the old file or the new one, never a mix.
bool write_atomically(const std::string& path, const std::string& text, std::string& why) {
  struct stat old {};
  const bool exists = ::stat(path.c_str(), &old) == 0;
  const std::string dir = dir_of(path);
  std::string tmp = dir + "/." + base_of(path) + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    why = "cannot create a temporary file in " + dir + ": " + errno_text(errno);
    return false;
  }
  const auto fail = [&](const std::string& what) {
    why = what + ": " + errno_text(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  for (std::size_t off = 0; off < text.size();) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write " + tmp);
    off += static_cast<std::size_t>(n);
  }
  mode_t mode = 0644;
  if (exists) {
    mode = old.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode &= ~mask;
  }
  if (::fchmod(fd, mode) != 0) return fail("cannot set the mode of " + tmp);
  struct stat now {};
  if (exists && ::fstat(fd, &now) == 0 && (now.st_uid != old.st_uid || now.st_gid != old.st_gid) &&
      ::fchown(fd, old.st_uid, old.st_gid) != 0) {
    return fail("cannot keep the owner " + std::to_string(old.st_uid) + ":" +
                std::to_string(old.st_gid) + " of " + path + " (run as root or as its owner)");
  }
  if (::fsync(fd) != 0) return fail("cannot sync " + tmp);
  if (::close(fd) != 0) {
    why = "cannot write " + tmp + ": " + errno_text(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    why = "cannot replace " + path + ": " + errno_text(errno);
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

}  // namespace

/// The locked read-modify-write every changing command goes through: lock, read,
/// mutate, validate the new text with the loader, write atomically.
int edit_config(const context& c, const mutation& mutate) {
  // Edit the file a symlink points to, so the link stays a link.
  std::string path = c.path;
  if (char* real = ::realpath(c.path.c_str(), nullptr)) {
    path = real;
    std::free(real);
  }
  const file_lock lock(path);
  if (!lock.error().empty()) {
    c.err << "omsgw: " << lock.error() << "\n";
    return exit_failure;
  }
  std::string text;
  std::string why;
  const read_status rs = read_file(path, text, why);
  if (rs == read_status::error) {
    c.err << "omsgw: cannot read " << c.path << ": " << why << "\n";
    return exit_failure;
  }
  std::optional<cfg::gateway_config> current;
  if (auto parsed = cfg::parse_config(text); parsed.ok()) current = std::move(*parsed.config);

  const change ch = mutate(current_file{text, current});
  if (!ch.error.empty()) {
    c.err << "omsgw: " << ch.error << "\n";
    return exit_failure;
  }
  if (!ch.changed) {
    if (!ch.message.empty()) c.out << ch.message << "\n";
    return exit_ok;
  }
  const auto check = cfg::parse_config(ch.text);
  if (!check.ok()) {
    print_errors(c, check.errors);
    c.err << "omsgw: refused: the change would make " << c.path << " invalid ("
          << check.errors.size() << " error(s); lines as in the edited text); " << c.path
          << " is unchanged\n";
    return exit_failure;
  }
  if (!write_atomically(path, ch.text, why)) {
    c.err << "omsgw: " << why << "; " << c.path << " is unchanged\n";
    return exit_failure;
  }
  if (!ch.message.empty()) c.out << ch.message << "\n";
  return exit_ok;
}

change from_edit(const cfg::edit_result& r, std::string message) {
  change ch;
  if (!r.ok()) {
    ch.error = r.error;
    return ch;
  }
  ch.text = r.text;
  ch.changed = r.changed;
  ch.message = std::move(message) + (r.changed ? "" : " (no change)");
  return ch;
}

}  // namespace omsgw::cli::detail
