#pragma once
/// \file
/// The files relay_proxy names besides the password (config/secret_file.hpp): the
/// Kerberos keytab and the CA bundle of https:// relays. Checked wherever the
/// configuration is checked -- check-config, CLI edits, start and reload -- so a file
/// that start would refuse is refused before it is written, each error at its key's
/// line. The relay actor (actors/relay.cpp) uses the same checks when it loads them.

#include <openssl/types.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/secret_file.hpp"
#include "net/grammar/message.hpp"

namespace omsgw::config {

/// relay_proxy.keytab, when a relay is set and a keytab named: a regular file of at most
/// 1 MiB that neither group nor others may read or write.
/// `id` gets the keytab's path and a digest of its content ("" without a keytab).
std::optional<named_file_error> check_relay_keytab(const relay_proxy_config& cfg,
                                                   std::string* id = nullptr);

/// relay_proxy.ca_file, when a relay is set and a CA file named: PEM CA certificates
/// OpenSSL can load.
std::optional<named_file_error> check_relay_ca_file(const relay_proxy_config& cfg);

/// Why path is not a PEM file of CA certificates (empty message: it is one); content
/// gets the file's bytes. The certificates are loaded into `into` (the TLS context's
/// store), or into a scratch store that only checks them.
grammar::message ca_file_problem(const std::string& path, std::string& content,
                                 X509_STORE* into = nullptr);

}  // namespace omsgw::config
