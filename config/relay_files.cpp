#include "config/relay_files.hpp"

#include <openssl/x509_vfy.h>

#include <cstdio>
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

message ca_file_problem(const std::string& path, std::string& content) {
  content.clear();
  const std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                      X509_STORE_free);
  if (!store || X509_STORE_load_file(store.get(), path.c_str()) != 1) {
    return message(N_("%1%: not a readable PEM file of CA certificates"), path);
  }
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    for (std::size_t k; (k = std::fread(buf, 1, sizeof buf, f)) > 0;) content.append(buf, k);
    std::fclose(f);
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
