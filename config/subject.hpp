#pragma once
/// \file
/// Certificate subjects as `allowed_client_certificates` entries name them and event 105
/// prints them: parsing, one canonical text form, and matching (rules in subject.cpp).
/// It lives in config/ because the loader refuses an entry that is not a subject (with
/// its key and line); the TLS inspector (net/) prints and matches client certificates
/// with it.

#include <openssl/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace omsgw::config {

/// Canonicalises a configured allowed_client_certificates entry or a certificate's
/// subject for comparison. Empty when it is not a subject (no '=', a bad attribute type,
/// a bad escape, an unterminated quote, nothing at all).
std::string canonical_subject(std::string_view subject);

/// True when one of the configured `allowed` entries admits a certificate whose
/// canonical subject is `cert_subject`: an entry that is only "CN=x" matches any subject
/// with a CN of x; any other entry must equal the whole subject, in either RDN order.
bool subject_allowed(const std::vector<std::string>& allowed, const std::string& cert_subject);

/// A certificate's subject name in the canonical form.
std::string subject_text(const X509_NAME* name);

}  // namespace omsgw::config
