#pragma once
/// \file
/// Files that hold a secret the configuration names: the relay password
/// (relay_proxy.password_file) and the admin token (admin.token_file). The secret
/// itself is never in the YAML, never in an error message, and transient copies are
/// wiped (OPENSSL_cleanse) once used. Blocking file I/O: start-up, the detached config
/// reloader and the CLI only.

#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/grammar/message.hpp"

namespace omsgw::config {

/// Overwrites the bytes of `s` (a store the optimiser cannot drop), then empties it.
void wipe(std::string& s);

/// What a secret file holds, which decides who may not read it: a password or a keytab
/// neither group nor others (0600), a token not others (0640: the operators' group).
enum class secret_kind { password, keytab, token };

/// Reads a secret file into `content`: it must be a regular file of at most `max_bytes`
/// with none of the mode bits its kind forbids (checked on the opened descriptor, so the
/// file checked is the file read). Returns why not (names the file and its mode,
/// never the content); empty when the file was read.
grammar::message read_private_file(const std::string& path, secret_kind kind, std::size_t max_bytes,
                                   std::string& content);

/// A problem with a file the configuration names.
struct named_file_error {
  std::string key;        ///< "relay_proxy.password_file"
  std::string message;    ///< English; names files and modes, never the secret
  grammar::message text;  ///< the same, for translation (check-config in the CLI)
};

/// The error of key: why, in English and for translation.
std::optional<named_file_error> file_error(const char* key, grammar::message why);

/// The relay password: with relay_proxy.address set and credentials configured, the
/// first line of password_file (without its line end). The file must be a regular file
/// neither group nor others may read or write (mode 0600 or 0400). Username and
/// password file go together; the username may not hold ':' or control characters
/// (RFC 7617 section 2). `password` is left empty when no credentials are configured,
/// or with auth: negotiate and no password file (username is then the principal).
std::optional<named_file_error> read_relay_password(const relay_proxy_config& cfg,
                                                    std::string& password);

/// The admin token: with admin.token_file set, the file's content with leading and
/// trailing white space removed. A missing, empty or world-accessible file is an error
/// (SPEC.md "Admin endpoint"); group may read it (the operators' group). `token` is
/// left empty when no token file is configured.
std::optional<named_file_error> read_admin_token(const admin_config& cfg, std::string& token);

}  // namespace omsgw::config
