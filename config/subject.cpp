// Canonical subject (canonical_subject, subject_allowed, subject_text) -- what the
// operator writes in allowed_client_certificates and what event 105 prints:
//  - RDNs in RFC 4514 order: most specific first, i.e. the reverse of the certificate's
//    ASN.1 order (as Windows and `openssl x509 -nameopt RFC2253` show it), joined by
//    ","; the AVAs of a multi-valued RDN joined by "+" in certificate order; no spaces.
//  - Attribute type: upper-case short name: CN O OU C L ST STREET DC UID EMAILADDRESS
//    SERIALNUMBER SN GN TITLE ...; any other keyword is just upper-cased. Input aliases:
//    the long names of those (commonName, organizationName, ...), E/EMAIL =
//    EMAILADDRESS, S = ST, G = GN, T = TITLE; a dotted OID (optionally "OID.") becomes
//    the short name OpenSSL knows for it, else stays dotted (normalised).
//  - Value: UTF-8, leading/trailing spaces dropped; in the output , + " \ ; < > and a
//    leading # are backslash-escaped and control bytes are written \XX. Input may use
//    those escapes, \XX hex pairs, or a "double-quoted" value; blanks around , + = ;
//    are ignored and ; separates RDNs like ,. Garbage (no '=', bad type, bad escape,
//    unterminated quote, empty) gives "".
//  - Matching: types exactly (after the above), values case-insensitively for ASCII
//    letters (X.520 caseIgnoreMatch, without Unicode folding or inner-space squeezing),
//    AVAs of one RDN as a set. An entry that is exactly one CN AVA ("CN=agent01")
//    matches any subject whose only CN that is (a subject with several CNs matches
//    full entries only); every other entry must have the same RDNs as the subject, in
//    RFC 4514 order or reversed (as `openssl x509 -subject` prints).

#include "config/subject.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

namespace omsgw::config {
namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

struct ava {
  std::string type;
  std::string value;
};
using rdn = std::vector<ava>;
using dn = std::vector<rdn>;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_upper);
  return out;
}

bool valid_keyword(std::string_view t) {
  if (t.empty() || !is_alpha(t[0])) return false;
  return std::all_of(t.begin(), t.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
}

bool valid_oid(std::string_view t) {
  if (t.empty() || t.front() == '.' || t.back() == '.') return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '.' ? t[i + 1] == '.' : !is_digit(t[i])) return false;
  }
  return t.find('.') != std::string_view::npos;
}

/// Windows / long-name aliases of the common attribute types. No output is also a key,
/// so applying it twice changes nothing (canonical_subject is idempotent).
std::string alias(std::string up) {
  // clang-format off
  static constexpr std::pair<const char*, const char*> table[] = {
      {"COMMONNAME", "CN"}, {"ORGANIZATIONNAME", "O"}, {"ORGANIZATIONALUNITNAME", "OU"},
      {"COUNTRYNAME", "C"}, {"LOCALITYNAME", "L"}, {"STATEORPROVINCENAME", "ST"}, {"S", "ST"},
      {"STREETADDRESS", "STREET"}, {"DOMAINCOMPONENT", "DC"}, {"USERID", "UID"},
      {"E", "EMAILADDRESS"}, {"EMAIL", "EMAILADDRESS"}, {"SURNAME", "SN"}, {"G", "GN"},
      {"GIVENNAME", "GN"}, {"T", "TITLE"},
  };
  // clang-format on
  for (const auto& [from, to] : table) {
    if (up == from) return to;
  }
  return up;
}

/// Upper-cased OpenSSL short name of a NID through the alias table; empty if OpenSSL
/// has none that is a plain keyword.
std::string keyword_of(int nid) {
  if (nid == NID_undef) return {};
  const char* sn = OBJ_nid2sn(nid);
  if (sn == nullptr || !valid_keyword(sn)) return {};
  return alias(upper(sn));
}

/// Keyword for a known OID, else its normalised dotted form.
std::string type_of(const ASN1_OBJECT* obj) {
  std::string kw = keyword_of(OBJ_obj2nid(obj));
  if (!kw.empty()) return kw;
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0 && static_cast<std::size_t>(n) < sizeof buf ? std::string(buf) : std::string();
}

/// Canonical attribute type, or empty when `t` is not a keyword or dotted OID.
std::string canonical_type(std::string_view t) {
  if (t.size() > 4 && upper(t.substr(0, 4)) == "OID.") t.remove_prefix(4);
  if (valid_keyword(t)) return alias(upper(t));
  if (!valid_oid(t) || t.size() > 100) return {};
  ERR_set_mark();
  ASN1_OBJECT* obj = OBJ_txt2obj(std::string(t).c_str(), 1);
  ERR_pop_to_mark();
  if (obj == nullptr) return {};
  std::string out = type_of(obj);
  ASN1_OBJECT_free(obj);
  return out;
}

std::string trim(std::string_view v) {
  while (!v.empty() && is_blank(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_blank(v.back())) v.remove_suffix(1);
  return std::string(v);
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  c = ascii_lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/// Parses one attribute value at s[i...], stopping before an unescaped , + ; or the end.
/// Returns false on a bad escape or an unterminated quote.
bool parse_value(std::string_view s, std::size_t& i, std::string& out) {
  while (i < s.size() && is_blank(s[i])) ++i;
  const bool quoted = i < s.size() && s[i] == '"';
  if (quoted) ++i;
  std::string raw;  // unescaped bytes
  bool closed = false;
  while (i < s.size()) {
    const char c = s[i];
    if (quoted && c == '"') {
      closed = true;
      ++i;
      break;
    }
    if (!quoted && (c == ',' || c == '+' || c == ';')) break;
    if (c == '\\') {
      if (i + 1 >= s.size()) return false;
      const int hi = hex_value(s[i + 1]);
      if (hi >= 0 && i + 2 < s.size() && hex_value(s[i + 2]) >= 0) {
        raw.push_back(static_cast<char>(hi * 16 + hex_value(s[i + 2])));
        i += 3;
      } else if (std::strchr(" ,+\"\\<>;=#", s[i + 1]) != nullptr && s[i + 1] != '\0') {
        raw.push_back(s[i + 1]);
        i += 2;
      } else {
        return false;
      }
      continue;
    }
    raw.push_back(c);
    ++i;
  }
  if (quoted) {
    if (!closed) return false;
    while (i < s.size() && is_blank(s[i])) ++i;
    if (i < s.size() && s[i] != ',' && s[i] != '+' && s[i] != ';') return false;
  }
  out = trim(raw);
  return true;
}

/// Parses a configured entry or a canonical subject. nullopt on garbage.
std::optional<dn> parse_dn(std::string_view s) {
  dn out;
  rdn current;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && is_blank(s[i])) ++i;
    const std::size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string type = canonical_type(trim(s.substr(i, eq - i)));
    if (type.empty()) return std::nullopt;
    i = eq + 1;
    std::string value;
    if (!parse_value(s, i, value)) return std::nullopt;
    current.push_back({std::move(type), std::move(value)});
    if (i >= s.size()) break;
    const char sep = s[i++];
    if (sep != '+') out.push_back(std::exchange(current, {}));
  }
  out.push_back(std::move(current));
  return out;
}

void append_escaped(std::string& out, const std::string& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "\\%02X", c);
      out += buf;
      continue;
    }
    if (std::strchr(",+\"\\;<>", static_cast<char>(c)) != nullptr || (i == 0 && c == '#')) {
      out.push_back('\\');
    }
    out.push_back(static_cast<char>(c));
  }
}

std::string format_dn(const dn& name) {
  std::string out;
  for (std::size_t r = 0; r < name.size(); ++r) {
    if (r > 0) out.push_back(',');
    for (std::size_t a = 0; a < name[r].size(); ++a) {
      if (a > 0) out.push_back('+');
      out += name[r][a].type;
      out.push_back('=');
      append_escaped(out, name[r][a].value);
    }
  }
  return out;
}

std::string fold(const std::string& v) {
  std::string out(v);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool same_rdn(const rdn& a, const rdn& b) {
  if (a.size() != b.size()) return false;
  auto key = [](const rdn& r) {
    std::vector<std::pair<std::string, std::string>> k;
    for (const auto& x : r) k.emplace_back(x.type, fold(x.value));
    std::sort(k.begin(), k.end());
    return k;
  };
  return key(a) == key(b);
}

bool same_dn(const dn& a, const dn& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same_rdn);
}

/// The certificate's subject as a dn, in RFC 4514 order.
dn subject_of(const X509_NAME* name) {
  dn out;
  int last_set = -1;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
    std::string type = type_of(obj);
    if (type.empty()) type = "OID";  // an OID too long to print: never matches an entry
    std::string value;
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len >= 0) {
      value.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
      OPENSSL_free(utf8);
    } else {  // not a string type: keep its bytes visible, never matching a plain entry
      const ASN1_STRING* d = X509_NAME_ENTRY_get_data(e);
      value = "#";
      for (int k = 0; k < ASN1_STRING_length(d); ++k) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02x", ASN1_STRING_get0_data(d)[k]);
        value += buf;
      }
    }
    const int set = X509_NAME_ENTRY_set(e);
    if (out.empty() || set != last_set) out.emplace_back();
    last_set = set;
    out.back().push_back({std::move(type), trim(value)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::string canonical_subject(std::string_view subject) {
  const auto name = parse_dn(subject);
  return name ? format_dn(*name) : std::string();
}

namespace {

/// The subject's one CN value, folded; nullopt when it has none or several (a CN-only
/// entry must not match "CN=evil,CN=agent01" or "CN=evil+CN=agent01").
std::optional<std::string> only_cn(const std::vector<std::vector<ava>>& subject) {
  std::optional<std::string> cn;
  for (const auto& r : subject) {
    for (const auto& a : r) {
      if (a.type != "CN") continue;
      if (cn) return std::nullopt;
      cn = fold(a.value);
    }
  }
  return cn;
}

}  // namespace

bool subject_allowed(const std::vector<std::string>& allowed, const std::string& cert_subject) {
  const auto subject = parse_dn(cert_subject);
  if (!subject) return false;
  const auto cn = only_cn(*subject);
  for (const auto& entry : allowed) {
    auto e = parse_dn(entry);
    if (!e) continue;
    if (e->size() == 1 && (*e)[0].size() == 1 && (*e)[0][0].type == "CN") {
      if (cn && *cn == fold((*e)[0][0].value)) return true;
      continue;
    }
    if (same_dn(*e, *subject)) return true;
    std::reverse(e->begin(), e->end());
    if (same_dn(*e, *subject)) return true;
  }
  return false;
}

std::string subject_text(const X509_NAME* name) { return format_dn(subject_of(name)); }

}  // namespace omsgw::config
