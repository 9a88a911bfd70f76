#include "config/yaml_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace omsgw::config::yaml_text {
namespace {

/// The text of the value at top-level key `key`, as the scanner delimits it.
std::string value_text(const std::string& doc, const std::string& key) {
  const YAML::Node root = YAML::Load(doc);
  const YAML::Node v = root[key];
  const auto start = static_cast<std::size_t>(v.Mark().pos);
  const auto end = node_end(doc, v, false);
  if (end == npos) return "<npos>";
  return doc.substr(start, end - start);
}

TEST(YamlText, FindsLineBoundsWithLfAndCrlf) {
  const std::string t = "a: 1\r\nb: 2\nc: 3";
  EXPECT_EQ(line_start(t, 8), 6u);
  EXPECT_EQ(line_end(t, 0), 4u);  // the '\r' of the CRLF
  EXPECT_EQ(next_line(t, 0), 6u);
  EXPECT_EQ(line_end(t, 12), t.size());
  EXPECT_EQ(next_line(t, 12), t.size());
}

TEST(YamlText, EndsPlainScalarsBeforeCommentsAndTrailingBlanks) {
  EXPECT_EQ(value_text("port: 8080   # the listener\n", "port"), "8080");
  EXPECT_EQ(value_text("host: a.example.com\n", "host"), "a.example.com");
  EXPECT_EQ(value_text("url: http://proxy:3128 # relay\n", "url"), "http://proxy:3128");
}

TEST(YamlText, EndsQuotedScalarsAtTheirClosingQuote) {
  EXPECT_EQ(value_text(R"(s: "a \" # b"  # c)" "\n", "s"), R"("a \" # b")");
  EXPECT_EQ(value_text("s: 'it''s # here' # c\n", "s"), "'it''s # here'");
}

TEST(YamlText, EndsFlowCollectionsAtTheirMatchingBracket) {
  EXPECT_EQ(value_text("l: [a, \"b]\", {c: d}]  # x\n", "l"), "[a, \"b]\", {c: d}]");
  EXPECT_EQ(value_text("m: {a: [1, 2], b: '}'}\nn: 1\n", "m"), "{a: [1, 2], b: '}'}");
}

TEST(YamlText, EndsBlockListsAtTheirLastItem) {
  EXPECT_EQ(value_text("l:\n  - a\n  - b   # last\nn: 1\n", "l"), "- a\n  - b");
}

TEST(YamlText, EndsBlockScalarsAtTheirLastIndentedLine) {
  EXPECT_EQ(value_text("s: |\n  one\n  two\nn: 1\n", "s"), "|\n  one\n  two");
}

TEST(YamlText, FindsTheColonAfterAKeyAndTheSpanOfANullValue) {
  const std::string t = "a:   ~   # none\nb:\n";
  const YAML::Node root = YAML::Load(t);
  YAML::Node key;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.Scalar() == "a") key.reset(it->first);
  }
  const auto colon = colon_after_key(t, key, false);
  ASSERT_EQ(colon, 2u);
  const span s = null_span(t, colon);
  EXPECT_EQ(t.substr(s.begin, s.end - s.begin), "~");
  EXPECT_TRUE(null_span("b:\n", 2).empty());
}

}  // namespace
}  // namespace omsgw::config::yaml_text
