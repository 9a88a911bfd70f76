#pragma once
/// \file
/// The result of a grammar parser: the value, or why not. It is a std::optional (so
/// `if (auto x = parse(...))`, `*x`, `value_or` read as before) that also carries the
/// reason a value was refused, phrased to follow the quoted input in an error message
/// ("'10.0.0.0/33' has an invalid prefix length ..."). No exceptions.

#include <optional>
#include <string>
#include <utility>

#include "net/grammar/message.hpp"

namespace omsgw::grammar {

template <class T>
class parsed : public std::optional<T> {
 public:
  parsed(T value) : std::optional<T>(std::move(value)) {}  // NOLINT: implicit on purpose
  /// A refusal; `why` is never empty.
  static parsed failure(message why) {
    parsed p;
    p.why_ = why.empty() ? message(N_("is not valid")) : std::move(why);
    return p;
  }
  /// Why the input was refused, in English; "" when it was accepted.
  std::string error() const { return why_.str(); }
  /// Why the input was refused, to be shown translated or in English.
  const message& reason() const { return why_; }

  friend bool operator==(const parsed& a, const parsed& b) {
    return static_cast<const std::optional<T>&>(a) == static_cast<const std::optional<T>&>(b);
  }
  friend bool operator!=(const parsed& a, const parsed& b) { return !(a == b); }
  friend bool operator==(const parsed& a, const T& b) { return a.has_value() && *a == b; }
  friend bool operator==(const T& a, const parsed& b) { return b == a; }

 private:
  parsed() = default;
  message why_;
};

}  // namespace omsgw::grammar
