/// \file
/// See relay_challenge.hpp. The parser is a recursive-descent reading of RFC 9110 11.6.1
/// with one look-ahead: after a comma, `token BWS "="` continues the auth-params of the
/// current challenge, anything else starts the next challenge.

#include "net/relay_challenge.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "net/grammar/text.hpp"
#include "net/relay_ntlm.hpp"

namespace omsgw::net {

namespace {

using grammar::iequals;

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         (c != '\0' && std::strchr("-._~+/", c) != nullptr);
}

/// libcurl's ISSPACE: what it skips around schemes and trims from a header value.
bool is_curl_space(char c) { return c != '\0' && std::strchr(" \t\n\v\f\r", c) != nullptr; }

class challenge_parser {
 public:
  explicit challenge_parser(std::string_view s) : s_(s) {}

  std::optional<std::vector<auth_challenge>> run() {
    std::vector<auth_challenge> out;
    for (;;) {
      skip_list_separators();
      if (at_end()) return out;
      auth_challenge c;
      c.scheme = std::string(token());
      if (c.scheme.empty()) return std::nullopt;
      const std::size_t after_scheme = i_;
      skip_ows();
      if (!at_end() && s_[i_] != ',') {
        if (i_ == after_scheme) return std::nullopt;  // 1*SP between scheme and data
        if (!read_token68(c) && !read_params(c)) return std::nullopt;
      }
      out.push_back(std::move(c));
    }
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  void skip_ows() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  void skip_list_separators() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == ',')) ++i_;
  }
  std::string_view token() {
    const std::size_t start = i_;
    while (!at_end() && is_tchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }

  /// token68 *"=" alone up to the next comma or the end; leaves i_ there when it is.
  bool read_token68(auth_challenge& c) {
    std::size_t j = i_;
    while (j < s_.size() && is_token68_char(s_[j])) ++j;
    if (j == i_) return false;
    while (j < s_.size() && s_[j] == '=') ++j;
    std::size_t k = j;
    while (k < s_.size() && (s_[k] == ' ' || s_[k] == '\t')) ++k;
    if (k < s_.size() && s_[k] != ',') return false;
    c.token68 = std::string(s_.substr(i_, j - i_));
    i_ = k;
    return true;
  }

  /// True when `token BWS "="` follows: an auth-param rather than the next challenge.
  bool param_follows() const {
    std::size_t j = i_;
    while (j < s_.size() && is_tchar(s_[j])) ++j;
    if (j == i_) return false;
    while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t')) ++j;
    return j < s_.size() && s_[j] == '=';
  }

  bool read_params(auth_challenge& c) {
    for (;;) {
      std::string name(token());
      if (name.empty()) return false;
      skip_ows();
      if (at_end() || s_[i_] != '=') return false;
      ++i_;
      skip_ows();
      std::string value;
      if (!at_end() && s_[i_] == '"') {
        if (!quoted_string(value)) return false;
      } else {
        value = std::string(token());
        if (value.empty()) return false;
      }
      c.params.emplace_back(grammar::lower(name), std::move(value));
      skip_ows();
      if (at_end()) return true;
      if (s_[i_] != ',') return false;
      skip_list_separators();
      if (at_end() || !param_follows()) return true;  // the next challenge, if any
    }
  }

  bool quoted_string(std::string& out) {
    for (++i_; !at_end(); ++i_) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
      } else if (c < 0x20 && c != '\t') {
        return false;
      } else if (c == 0x7f) {
        return false;
      }
      out.push_back(s_[i_]);
    }
    return false;  // unterminated
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

unsigned long scheme_bit(std::string_view name) {
  if (iequals(name, "negotiate")) return CURLAUTH_NEGOTIATE;
  if (iequals(name, "ntlm")) return CURLAUTH_NTLM;
  if (iequals(name, "digest")) return CURLAUTH_DIGEST;
  if (iequals(name, "basic")) return CURLAUTH_BASIC;
  return 0;
}

/// The scheme libcurl finds at the start of text: a known name followed by white space,
/// a comma or the end (curl's is_valid_auth_separator).
unsigned long curl_scheme_at(std::string_view text, std::size_t& name_size) {
  for (std::string_view name : {"Negotiate", "NTLM", "Digest", "Basic"}) {
    if (!grammar::istarts_with(text, name)) continue;
    if (text.size() > name.size() && text[name.size()] != ',' &&
        !is_curl_space(text[name.size()])) {
      continue;
    }
    name_size = name.size();
    return scheme_bit(name);
  }
  return 0;
}

}  // namespace

bool auth_challenge::is(std::string_view name) const { return iequals(scheme, name); }

const std::string* auth_challenge::param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::optional<std::vector<auth_challenge>> parse_challenges(std::string_view value) {
  return challenge_parser(value).run();
}

std::vector<std::string_view> curl_challenge_texts(std::string_view value) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < value.size() && is_curl_space(value[i])) ++i;
  while (i < value.size()) {
    out.push_back(value.substr(i));
    i = value.find(',', i);
    if (i == std::string_view::npos) break;
    ++i;
    while (i < value.size() && is_curl_space(value[i])) ++i;
  }
  return out;
}

void relay_offer::add(std::string_view value) {
  // As Curl_copy_header_value: the value ends at a CR, LF or NUL (curl's string ends
  // there), and white space around it is not part of it.
  value = value.substr(0, value.find_first_of(std::string_view("\r\n\0", 3)));
  while (!value.empty() && is_curl_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_curl_space(value.back())) value.remove_suffix(1);
  const auto parsed = parse_challenges(value);
  for (const auth_challenge& c : parsed ? *parsed : std::vector<auth_challenge>{}) {
    schemes |= scheme_bit(c.scheme);
    if (c.is("ntlm") && !c.token68.empty()) {
      ntlm_type2 = true;
      ntlm_v1 = ntlm_v1 || ntlm_challenge_wants_v1("NTLM " + c.token68);
    }
    const std::string* stale = c.param("stale");
    if (c.is("digest") && stale && iequals(*stale, "true")) digest_stale = true;
  }
  // curl's own reading: a scheme after a quoted comma counts, NTLM's message is the rest
  // of the value. Where the grammar does not hold, a Digest challenge may be stale.
  for (std::string_view text : curl_challenge_texts(value)) {
    std::size_t name_size = 0;
    const unsigned long bit = curl_scheme_at(text, name_size);
    schemes |= bit;
    std::string_view rest = text.substr(name_size);
    while (!rest.empty() && is_curl_space(rest.front())) rest.remove_prefix(1);
    if (bit == CURLAUTH_NTLM && !rest.empty()) {
      ntlm_type2 = true;
      ntlm_v1 = ntlm_v1 || ntlm_challenge_wants_v1("NTLM " + std::string(rest));
    }
    if (bit == CURLAUTH_DIGEST && !parsed) digest_stale = true;
  }
}

}  // namespace omsgw::net
