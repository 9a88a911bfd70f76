/// \file
/// Locale and catalog binding (see i18n.hpp).
#include "cli/i18n.hpp"

#include <clocale>
#include <cstdlib>

#ifndef OMSGW_LOCALEDIR
#define OMSGW_LOCALEDIR "/usr/share/locale"
#endif

namespace omsgw::cli {

void init_i18n() {
  std::setlocale(LC_CTYPE, "");
  std::setlocale(LC_MESSAGES, "");
  const char* dir = std::getenv("OMSGW_LOCALEDIR");
  bindtextdomain(k_text_domain, dir && *dir ? dir : OMSGW_LOCALEDIR);
  bind_textdomain_codeset(k_text_domain, "UTF-8");
}

}  // namespace omsgw::cli
