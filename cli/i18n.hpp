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
#include <string_view>
#include <utility>
#include <vector>

#include "net/grammar/message.hpp"

namespace omsgw::cli {

/// The gettext domain, also the catalogs' file name (omsgw.mo).
inline constexpr const char* k_text_domain = "omsgw";

/// Selects the user's language (LC_MESSAGES, LC_CTYPE from the environment; numbers
/// and collation stay "C" so parsing never depends on the locale) and binds the domain
/// to OMSGW_LOCALEDIR from the environment (tests run from the build tree) or to the
/// directory the package installs the catalogs in. Call once at the start of main.
void init_i18n();

inline const char* translate(const char* msgid) { return dgettext(k_text_domain, msgid); }

/// The catalog lookup for grammar::message::str: a loader message, translated whole.
inline const char* lookup(const char* msgid) { return translate(msgid); }

/// A message built by config/ or the grammar, translated; `english` where the message
/// has no template (only an English text exists, e.g. an operating-system error).
inline std::string localized(const grammar::message& m, const std::string& english) {
  return m.empty() ? english : m.str(&lookup);
}

/// A message marked with N_ elsewhere (a settings note, a loader message), as text. An
/// empty text stays empty: gettext("") would return the catalog's header.
inline std::string translate(std::string_view msgid) {
  return msgid.empty() ? std::string() : std::string(translate(std::string(msgid).c_str()));
}

/// Fills the positional placeholders of an (already translated) message. A catalog
/// with a wrong placeholder count never throws here: check-format catches it at build.
template <class... A>
std::string format(const char* message, const A&... args) {
  boost::format f;
  f.exceptions(boost::io::no_error_bits);  // before parse: an ill-formed string throws there
  f.parse(message);
  (void)std::initializer_list<int>{((void)(f % args), 0)...};
  return f.str();
}

/// `text` followed by spaces up to `columns` terminal columns (left-aligned table
/// cells): counts what the terminal shows, so a translated label in a wide script (CJK
/// takes two columns per character) still lines up. Bytes are counted when the text is
/// not valid in the locale's encoding (the C locale).
std::string pad_to_width(const std::string& text, std::size_t columns);

/// Rows of "label value" for people, the values starting in one column: at least
/// `min_columns`, and one past the widest label (a translation may be longer).
std::string label_table(const std::vector<std::pair<std::string, std::string>>& rows,
                        std::size_t min_columns);

}  // namespace omsgw::cli

#define _(msgid) ::omsgw::cli::translate(msgid)
