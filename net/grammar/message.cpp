/// \file
/// Rendering of a message (see message.hpp).
#include "net/grammar/message.hpp"

#include <boost/format.hpp>

namespace omsgw::grammar {

message message::verbatim(std::string text) {
  message m;
  m.text_ = std::move(text);
  return m;
}

std::string message::str(translator tr) const {
  if (id_ == nullptr) return text_;
  // A catalog with a wrong placeholder never throws here: msgfmt --check-format
  // refuses it at build time.
  boost::format f;
  f.exceptions(boost::io::no_error_bits);  // before parse: an ill-formed string throws there
  f.parse(tr ? tr(id_) : id_);
  for (const auto& a : args_) f % a.str(tr);
  return f.str();
}

}  // namespace omsgw::grammar
