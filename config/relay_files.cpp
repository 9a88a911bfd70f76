#include "config/relay_files.hpp"

#include <openssl/x509_vfy.h>

#include <memory>

#include "config/config_file.hpp"

namespace omsgw::config {
namespace {

using grammar::message;

/// A keytab is small; anything bigger is not one.
constexpr std::size_t max_keytab = 1 << 20;

}  // namespace

std::optional<named_file_error> check_relay_keytab(const relay_proxy_config& cfg, std::string* id) {
  if (id) id->clear();
  if (cfg.address.empty() || cfg.keytab.empty()) return std::nullopt;
  std::string content;
  auto why = read_private_file(cfg.keytab, secret_kind::keytab, max_keytab, content);
  if (why.empty() && id) *id = cfg.keytab + "#" + content_hash(content);
  wipe(content);
  if (why.empty()) return std::nullopt;
  return file_error("relay_proxy.keytab", std::move(why));
}

message ca_file_problem(const std::string& path, std::string& content, X509_STORE* into) {
  content.clear();
  const std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> scratch(
      into ? nullptr : X509_STORE_new(), X509_STORE_free);
  X509_STORE* store = into ? into : scratch.get();
  std::string why;
  if (!store || X509_STORE_load_file(store, path.c_str()) != 1 ||
      read_text_file(path, content, why) != read_status::ok) {
    return message(N_("%1%: not a readable PEM file of CA certificates"), path);
  }
  if (content.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return message(N_("%1%: holds no PEM certificate"), path);
  }
  return {};
}

std::optional<named_file_error> check_relay_ca_file(const relay_proxy_config& cfg) {
  if (cfg.address.empty() || cfg.ca_file.empty()) return std::nullopt;
  std::string content;
  auto why = ca_file_problem(cfg.ca_file, content);
  if (why.empty()) return std::nullopt;
  return file_error("relay_proxy.ca_file", std::move(why));
}

}  // namespace omsgw::config
