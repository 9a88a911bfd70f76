// grammar::message: one source for the English text (logs, JSON) and its translation
// (the CLI): templates looked up, arguments from the input kept verbatim, nested
// messages translated with their parent, placeholders reorderable.

#include "net/grammar/message.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "net/grammar/host.hpp"

namespace omsgw::grammar {
namespace {

/// A two-entry "catalog" that reorders placeholders and marks what it translated.
const char* pseudo(const char* id) {
  if (std::strcmp(id, "'%1%' %2%") == 0) return "%2% <- '%1%'";
  if (std::strcmp(id, "contains '%1%', which is not allowed in a host name") == 0) {
    return "[host-char '%1%']";
  }
  if (std::strcmp(id, "is not a valid wildcard: the suffix %1%") == 0) return "[wildcard: %1%]";
  return id;
}

TEST(GrammarMessage, RendersEnglishWithoutATranslator) {
  const message m(N_("'%1%' %2%"), "a b",
                  message(N_("contains '%1%', which is not allowed in a host name"), " "));
  EXPECT_EQ(m.str(), "'a b' contains ' ', which is not allowed in a host name");
}

TEST(GrammarMessage, TranslatesNestedTemplatesAndKeepsValuesVerbatim) {
  // The value "%2%" comes from the input: it is an argument, never a template.
  const message m(N_("'%1%' %2%"), "%2%",
                  message(N_("contains '%1%', which is not allowed in a host name"), "!"));
  EXPECT_EQ(m.str(&pseudo), "[host-char '!'] <- '%2%'");
}

TEST(GrammarMessage, NumbersVerbatimTextAndEmptiness) {
  EXPECT_TRUE(message().empty());
  EXPECT_FALSE(message(N_("is empty")).empty());
  EXPECT_FALSE(message::verbatim("x").empty());
  EXPECT_EQ(message(N_("expected an integer in %1%..%2%, got %3%"), 1, 65535u, "'x'").str(),
            "expected an integer in 1..65535, got 'x'");
  EXPECT_EQ(message::verbatim("%1% stays").str(&pseudo), "%1% stays");
}

TEST(GrammarMessage, ABrokenCatalogEntryNeverThrows) {
  const auto broken = [](const char*) -> const char* { return "%1% %2% %3% %"; };
  EXPECT_NO_THROW((void)message(N_("is empty")).str(broken));
  EXPECT_NO_THROW((void)message(N_("unknown key '%1%'%2%"), "k", message()).str(broken));
}

TEST(GrammarMessage, ParserReasonsAreMessagesWithTheSameEnglish) {
  const auto bad = normalize_host_pattern("*.a b.example");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), bad.reason().str());
  EXPECT_EQ(bad.reason().str(&pseudo), "[wildcard: [host-char ' ']]");
}

}  // namespace
}  // namespace omsgw::grammar
