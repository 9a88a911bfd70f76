#pragma once
/// \file
/// A message meant for people, kept as its template and arguments so that one source
/// gives both the English text (logs, event 401, the admin JSON, tests) and its
/// translation (the CLI, SPEC "languages"). The template is an N_-marked literal with
/// positional placeholders (%1%, %2%: boost::format, so a translation may reorder
/// them); each argument is either text taken verbatim from the input (a value, a key,
/// a path, a number) or itself a message, translated with it. The leaf never links
/// libintl: the caller passes the lookup.

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

/// Marks a template for extraction (po/extract.sh) without translating it.
#ifndef N_
#define N_(msgid) msgid
#endif

namespace omsgw::grammar {

class message {
 public:
  /// Looks a template up in the catalog: the translated template, or `id` itself.
  using translator = const char* (*)(const char* id);

  message() = default;
  /// A template and its arguments: messages, or text (strings, numbers) kept verbatim.
  template <class... A>
  explicit message(const char* id, A&&... args) : id_(id) {
    args_.reserve(sizeof...(A));
    (args_.push_back(arg(std::forward<A>(args))), ...);
  }

  /// Text shown as it is, never translated (a value from the input, a list of names).
  static message verbatim(std::string text);

  /// The text: English with no translator, else with every template looked up.
  std::string str(translator tr = nullptr) const;
  bool empty() const { return id_ == nullptr && text_.empty() && args_.empty(); }

 private:
  static message arg(message m) { return m; }
  static message arg(std::string s) { return verbatim(std::move(s)); }
  static message arg(const char* s) { return verbatim(s); }
  template <class N, class = std::enable_if_t<std::is_arithmetic_v<std::decay_t<N>>>>
  static message arg(N n) {
    return verbatim(std::to_string(n));
  }

  const char* id_ = nullptr;  ///< the template; nullptr for verbatim text
  std::string text_;
  std::vector<message> args_;
};

}  // namespace omsgw::grammar
