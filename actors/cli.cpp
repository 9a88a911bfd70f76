/// \file
/// The management commands (see cli.hpp). Each command is a small function over a
/// parsed argument list; the shared parts are reading the effective configuration,
/// the locked read-modify-write of the file, and a tiny HTTP client for the admin
/// endpoint.

#include "actors/cli.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "config/derived_hosts.hpp"
#include "config/editor.hpp"
#include "config/loader.hpp"
#include "net/policy.hpp"

namespace omsgw::actors {
namespace {

namespace cfg = omsgw::config;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// How long `reload` waits: the service answers after it has read and applied the
/// file, which it bounds at 30 s itself.
constexpr auto reload_timeout = std::chrono::seconds(35);
constexpr auto status_timeout = std::chrono::seconds(10);

// ---------------------------------------------------------------------------------
// Arguments

/// Options that take a value, and options that are flags, over all commands.
const std::set<std::string> k_value_options = {"--config",        "--address",  "--username",
                                               "--password-file", "--password", "--threads"};
const std::set<std::string> k_flag_options = {"--help", "-h", "--all"};

struct cli_args {
  std::string command;
  std::vector<std::string> positional;  ///< after the command word
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  std::string config;
  bool config_given = false;
  bool help = false;
  std::string error;

  bool has(const std::string& o) const { return options.count(o) > 0; }
};

bool looks_numeric(const std::string& s) {
  return s.size() > 1 && s[0] == '-' && std::all_of(s.begin() + 1, s.end(), [](char c) {
           return (c >= '0' && c <= '9') || c == '.';
         });
}

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

struct context {
  std::string path;
  bool explicit_path = false;
  std::ostream& out;
  std::ostream& err;
};

enum class read_status { ok, missing, error };

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

void print_errors(const context& c, const std::vector<cfg::config_error>& errors) {
  for (const auto& e : errors) c.err << cfg::format_error(c.path, e) << "\n";
}

/// The configuration a command reads: the file, or the embedded defaults when the
/// default path does not exist (as `omsgw run` does).
std::optional<cfg::gateway_config> effective_config(const context& c,
                                                    std::string* text_out = nullptr) {
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

/// What a mutation of the file text decided.
struct change {
  std::string text;  ///< the new text (when changed)
  bool changed = false;
  std::string message;  ///< printed on success (also when nothing changed)
  std::string error;    ///< non-empty: refused, nothing written
};

/// The current file as a mutation sees it.
struct current_file {
  const std::string& text;  ///< "" when the file does not exist yet
  /// The effective config, when the current text is valid.
  const std::optional<cfg::gateway_config>& config;
};

using mutation = std::function<change(const current_file&)>;

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

std::vector<std::string> yaml_strings(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) out.push_back(cfg::yaml_string(v));
  return out;
}

/// Normalises one list item the way the loader does (lower-case host, trimmed subject,
/// ...) by loading a one-item document; returns "" and sets `why` when it is invalid.
std::string normalise_item(const std::string& key, const std::string& value, std::string& why) {
  const auto* s = cfg::find_setting(key);
  const auto doc = cfg::set_list("", cfg::split_key(key), {cfg::yaml_string(value)});
  if (!doc.ok() || !s) {
    why = doc.error;
    return "";
  }
  const auto loaded = cfg::parse_config(doc.text);
  if (!loaded.ok()) {
    why = loaded.errors.front().message;
    return "";
  }
  const auto values = cfg::setting_values(*loaded.config, *s);
  return values.empty() ? std::string() : values.front();
}

// ---------------------------------------------------------------------------------
// Help

constexpr const char* k_usage =
    "  config get [KEY] | set KEY VALUE    read/change one setting (OMS names accepted)\n"
    "  allowed-host add|remove HOST | list [--all]\n"
    "                                      allowed destinations (--all: also derived ones)\n"
    "  allowed-client-cert add|remove SUBJECT | list\n"
    "                                      allowed client-certificate subjects\n"
    "  automation-hosts [REGION]           Azure Automation hybrid-worker hosts of a region\n"
    "  relay-proxy get | set --address URL [--username U --password-file F] | clear\n"
    "                                      the relay (upstream) proxy\n"
    "  reload                              ask the running service to reload now\n"
    "  status                              counters and config version of the running service\n";

const char* help_for(const std::string& command) {
  if (command == "allowed-host") {
    return "usage: omsgw allowed-host add HOST [--config F]\n"
           "       omsgw allowed-host remove HOST [--config F]\n"
           "       omsgw allowed-host list [--all] [--config F]\n"
           "Changes allowed_hosts (Add/Remove/Get-OMSGatewayAllowedHost). HOST is an exact name,\n"
           "an IP address or a *.suffix wildcard. `list` shows the configured entries; `--all`\n"
           "adds the hosts derived from `workspaces` and `automation_regions`, each with its\n"
           "origin. A running gateway applies a change within a second, without a restart.\n";
  }
  if (command == "allowed-client-cert") {
    return "usage: omsgw allowed-client-cert add SUBJECT [--config F]\n"
           "       omsgw allowed-client-cert remove SUBJECT [--config F]\n"
           "       omsgw allowed-client-cert list [--config F]\n"
           "Changes allowed_client_certificates (…AllowedClientCertificate). SUBJECT is the\n"
           "certificate subject as logged by event 105, e.g. \"CN=agent01\". An empty list means\n"
           "client certificates are not checked.\n";
  }
  if (command == "automation-hosts") {
    return "usage: omsgw automation-hosts [REGION]\n"
           "Prints the Azure Automation Job Runtime Data and Agent service hosts of REGION\n"
           "(\"West Europe\", \"westeurope\" and \"west-europe\" all work), or of every region\n"
           "when REGION is omitted. Add a region's hosts to the allow-list with\n"
           "  omsgw config set automation_regions westeurope[,northeurope...]\n";
  }
  if (command == "relay-proxy") {
    return "usage: omsgw relay-proxy get [--config F]\n"
           "       omsgw relay-proxy set --address http://HOST:PORT [--username U --password-file "
           "F]\n"
           "       omsgw relay-proxy clear [--config F]\n"
           "Shows or changes the relay (upstream) proxy (Get/Set-OMSGatewayRelayProxy). `set`\n"
           "replaces all three settings: without --username the relay needs no credentials.\n"
           "The password is never given on the command line nor printed: put it in a file that\n"
           "only its owner can read (chmod 600) and pass --password-file.\n";
  }
  if (command == "reload") {
    return "usage: omsgw reload [--config F]\n"
           "Asks the running service (POST /reload on its admin endpoint, admin.address and\n"
           "admin.port from the configuration) to reload now, prints the result and exits 1 when\n"
           "the reload was refused or the service cannot be reached. Not needed after CLI edits:\n"
           "the service watches its file.\n";
  }
  if (command == "status") {
    return "usage: omsgw status [--config F]\n"
           "Prints version, uptime, configuration version and hash, the OMS counters (Active\n"
           "Client Connection, Connected Client, Error Count, Rejection Count), mode and relay of\n"
           "the running service, read from GET /status on its admin endpoint.\n";
  }
  return nullptr;
}

void print_config_help(std::ostream& out) {
  out << "usage: omsgw config get [KEY] [--config F]\n"
         "       omsgw config set KEY VALUE [--config F]\n"
         "Reads or changes one setting (Get/Set-OMSGatewayConfig). KEY is the dotted YAML key\n"
         "or its OMS-style alias, in any case. `get` without KEY prints every setting, marking\n"
         "those the file does not set. For a list, `set` takes the items as separate arguments\n"
         "or comma-separated (`config set allowed_ports 443,8443`). The new file is validated\n"
         "before it is written; a running gateway applies the change without a restart, except\n"
         "listen.* and admin.* which take effect at the next restart.\n\n"
         "keys and aliases:\n";
  for (const auto& s : cfg::settings()) {
    std::string aliases;
    for (auto a : s.aliases) aliases += (aliases.empty() ? "" : ", ") + std::string(a);
    out << "  " << std::left << std::setw(36) << s.key << std::setw(44) << aliases;
    if (!s.settable) out << "read-only: ";
    out << s.note << "\n";
  }
}

// ---------------------------------------------------------------------------------
// config get / set

bool restart_needed(std::string_view key) {
  return key.rfind("listen.", 0) == 0 || key.rfind("admin.", 0) == 0;
}

std::string display_list(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

int config_get(const context& c, const cli_args& a) {
  if (a.positional.size() > 2) {
    c.err << "omsgw config get: takes at most one KEY\n";
    return exit_usage;
  }
  std::string text;
  const auto config = effective_config(c, &text);
  if (!config) return exit_failure;
  if (a.positional.size() == 2) {
    const auto* s = cfg::find_setting(a.positional[1]);
    if (!s) {
      c.err << "omsgw: unknown setting '" << a.positional[1]
            << "'; `omsgw config --help` lists keys and aliases\n";
      return exit_failure;
    }
    for (const auto& v : cfg::setting_values(*config, *s)) c.out << v << "\n";
    return exit_ok;
  }
  for (const auto& s : cfg::settings()) {
    const auto values = cfg::setting_values(*config, s);
    const bool list = s.kind == cfg::setting_kind::list || s.kind == cfg::setting_kind::table;
    if (list) {
      c.out << s.key << ": " << display_list(values);
    } else {
      c.out << s.key << ": " << (values.at(0).empty() ? "\"\"" : values.at(0));
    }
    if (!cfg::has_key(text, cfg::split_key(s.key))) c.out << "  (default)";
    c.out << "\n";
  }
  return exit_ok;
}

/// List values from the command line: separate arguments and/or comma-separated,
/// optionally in brackets ("[443, 8443]").
std::vector<std::string> split_items(const std::vector<std::string>& args) {
  std::vector<std::string> items;
  for (std::string arg : args) {
    arg = trim(arg);
    if (!arg.empty() && arg.front() == '[' && arg.back() == ']')
      arg = arg.substr(1, arg.size() - 2);
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!trim(item).empty()) items.push_back(trim(item));
    }
  }
  return items;
}

int config_set(const context& c, const cli_args& a) {
  if (a.positional.size() < 3) {
    c.err << "omsgw config set: needs KEY and VALUE\n";
    return exit_usage;
  }
  const std::string& name = a.positional[1];
  const std::vector<std::string> values(a.positional.begin() + 2, a.positional.end());
  const auto* s = cfg::find_setting(name);
  std::string key = s ? std::string(s->key) : lower(name);
  if (!s && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") != std::string::npos) {
    c.err << "omsgw: unknown setting '" << name
          << "'; `omsgw config --help` lists keys and aliases\n";
    return exit_failure;
  }
  if (s && !s->settable) {
    c.err << "omsgw: " << s->key << " cannot be set with `config set` (" << s->note << ")\n";
    return exit_failure;
  }
  const bool list = s && s->kind == cfg::setting_kind::list;
  if (!list && values.size() != 1) {
    c.err << "omsgw config set: " << key << " takes one VALUE (quote a value with spaces)\n";
    return exit_usage;
  }
  const std::string note = restart_needed(key) ? " (takes effect at the next restart)" : "";
  return edit_config(c, [&](const current_file& f) {
    if (list) {
      std::vector<std::string> items;
      for (const auto& item : split_items(values)) {
        items.push_back(key == "allowed_ports" ? cfg::yaml_token(item) : cfg::yaml_string(item));
      }
      return from_edit(cfg::set_list(f.text, cfg::split_key(key), items),
                       key + " = " + display_list(split_items(values)) + " in " + c.path);
    }
    // Unknown keys are written as a plain token: the loader then names the key.
    const std::string yaml =
        s ? cfg::setting_yaml_value(*s, values[0]) : cfg::yaml_token(values[0]);
    return from_edit(cfg::set_scalar(f.text, cfg::split_key(key), yaml),
                     key + " = " + trim(values[0]) + " in " + c.path + note);
  });
}

int config_command(const context& c, const cli_args& a) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    print_config_help(a.help ? c.out : c.err);
    return a.help ? exit_ok : exit_usage;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (sub == "get") return config_get(c, a);
  if (sub == "set") return config_set(c, a);
  c.err << "omsgw config: unknown subcommand '" << sub << "' (get | set)\n";
  return exit_usage;
}

// ---------------------------------------------------------------------------------
// allowed-host / allowed-client-cert

/// The list commands share their shape; these name the key and the wording.
struct list_command {
  const char* key;    ///< "allowed_hosts"
  const char* thing;  ///< "allowed host"
  std::vector<std::string> (*defaults)();
};

std::vector<std::string> default_hosts() { return cfg::gateway_config{}.allowed_hosts; }
std::vector<std::string> default_subjects() {
  return cfg::gateway_config{}.allowed_client_certificates;
}

const list_command k_hosts{"allowed_hosts", "allowed host", &default_hosts};
const list_command k_subjects{"allowed_client_certificates", "allowed client certificate",
                              &default_subjects};

const char* origin_name(net::host_origin o) {
  switch (o) {
    case net::host_origin::configured:
      return "configured";
    case net::host_origin::workspace:
      return "workspace";
    case net::host_origin::automation_region:
      return "automation_region";
  }
  return "";
}

int list_add(const context& c, const list_command& lc, const std::string& value) {
  std::string why;
  const std::string item = normalise_item(lc.key, value, why);
  if (item.empty()) {
    c.err << "omsgw: invalid " << lc.thing << ": " << why << "\n";
    return exit_failure;
  }
  return edit_config(c, [&](const current_file& f) {
    const auto& current = f.config ? *f.config : cfg::gateway_config{};
    const auto values = cfg::setting_values(current, *cfg::find_setting(lc.key));
    change ch;
    if (f.config && std::find(values.begin(), values.end(), item) != values.end()) {
      ch.message = item + " is already an " + lc.thing + " in " + c.path;
      return ch;
    }
    return from_edit(
        cfg::add_list_item(f.text, {lc.key}, cfg::yaml_string(item), yaml_strings(lc.defaults())),
        "added " + std::string(lc.thing) + " " + item + " to " + c.path);
  });
}

int list_remove(const context& c, const list_command& lc, const std::string& value) {
  std::string why;
  std::string item = normalise_item(lc.key, value, why);
  if (item.empty()) item = trim(value);           // an invalid entry can still be removed verbatim
  std::map<std::string, std::string> normalised;  // cache: one loader run per entry
  const auto matches = [&](const std::string& entry) {
    auto it = normalised.find(entry);
    if (it == normalised.end()) {
      std::string ignored;
      it = normalised.emplace(entry, normalise_item(lc.key, entry, ignored)).first;
    }
    return it->second == item || entry == value;
  };
  return edit_config(c, [&](const current_file& f) {
    auto ch =
        from_edit(cfg::remove_list_items(f.text, {lc.key}, matches, yaml_strings(lc.defaults())),
                  "removed " + std::string(lc.thing) + " " + item + " from " + c.path);
    if (ch.error.empty() && !ch.changed) {
      ch.error = item + " is not an " + std::string(lc.thing) + " in " + c.path;
      if (f.config && std::string(lc.key) == "allowed_hosts") {
        const auto p = net::make_policy(std::make_shared<const cfg::gateway_config>(*f.config), 0);
        for (const auto& h : p->hosts) {
          if (h.pattern == item && h.origin != net::host_origin::configured) {
            ch.error += "; it is derived from " + std::string(origin_name(h.origin)) + " " +
                        h.source + ": remove that from the configuration instead";
          }
        }
      }
    }
    return ch;
  });
}

int list_show(const context& c, const list_command& lc, bool all) {
  const auto config = effective_config(c);
  if (!config) return exit_failure;
  if (!all) {
    for (const auto& v : cfg::setting_values(*config, *cfg::find_setting(lc.key))) {
      c.out << v << "\n";
    }
    return exit_ok;
  }
  const auto p = net::make_policy(std::make_shared<const cfg::gateway_config>(*config), 0);
  std::size_t width = 4;
  for (const auto& h : p->hosts) width = std::max(width, h.pattern.size());
  c.out << std::left << std::setw(static_cast<int>(width + 2)) << "HOST" << std::setw(19)
        << "ORIGIN"
        << "SOURCE\n";
  for (const auto& h : p->hosts) {
    c.out << std::left << std::setw(static_cast<int>(width + 2)) << h.pattern << std::setw(19)
          << origin_name(h.origin) << h.source << "\n";
  }
  return exit_ok;
}

int list_command_main(const context& c, const cli_args& a, const list_command& lc, bool allow_all) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    (a.help ? c.out : c.err) << help_for(a.command);
    return a.help ? exit_ok : exit_usage;
  }
  const bool list = sub == "list";
  if (!only_options(a, list && allow_all ? std::set<std::string>{"--all"} : std::set<std::string>{},
                    c.err)) {
    return exit_usage;
  }
  if (list) {
    if (a.positional.size() != 1) {
      c.err << "omsgw " << a.command << " list: takes no argument\n";
      return exit_usage;
    }
    return list_show(c, lc, a.flags.count("--all") > 0);
  }
  if (sub != "add" && sub != "remove") {
    c.err << "omsgw " << a.command << ": unknown subcommand '" << sub
          << "' (add | remove | list)\n";
    return exit_usage;
  }
  if (a.positional.size() != 2) {
    c.err << "omsgw " << a.command << " " << sub << ": needs exactly one "
          << (std::string_view(lc.key) == k_hosts.key ? "HOST"
                                                      : "SUBJECT (quote a subject with spaces)")
          << "\n";
    return exit_usage;
  }
  return sub == "add" ? list_add(c, lc, a.positional[1]) : list_remove(c, lc, a.positional[1]);
}

// ---------------------------------------------------------------------------------
// automation-hosts

int automation_hosts(const context& c, const cli_args& a) {
  if (a.help) {
    c.out << help_for(a.command);
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (a.positional.empty()) {
    for (const auto& row : cfg::automation_region_table()) {
      c.out << row.key << " (" << row.display_name << ")\n  " << row.job_runtime_data << "\n  "
            << row.agent_service << "\n";
    }
    return exit_ok;
  }
  std::string name;
  for (const auto& p : a.positional) name += (name.empty() ? "" : " ") + p;
  const auto* row = cfg::find_automation_region(name);
  if (!row) {
    c.err << "omsgw: unknown Azure Automation region '" << name << "'; known regions:";
    for (const auto& r : cfg::automation_region_table()) c.err << " " << r.key;
    c.err << "\n";
    return exit_failure;
  }
  c.out << row->job_runtime_data << "\n" << row->agent_service << "\n";
  return exit_ok;
}

// ---------------------------------------------------------------------------------
// relay-proxy

/// A password file must be a regular file only its owner can read or write.
bool password_file_ok(const std::string& path, std::string& absolute, std::string& why) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) {
    why = "cannot use password file " + path + ": " + errno_text(errno);
    return false;
  }
  absolute = real;
  std::free(real);
  struct stat st {};
  if (::stat(absolute.c_str(), &st) != 0) {
    why = "cannot use password file " + path + ": " + errno_text(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "password file " + path + " is not a regular file";
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    std::ostringstream mode;
    mode << std::oct << std::setw(4) << std::setfill('0') << (st.st_mode & 07777);
    why = "password file " + path + " is accessible by group or others (mode " + mode.str() +
          "); restrict it with: chmod 600 " + path;
    return false;
  }
  return true;
}

int relay_proxy(const context& c, const cli_args& a) {
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (a.help || sub.empty()) {
    (a.help ? c.out : c.err) << help_for(a.command);
    return a.help ? exit_ok : exit_usage;
  }
  if (a.positional.size() != 1) {
    c.err << "omsgw relay-proxy " << sub << ": takes no positional argument\n";
    return exit_usage;
  }
  if (a.has("--password")) {
    c.err << "omsgw: passwords are not taken on the command line (they would show in ps and "
             "shell history); write it to a file, chmod 600 it, and pass --password-file\n";
    return exit_usage;
  }
  if (sub == "get") {
    if (!only_options(a, {}, c.err)) return exit_usage;
    const auto config = effective_config(c);
    if (!config) return exit_failure;
    const auto& r = config->relay_proxy;
    c.out << "address:       " << (r.address.empty() ? "none (direct connections)" : r.address)
          << "\n"
          << "username:      " << (r.username.empty() ? "none" : r.username) << "\n"
          << "password file: "
          << (r.password_file.empty() ? "not set" : "set (" + r.password_file + ")") << "\n";
    return exit_ok;
  }
  std::string address;
  std::string username;
  std::string password_file;
  if (sub == "set") {
    if (!only_options(a, {"--address", "--username", "--password-file"}, c.err)) return exit_usage;
    if (!a.has("--address") || a.options.at("--address").empty()) {
      c.err << "omsgw relay-proxy set: needs --address http://HOST:PORT (use `clear` to remove "
               "the relay)\n";
      return exit_usage;
    }
    address = a.options.at("--address");
    if (a.has("--username") != a.has("--password-file")) {
      c.err << "omsgw relay-proxy set: --username and --password-file go together\n";
      return exit_usage;
    }
    if (a.has("--username")) {
      username = a.options.at("--username");
      std::string why;
      if (!password_file_ok(a.options.at("--password-file"), password_file, why)) {
        c.err << "omsgw: " << why << "\n";
        return exit_failure;
      }
    }
  } else if (sub == "clear") {
    if (!only_options(a, {}, c.err)) return exit_usage;
  } else {
    c.err << "omsgw relay-proxy: unknown subcommand '" << sub << "' (get | set | clear)\n";
    return exit_usage;
  }
  const std::string message =
      sub == "clear"
          ? "relay proxy cleared in " + c.path + ": direct connections"
          : "relay proxy set to " + address +
                (username.empty() ? " without credentials"
                                  : " as " + username + " (password from " + password_file + ")") +
                " in " + c.path;
  return edit_config(c, [&](const current_file& f) {
    std::string text = f.text;
    bool changed = false;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"address", address},
                                     {"username", username},
                                     {"password_file", password_file}}) {
      const auto r = cfg::set_scalar(text, {"relay_proxy", key}, cfg::yaml_string(value));
      if (!r.ok()) return from_edit(r, "");
      changed = changed || r.changed;
      text = r.text;
    }
    change ch;
    ch.text = text;
    ch.changed = changed;
    ch.message = message;
    return ch;
  });
}

// ---------------------------------------------------------------------------------
// reload / status: a small HTTP/1.1 client for the admin endpoint

struct http_answer {
  int status = 0;
  std::string body;
  std::string error;  ///< transport failure (connect, timeout, malformed answer)
};

/// One request to the admin endpoint. Beast's operations run on a private
/// io_context and the call blocks until they finish; the stream's expiry bounds the
/// whole exchange, which Beast's purely synchronous calls cannot do.
http_answer http_call(const std::string& host, std::uint16_t port, boost::beast::http::verb verb,
                      const std::string& target, std::chrono::seconds timeout) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = asio::ip::tcp;
  http_answer answer;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    answer.error = "invalid admin address " + host;
    return answer;
  }
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "omsgw-cli/" OMSGW_VERSION);
  req.keep_alive(false);
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  const auto fail = [&](const char* what, const boost::system::error_code& e) {
    answer.error = std::string(what) + ": " +
                   (e == beast::error::timeout ? std::string("timed out") : e.message());
  };
  stream.expires_after(timeout);
  stream.async_connect(tcp::endpoint(address, port), [&](const boost::system::error_code& e) {
    if (e) return fail("cannot connect", e);
    http::async_write(stream, req, [&](const boost::system::error_code& e2, std::size_t) {
      if (e2) return fail("cannot send the request", e2);
      http::async_read(stream, buffer, parser,
                       [&](const boost::system::error_code& e3, std::size_t) {
                         if (e3) return fail("cannot read the answer", e3);
                         answer.status = static_cast<int>(parser.get().result_int());
                         answer.body = parser.get().body();
                       });
    });
  });
  ioc.run();
  return answer;
}

/// admin.address/port read leniently from a file the loader rejects: the service
/// still runs its previous configuration, and `reload` should reach it to hear why.
void lenient_admin(const std::string& text, std::string& host, std::uint16_t& port) {
  try {
    const YAML::Node admin = YAML::Load(text)["admin"];
    if (admin && admin["address"] && admin["address"].IsScalar()) {
      host = admin["address"].Scalar();
    }
    if (admin && admin["port"] && admin["port"].IsScalar()) {
      port = admin["port"].as<std::uint16_t>();
    }
  } catch (const std::exception&) {
    // Unreadable YAML: the defaults stay.
  }
}

/// The admin endpoint to talk to: admin.address/port, a wildcard address meaning
/// the local host.
bool admin_endpoint(const context& c, std::string& host, std::uint16_t& port) {
  const cfg::gateway_config defaults;
  host = defaults.admin.address;
  port = defaults.admin.port;
  std::string text;
  std::string why;
  const read_status rs = read_file(c.path, text, why);
  if (rs == read_status::error || (rs == read_status::missing && c.explicit_path)) {
    c.err << "omsgw: cannot read " << c.path << ": " << why << "\n";
    return false;
  }
  if (rs == read_status::ok) {
    const auto loaded = cfg::parse_config(text);
    if (loaded.ok()) {
      host = loaded.config->admin.address;
      port = loaded.config->admin.port;
    } else {
      c.err << "omsgw: warning: " << c.path << " is invalid (" << loaded.errors.size()
            << " error(s)); the service keeps its running configuration\n";
      lenient_admin(text, host, port);
    }
  }
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return true;
}

std::string url_of(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<boost::property_tree::ptree> parse_json(const std::string& body) {
  try {
    std::istringstream in(body);
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(in, tree);
    return tree;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int admin_request(const context& c, const cli_args& a, boost::beast::http::verb verb,
                  const std::string& target, std::chrono::seconds timeout,
                  const std::function<int(const http_answer&)>& handle) {
  if (a.help) {
    c.out << help_for(a.command);
    return exit_ok;
  }
  if (!only_options(a, {}, c.err)) return exit_usage;
  if (!a.positional.empty()) {
    c.err << "omsgw " << a.command << ": takes no argument\n";
    return exit_usage;
  }
  std::string host;
  std::uint16_t port = 0;
  if (!admin_endpoint(c, host, port)) return exit_failure;
  const auto answer = http_call(host, port, verb, target, timeout);
  if (!answer.error.empty()) {
    c.err << "omsgw: cannot reach the admin endpoint " << url_of(host, port) << target << " ("
          << answer.error << "); is the service running with " << c.path << "?\n";
    return exit_failure;
  }
  return handle(answer);
}

int reload(const context& c, const cli_args& a) {
  return admin_request(
      c, a, boost::beast::http::verb::post, "/reload", reload_timeout, [&](const http_answer& r) {
        const auto json = parse_json(r.body);
        if (!json || (r.status != 200 && r.status != 422)) {
          c.err << "omsgw: reload: unexpected answer HTTP " << r.status << ": " << r.body << "\n";
          return exit_failure;
        }
        const std::string version = json->get<std::string>("config_version", "?");
        const std::string hash = json->get<std::string>("config_hash", "?");
        if (r.status == 200 && json->get<std::string>("result", "") == "success") {
          if (json->get<std::string>("changed", "false") == "true") {
            c.out << "reloaded: configuration version " << version << " (hash " << hash
                  << ") is active\n";
          } else {
            c.out << "reloaded: no change, configuration version " << version << " (hash " << hash
                  << ") stays active\n";
          }
          return exit_ok;
        }
        c.err << "omsgw: reload refused; the running configuration (version " << version
              << ", hash " << hash << ") stays:\n";
        if (const auto errors = json->get_child_optional("errors")) {
          for (const auto& e : *errors) c.err << "  " << e.second.get_value<std::string>() << "\n";
        }
        return exit_failure;
      });
}

std::string uptime_text(double seconds) {
  auto s = static_cast<long long>(std::floor(seconds));
  const long long d = s / 86400;
  s %= 86400;
  std::ostringstream out;
  if (d > 0) out << d << "d ";
  out << std::setfill('0') << std::setw(2) << s / 3600 << ":" << std::setw(2) << (s % 3600) / 60
      << ":" << std::setw(2) << s % 60;
  return out.str();
}

int status(const context& c, const cli_args& a) {
  return admin_request(
      c, a, boost::beast::http::verb::get, "/status", status_timeout, [&](const http_answer& r) {
        const auto json = parse_json(r.body);
        if (r.status != 200 || !json) {
          c.err << "omsgw: status: unexpected answer HTTP " << r.status << ": " << r.body << "\n";
          return exit_failure;
        }
        const auto get = [&](const char* key) { return json->get<std::string>(key, "?"); };
        double uptime = 0;
        try {
          uptime = std::stod(get("uptime_seconds"));
        } catch (const std::exception&) {
        }
        const auto row = [&](const char* label, const std::string& value) {
          c.out << std::left << std::setw(28) << label << value << "\n";
        };
        row("version", get("version"));
        row("uptime", uptime_text(uptime));
        row("configuration", "version " + get("config_version") + ", hash " + get("config_hash"));
        row("mode", get("mode") + (get("draining") == "true" ? " (draining)" : ""));
        row("relay proxy", get("relay_proxy"));
        row("capacity", get("capacity") + " connections");
        row("Active Client Connection", get("active_client_connections"));
        row("Connected Client", get("connected_clients"));
        row("Error Count", get("error_count"));
        row("Rejection Count", get("rejection_count"));
        row("CONNECT requests", get("connect_requests"));
        if (const auto file = json->get<std::string>("perfmon.csv_file", ""); !file.empty()) {
          row("PerfMon counter log", file + " every " + get("perfmon.interval_s") + " s");
        }
        return exit_ok;
      });
}

}  // namespace

std::string cli_command_of(const std::vector<std::string>& args) {
  return parse_args(args).command;
}

bool is_cli_command(const std::string& command) {
  static const std::set<std::string> commands = {
      "config", "allowed-host", "allowed-client-cert", "automation-hosts", "relay-proxy",
      "reload", "status"};
  return commands.count(command) > 0;
}

const char* cli_usage() { return k_usage; }

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const cli_args a = parse_args(args);
  if (!a.error.empty()) {
    err << "omsgw " << a.command << ": " << a.error << "\n";
    return exit_usage;
  }
  if (a.has("--threads")) {
    err << "omsgw " << a.command << ": unknown option --threads\n";
    return exit_usage;
  }
  const context c{a.config_given ? a.config : cfg::default_config_path(), a.config_given, out, err};
  if (a.command == "config") return config_command(c, a);
  if (a.command == "allowed-host") return list_command_main(c, a, k_hosts, true);
  if (a.command == "allowed-client-cert") return list_command_main(c, a, k_subjects, false);
  if (a.command == "automation-hosts") return automation_hosts(c, a);
  if (a.command == "relay-proxy") return relay_proxy(c, a);
  if (a.command == "reload") return reload(c, a);
  if (a.command == "status") return status(c, a);
  err << "omsgw: unknown command '" << a.command << "'\n";
  return exit_usage;
}

}  // namespace omsgw::actors
