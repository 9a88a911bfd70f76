#include "config/editor.hpp"
#include "config/settings_table.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/loader.hpp"

namespace omsgw::config {
namespace {

const key_path k_port = {"listen", "port"};
const key_path k_hosts = {"allowed_hosts"};

std::string set_ok(const std::string& text, const key_path& path, const std::string& value) {
  const auto r = set_scalar(text, path, value);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.text;
}

std::function<bool(const std::string&)> equals(const std::string& v) {
  return [v](const std::string& s) { return s == v; };
}

// --- scalars ---------------------------------------------------------------------

TEST(ConfigEditor, SetsABlockScalarAndKeepsEveryComment) {
  const std::string in =
      "# omsgw config, owned by ops\n"
      "listen:\n"
      "  address: 127.0.0.1   # loopback only\n"
      "  port: 8080 # the agents' port\n"
      "\n"
      "# trailing note\n";
  const std::string out = set_ok(in, k_port, "9090");
  EXPECT_EQ(out,
            "# omsgw config, owned by ops\n"
            "listen:\n"
            "  address: 127.0.0.1   # loopback only\n"
            "  port: 9090 # the agents' port\n"
            "\n"
            "# trailing note\n");
  EXPECT_EQ(parse_config(out).config->listen.port, 9090);
}

TEST(ConfigEditor, SetsAScalarInsideAFlowMap) {
  const std::string in = "listen: { address: 0.0.0.0, port: 8080 }  # public\n";
  EXPECT_EQ(set_ok(in, k_port, "8443"), "listen: { address: 0.0.0.0, port: 8443 }  # public\n");
  EXPECT_EQ(set_ok(in, {"listen", "address"}, "\"127.0.0.1\""),
            "listen: { address: \"127.0.0.1\", port: 8080 }  # public\n");
}

TEST(ConfigEditor, ReplacesAQuotedScalarWholly) {
  const std::string in = "tls:\n  min_version: \"1.2\" # policy\n  inspect: true\n";
  EXPECT_EQ(set_ok(in, {"tls", "min_version"}, "\"1.3\""),
            "tls:\n  min_version: \"1.3\" # policy\n  inspect: true\n");
  const std::string single = "log: {level: 'info'}\n";
  EXPECT_EQ(set_ok(single, {"log", "level"}, "debug"), "log: {level: debug}\n");
}

TEST(ConfigEditor, UnchangedValueReportsNoChange) {
  const auto r = set_scalar("listen:\n  port: 8080\n", k_port, "8080");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.changed);
}

TEST(ConfigEditor, AddsAMissingKeyToAnExistingBlockSection) {
  const std::string in =
      "limits:\n"
      "    header_timeout_s: 10   # agents are slow\n"
      "    drain_timeout_s: 30\n"
      "# end of limits\n"
      "mode: enforce\n";
  EXPECT_EQ(set_ok(in, {"limits", "idle_timeout_s"}, "120"),
            "limits:\n"
            "    header_timeout_s: 10   # agents are slow\n"
            "    drain_timeout_s: 30\n"
            "    idle_timeout_s: 120\n"
            "# end of limits\n"
            "mode: enforce\n");
}

TEST(ConfigEditor, AddsAMissingKeyToAFlowSection) {
  EXPECT_EQ(set_ok("admin: {address: 127.0.0.1}\n", {"admin", "port"}, "9000"),
            "admin: {address: 127.0.0.1, port: 9000}\n");
  EXPECT_EQ(set_ok("admin: {}\n", {"admin", "port"}, "9000"), "admin: {port: 9000}\n");
}

TEST(ConfigEditor, AppendsAMissingSectionAtTheEnd) {
  const std::string in = "# only a comment at the top\nmode: report";
  const std::string out = set_ok(in, {"limits", "idle_timeout_s"}, "60");
  EXPECT_EQ(out, "# only a comment at the top\nmode: report\nlimits:\n  idle_timeout_s: 60\n");
  EXPECT_EQ(parse_config(out).config->limits.idle_timeout_s, 60u);
}

TEST(ConfigEditor, FollowsTheFilesIndentationForNewSections) {
  const std::string in = "listen:\n    port: 8080\n";
  EXPECT_EQ(set_ok(in, {"tls", "min_version"}, "\"1.3\""),
            "listen:\n    port: 8080\ntls:\n    min_version: \"1.3\"\n");
}

TEST(ConfigEditor, WritesIntoAnEmptyOrCommentOnlyFile) {
  EXPECT_EQ(set_ok("", k_port, "8080"), "listen:\n  port: 8080\n");
  EXPECT_EQ(set_ok("# nothing yet\n", {"mode"}, "report"), "# nothing yet\nmode: report\n");
}

TEST(ConfigEditor, FillsAnEmptySection) {
  EXPECT_EQ(set_ok("tls:   # TLS rules\nmode: enforce\n", {"tls", "inspect"}, "false"),
            "tls:   # TLS rules\n  inspect: false\nmode: enforce\n");
  EXPECT_EQ(set_ok("relay_proxy: ~\n", {"relay_proxy", "address"}, "\"\""),
            "relay_proxy:\n  address: \"\"\n");
  EXPECT_EQ(set_ok("mode:\n", {"mode"}, "report"), "mode: report\n");
}

TEST(ConfigEditor, ReplacesABlockValueWithAScalar) {
  const std::string in = "mode:\n  - enforce\n  - report\nlog: {level: info}\n";
  EXPECT_EQ(set_ok(in, {"mode"}, "report"), "mode: report\nlog: {level: info}\n");
}

TEST(ConfigEditor, KeepsCrlfLineEndings) {
  const std::string in = "listen:\r\n  port: 8080\r\n";
  EXPECT_EQ(set_ok(in, {"listen", "address"}, "\"::\""),
            "listen:\r\n  port: 8080\r\n  address: \"::\"\r\n");
}

TEST(ConfigEditor, RefusesALayoutItCannotEditExactly) {
  // A plain scalar continued on the next line: replacing its first line only would
  // change the value to something else; the check catches it.
  const std::string in = "relay_proxy:\n  username: first\n    second\n";
  const auto r = set_scalar(in, {"relay_proxy", "username"}, "alice");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.text, in);
}

TEST(ConfigEditor, RefusesBrokenYamlAndNonMaps) {
  EXPECT_FALSE(set_scalar("listen: [\n", k_port, "1").ok());
  EXPECT_FALSE(set_scalar("- a\n- b\n", k_port, "1").ok());
  EXPECT_FALSE(set_scalar("listen: 8080\n", k_port, "1").ok());  // listen is not a map
  EXPECT_FALSE(set_scalar("a: 1\n---\nb: 2\n", k_port, "1").ok());
}

// --- lists -----------------------------------------------------------------------

TEST(ConfigEditor, AddsOneLineToABlockList) {
  const std::string in =
      "allowed_hosts:   # who agents may reach\n"
      "  - \"*.ods.opinsights.azure.com\"   # ingestion\n"
      "  # - old.example.com\n"
      "  - a.example.com\n"
      "mode: enforce\n";
  const auto r = add_list_item(in, k_hosts, "b.example.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text,
            "allowed_hosts:   # who agents may reach\n"
            "  - \"*.ods.opinsights.azure.com\"   # ingestion\n"
            "  # - old.example.com\n"
            "  - a.example.com\n"
            "  - b.example.com\n"
            "mode: enforce\n");
}

TEST(ConfigEditor, AddsToAZeroIndentedBlockListAtTheEndOfTheFile) {
  const auto r = add_list_item("allowed_hosts:\n- a.example.com", k_hosts, "b.example.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "allowed_hosts:\n- a.example.com\n- b.example.com");
}

TEST(ConfigEditor, AddsToAFlowList) {
  auto r = add_list_item("allowed_hosts: [a.example.com, \"*.b.example.com\"] # x\n", k_hosts,
                         "c.example.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "allowed_hosts: [a.example.com, \"*.b.example.com\", c.example.com] # x\n");
  r = add_list_item("allowed_hosts: []\n", k_hosts, "c.example.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "allowed_hosts: [c.example.com]\n");
  r = add_list_item("allowed_hosts: [\n  a.example.com,  # first\n  b.example.com\n]\n", k_hosts,
                    "c.example.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text,
            "allowed_hosts: [\n  a.example.com,  # first\n  b.example.com, c.example.com\n]\n");
}

TEST(ConfigEditor, CreatesAMissingListFromTheDefaultsItReplaces) {
  const auto r = add_list_item("mode: enforce\n", k_hosts, "c.example.com",
                               {"\"*.ods.opinsights.azure.com\"", "a.example.com"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text,
            "mode: enforce\n"
            "allowed_hosts:\n"
            "  - \"*.ods.opinsights.azure.com\"\n"
            "  - a.example.com\n"
            "  - c.example.com\n");
}

TEST(ConfigEditor, AddsToANestedList) {
  const auto r = add_list_item("clients:\n  allow:\n    - 10.0.0.0/8\n", {"clients", "allow"},
                               "\"192.168.0.0/16\"");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "clients:\n  allow:\n    - 10.0.0.0/8\n    - \"192.168.0.0/16\"\n");
  const auto created = add_list_item("clients: {}\n", {"clients", "allow"}, "\"::1\"");
  ASSERT_TRUE(created.ok()) << created.error;
  EXPECT_EQ(created.text, "clients: {allow: [\"::1\"]}\n");
}

TEST(ConfigEditor, RemovesOneBlockLineWithItsOwnComment) {
  const std::string in =
      "allowed_hosts:\n"
      "  # reviewed 2024\n"
      "  - a.example.com\n"
      "  - b.example.com   # temporary\n"
      "  - c.example.com\n";
  const auto r = remove_list_items(in, k_hosts, equals("b.example.com"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.text,
            "allowed_hosts:\n"
            "  # reviewed 2024\n"
            "  - a.example.com\n"
            "  - c.example.com\n");
}

TEST(ConfigEditor, RemovesTheLastBlockItemAtTheEndOfTheFile) {
  const auto r = remove_list_items("allowed_hosts:\n  - a.example.com\n  - b.example.com", k_hosts,
                                   equals("b.example.com"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "allowed_hosts:\n  - a.example.com\n");
}

TEST(ConfigEditor, RemovesFromAFlowListAtAnyPosition) {
  const std::string in = "allowed_hosts: [a.x.com, b.x.com, c.x.com]  # list\n";
  EXPECT_EQ(remove_list_items(in, k_hosts, equals("a.x.com")).text,
            "allowed_hosts: [b.x.com, c.x.com]  # list\n");
  EXPECT_EQ(remove_list_items(in, k_hosts, equals("b.x.com")).text,
            "allowed_hosts: [a.x.com, c.x.com]  # list\n");
  EXPECT_EQ(remove_list_items(in, k_hosts, equals("c.x.com")).text,
            "allowed_hosts: [a.x.com, b.x.com]  # list\n");
  const auto two = remove_list_items(
      in, k_hosts, [](const std::string& s) { return s == "b.x.com" || s == "c.x.com"; });
  EXPECT_EQ(two.text, "allowed_hosts: [a.x.com]  # list\n");
}

TEST(ConfigEditor, AnEmptiedListBecomesAnEmptyFlowList) {
  const std::string block =
      "allowed_client_certificates:  # subjects\n  - CN=agent01\nmode: report\n";
  const auto r = remove_list_items(block, {"allowed_client_certificates"}, equals("CN=agent01"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "allowed_client_certificates: []  # subjects\nmode: report\n");
  EXPECT_TRUE(parse_config(r.text).ok());
  const auto flow = remove_list_items("allowed_ports: [443]\n", {"allowed_ports"}, equals("443"));
  EXPECT_EQ(flow.text, "allowed_ports: []\n");
}

TEST(ConfigEditor, RemovingWhatIsNotThereChangesNothing) {
  const std::string in = "allowed_hosts: [a.x.com]\n";
  const auto r = remove_list_items(in, k_hosts, equals("z.x.com"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(r.text, in);
}

TEST(ConfigEditor, RemovingFromAMissingListWritesTheRestOfTheDefaults) {
  const auto r = remove_list_items("mode: enforce\n", k_hosts, equals("b.x.com"),
                                   {"a.x.com", "b.x.com", "c.x.com"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "mode: enforce\nallowed_hosts:\n  - a.x.com\n  - c.x.com\n");
}

TEST(ConfigEditor, SetsAWholeListKeepingItsStyle) {
  auto r = set_list("allowed_ports: [443]  # https\n", {"allowed_ports"}, {"443", "8443"});
  EXPECT_EQ(r.text, "allowed_ports: [443, 8443]  # https\n");
  r = set_list(
      "# regions\nautomation_regions:\n  # hybrid workers\n  - westeurope\nmode: enforce\n",
      {"automation_regions"}, {"northeurope", "westeurope"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text,
            "# regions\nautomation_regions:\n  # hybrid workers\n  - northeurope\n  - westeurope\n"
            "mode: enforce\n");
}

TEST(ConfigEditor, EditsListsOfMapsAroundThem) {
  const std::string in =
      "workspaces:\n"
      "  - id: 01234567-89ab-cdef-0123-456789abcdef\n"
      "    cloud: AzureCloud   # prod\n"
      "allowed_hosts:\n"
      "  - a.x.com\n";
  const auto r = add_list_item(in, k_hosts, "b.x.com");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, in + "  - b.x.com\n");
  const auto s = set_scalar(in, {"mode"}, "report");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.text, in + "mode: report\n");
}

TEST(ConfigEditor, HasKeyTellsSpelledOutFromDefault) {
  EXPECT_TRUE(has_key("listen:\n  port: 1\n", k_port));
  EXPECT_FALSE(has_key("listen:\n  address: ::\n", k_port));
  EXPECT_FALSE(has_key("", k_port));
}

// --- quoting and settings --------------------------------------------------------

TEST(ConfigEditor, QuotesStringsOnlyWhenPlainWouldReadDifferently) {
  EXPECT_EQ(yaml_string("a.example.com"), "a.example.com");
  EXPECT_EQ(yaml_string("*.example.com"), "\"*.example.com\"");
  EXPECT_EQ(yaml_string("CN=agent01, O=Contoso"), "\"CN=agent01, O=Contoso\"");
  EXPECT_EQ(yaml_string("CN=agent01"), "CN=agent01");
  EXPECT_EQ(yaml_string("1.2"), "\"1.2\"");
  EXPECT_EQ(yaml_string("true"), "\"true\"");
  EXPECT_EQ(yaml_string(""), "\"\"");
  EXPECT_EQ(yaml_string("a \"q\" \\ b"), "\"a \\\"q\\\" \\\\ b\"");
  EXPECT_EQ(yaml_string("http://proxy:3128"), "http://proxy:3128");
  EXPECT_EQ(yaml_string("x # y"), "\"x # y\"");
  EXPECT_EQ(yaml_token("8080"), "8080");
  EXPECT_EQ(yaml_token("text"), "text");
  EXPECT_EQ(yaml_token("-"), "\"-\"");
  EXPECT_EQ(yaml_token("a: b"), "\"a: b\"");
}

TEST(ConfigEditor, EveryWrittenStringReadsBackTheSame) {
  for (const std::string s : {"*.x.com", "CN=a, O=b", "1.2", "yes", "~", "- x", "[a]", "a#b",
                              "a #b", "'q'", "tab\there", "ünïcödé", "@x", "%x", "`x`"}) {
    const auto r = set_scalar("", {"relay_proxy", "username"}, yaml_string(s));
    ASSERT_TRUE(r.ok()) << s << ": " << r.error;
    const auto loaded = parse_config(r.text);
    ASSERT_TRUE(loaded.ok()) << r.text;
    EXPECT_EQ(loaded.config->relay_proxy.username, s);
  }
}

TEST(ConfigEditor, FindsSettingsByKeyOrOmsAliasIgnoringCase) {
  ASSERT_NE(find_setting("listen.port"), nullptr);
  EXPECT_EQ(find_setting("ListenPort"), find_setting("listen.port"));
  EXPECT_EQ(find_setting("listenport"), find_setting("listen.port"));
  EXPECT_EQ(find_setting("LISTEN.PORT"), find_setting("listen.port"));
  EXPECT_EQ(find_setting("ListenAddress")->key, "listen.address");
  EXPECT_EQ(find_setting("IdleTimeout")->key, "limits.idle_timeout_s");
  EXPECT_EQ(find_setting("MinTlsVersion")->key, "tls.min_version");
  EXPECT_EQ(find_setting("nope"), nullptr);
  for (const auto& s : settings()) {
    EXPECT_EQ(find_setting(s.key), &s);
    for (auto a : s.aliases) EXPECT_EQ(find_setting(a), &s) << a;
  }
}

TEST(ConfigEditor, ReadsEffectiveValuesIncludingDefaults) {
  gateway_config cfg;
  EXPECT_EQ(setting_values(cfg, *find_setting("ListenPort")), std::vector<std::string>{"8080"});
  EXPECT_EQ(setting_values(cfg, *find_setting("tls.min_version")), std::vector<std::string>{"1.2"});
  EXPECT_EQ(setting_values(cfg, *find_setting("allowed_hosts")).size(), 7u);
  for (const auto& s : settings()) {
    if (s.kind != setting_kind::list && s.kind != setting_kind::table) {
      EXPECT_EQ(setting_values(cfg, s).size(), 1u) << s.key;
    }
  }
}

TEST(ConfigEditor, NormalisesFriendlySpellingsOfValues) {
  EXPECT_EQ(setting_yaml_value(*find_setting("tls.inspect"), "False"), "false");
  EXPECT_EQ(setting_yaml_value(*find_setting("tls.inspect"), "maybe"), "maybe");
  EXPECT_EQ(setting_yaml_value(*find_setting("mode"), "Report"), "report");
  EXPECT_EQ(setting_yaml_value(*find_setting("tls.min_version"), "TLS1.3"), "\"1.3\"");
  EXPECT_EQ(setting_yaml_value(*find_setting("tls.min_version"), "1.2"), "\"1.2\"");
  EXPECT_EQ(setting_yaml_value(*find_setting("ListenPort"), "9090"), "9090");
  EXPECT_EQ(setting_yaml_value(*find_setting("ListenAddress"), "::"), "\"::\"");
}

TEST(ConfigEditor, EveryScalarSettingCanBeWrittenIntoAnEmptyFile) {
  for (const auto& s : settings()) {
    if (s.kind == setting_kind::list || s.kind == setting_kind::table) continue;
    const auto values = setting_values(gateway_config{}, s);
    const auto r = set_scalar("", split_key(s.key), setting_yaml_value(s, values.at(0)));
    ASSERT_TRUE(r.ok()) << s.key << ": " << r.error;
    const auto loaded = parse_config(r.text);
    EXPECT_TRUE(loaded.ok()) << s.key << ":\n" << r.text;
  }
}

}  // namespace
}  // namespace omsgw::config
