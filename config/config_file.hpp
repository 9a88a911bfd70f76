#pragma once
/// \file
/// The configuration file on disk, in one place: which file (the default path or
/// --config), reading it, its hash, the exclusive lock and the atomic replacement the
/// CLI's edits go through, and the load every entry point shares (`run`, reload,
/// `check-config`, the CLI). A load is the YAML (config/loader) plus the files the
/// configuration names (config/secret_file): a configuration whose relay password file
/// or admin token file is unusable is a bad configuration everywhere alike.
///
/// Symlinks (SPEC.md "Configuration"): the path may be a symlink, including the
/// Kubernetes ConfigMap layout (omsgw.yaml -> ..data/omsgw.yaml). Reads follow it;
/// replace_file writes beside the file it resolves to, so the link stays a link.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace omsgw::config {

/// How read_text_file went; `missing` is ENOENT (a dangling symlink included).
enum class read_status { ok, missing, error };

/// Reads the whole file at `path` into `text`; sets `why` (strerror text) unless ok.
/// A directory is an error (EISDIR), never an empty file.
read_status read_text_file(const std::string& path, std::string& text, std::string& why);

/// The first 12 hex digits of the SHA-256 of `text`: the configuration's version
/// stamp in logs, /status and /reload answers.
std::string content_hash(std::string_view text);

/// The file `path` names once every symlink is followed; `path` itself when it cannot
/// be resolved (e.g. it does not exist yet).
std::string resolve_path(const std::string& path);

/// Holds an exclusive flock on "<file>.lock" beside the file for its lifetime. The
/// lock file is never deleted: removing it would let two writers lock different inodes.
class file_lock {
 public:
  explicit file_lock(const std::string& file);
  ~file_lock();
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  /// Empty when the lock is held; otherwise why not (names the lock file).
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

/// "" when `file` (already resolved) may be replaced; otherwise why not, naming it: a
/// read-only mount, a file without write permission for the caller, or a file that has
/// no write bit at all (root would otherwise overwrite a file marked read-only).
std::string check_writable(const std::string& file);

/// Replaces `path` with `text` atomically: a temp file beside the file `path` resolves
/// to gets the text, the old file's mode and owner, fsync; then rename(2) over it and
/// fsync of the directory. Readers see the old file or the new one, never a mix; a
/// symlink at `path` stays a link. False with `why` on failure (nothing changed).
bool replace_file(const std::string& path, const std::string& text, std::string& why);

/// Which configuration file a command uses.
struct config_source {
  std::string path;  ///< the file; "" = embedded defaults
  /// True for the default path: when it does not exist, the embedded defaults apply.
  /// A default path that exists but cannot be read (a directory, no permission) is an
  /// error like any other: only a missing default file means defaults.
  bool defaults_if_missing = false;
};

/// --config F when given (`given` true), else the default path.
config_source choose_source(const std::string& path, bool given);

/// A configuration read from disk (or the embedded defaults).
struct loaded_config {
  std::shared_ptr<const gateway_config> config;
  std::string hash;       ///< content_hash of the file text
  std::string source;     ///< the path, or "embedded defaults"
  std::string text;       ///< the file text ("" for the defaults)
  bool embedded = false;  ///< true: the embedded defaults (no file to watch or reload)
  /// admin.token_file's token (file_checks::all); "" = none. A secret: never logged.
  std::string admin_token;
};

/// A load: the configuration, or every error found (located, with the key at fault).
struct file_load {
  std::optional<loaded_config> loaded;
  std::vector<config_error> errors;
  bool ok() const { return loaded.has_value(); }
};

/// Whether a load also checks the files the configuration names.
enum class file_checks { all, yaml_only };

/// Reads and validates the source: the YAML, then (file_checks::all) the relay
/// password file and the admin token file. Used by run, reload, check-config and the
/// CLI, so they agree on what a valid configuration is. Blocking file I/O.
file_load load_source(const config_source& source, file_checks checks = file_checks::all);

/// Validates text as if it were the file: the YAML and (file_checks::all) the files it
/// names. The CLI checks an edit with it before writing.
file_load load_text(const std::string& text, const std::string& source_name,
                    file_checks checks = file_checks::all);

}  // namespace omsgw::config
