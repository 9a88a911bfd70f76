/// \file
/// gettext for the messages meant for people (help, CLI output and errors; SPEC
/// "languages"). Log lines, metric names, YAML keys and JSON stay English and never go
/// through here. `_("...")` translates now, `N_("...")` only marks a string for xgettext
/// (translated where it is printed). Messages with values are whole sentences with
/// positional placeholders (%1%, %2%: boost::format) so a translation can reorder them;
/// `msgfmt --check-format` checks that every translation keeps them.
#pragma once

#include <libintl.h>

#include <boost/format.hpp>
#include <initializer_list>
#include <string>

namespace omsgw::cli {

/// The gettext domain, also the catalogs' file name (omsgw.mo).
inline constexpr const char* k_text_domain = "omsgw";

/// Selects the user's language (LC_MESSAGES, LC_CTYPE from the environment; numbers
/// and collation stay "C" so parsing never depends on the locale) and binds the domain
/// to OMSGW_LOCALEDIR from the environment (tests run from the build tree) or to the
/// directory the package installs the catalogs in. Call once at the start of main.
void init_i18n();

inline const char* translate(const char* msgid) { return dgettext(k_text_domain, msgid); }

/// Fills the positional placeholders of an (already translated) message. A catalog
/// with a wrong placeholder count never throws here: check-format catches it at build.
template <class... A>
std::string format(const char* message, const A&... args) {
  boost::format f(message);
  f.exceptions(boost::io::no_error_bits);
  (void)std::initializer_list<int>{((void)(f % args), 0)...};
  return f.str();
}

}  // namespace omsgw::cli

#define _(msgid) ::omsgw::cli::translate(msgid)
#define N_(msgid) msgid
