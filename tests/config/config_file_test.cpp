// The configuration file on disk: which file, reading it (a directory or an unreadable
// file is an error; only a missing default file means the embedded defaults), the
// files it names, and the atomic replacement through symlinks.
#include "config/config_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/temp_dir.hpp"

namespace omsgw::config {
namespace {

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A temp directory, removed (with what the test put in it) at the end.
class ConfigFile : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0644) {
    return tmp_.write(name, text, mode);
  }
  static std::string read(const std::string& path) {
    std::string text, why;
    EXPECT_EQ(read_text_file(path, text, why), read_status::ok) << why;
    return text;
  }
  omsgw::testing::temp_dir tmp_{"omsgw-config-file-test"};
  std::string dir_ = tmp_.path();
};

// Moved from loader_test.cpp with load_config_file, which this module replaces.
TEST(ConfigLoader, ReportsUnreadableFileAsOneErrorWithoutLocation) {
  const file_load r = load_source({"/nonexistent/omsgw-test/omsgw.yaml", false});
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "");
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_TRUE(mentions(r.errors[0].message, "No such file or directory")) << r.errors[0].message;

  const file_load dir = load_source({"/", false});
  ASSERT_EQ(dir.errors.size(), 1u);
  EXPECT_TRUE(mentions(dir.errors[0].message, "Is a directory")) << dir.errors[0].message;
}

TEST(ConfigLoader, LoadsAFileFromDisk) {
  char path[] = "/tmp/omsgw_loader_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "listen:\n  port: 3129\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const file_load r = load_source({path, false});
  std::remove(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.loaded->config->listen.port, 3129);
}

TEST_F(ConfigFile, OnlyAMissingDefaultFileMeansTheEmbeddedDefaults) {
  const file_load missing = load_source({dir_ + "/absent.yaml", true});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing.loaded->embedded);
  EXPECT_EQ(missing.loaded->source, "embedded defaults");
  // A default path that is a directory or cannot be read is an error (issue 15, 10a).
  const file_load dir = load_source({dir_, true});
  EXPECT_FALSE(dir.ok());
  ASSERT_EQ(dir.errors.size(), 1u);
  EXPECT_TRUE(mentions(dir.errors[0].message, "Is a directory")) << dir.errors[0].message;
  // An explicit path must exist.
  EXPECT_FALSE(load_source({dir_ + "/absent.yaml", false}).ok());
}

TEST_F(ConfigFile, ChoosesTheGivenFileOrTheDefaultPath) {
  const auto given = choose_source("/x/y.yaml", true);
  EXPECT_EQ(given.path, "/x/y.yaml");
  EXPECT_FALSE(given.defaults_if_missing);
  const auto dflt = choose_source("", false);
  EXPECT_EQ(dflt.path, default_config_path());
  EXPECT_TRUE(dflt.defaults_if_missing);
}

TEST_F(ConfigFile, HashIsTheFirst12HexDigitsOfTheSha256) {
  EXPECT_EQ(content_hash(""), "e3b0c44298fc");
  EXPECT_EQ(content_hash("abc"), "ba7816bf8f01");
  const file_load r = load_source({write("a.yaml", "mode: report\n"), false});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.loaded->hash, content_hash("mode: report\n"));
  EXPECT_EQ(r.loaded->text, "mode: report\n");
}

TEST_F(ConfigFile, AnUnusableRelayPasswordFileIsAConfigurationErrorWithItsKey) {
  const std::string pw = write("pw", "secret-pw\n", 0644);
  const std::string yaml =
      "relay_proxy:\n  address: http://127.0.0.1:3128\n  username: u\n"
      "  password_file: " +
      pw + "\n";
  const file_load r = load_text(yaml, "f.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "relay_proxy.password_file");
  EXPECT_EQ(r.errors[0].line, 4);  // SPEC: every configuration error names its line
  EXPECT_EQ(r.errors[0].column, 18);
  EXPECT_TRUE(mentions(r.errors[0].message, "0644")) << r.errors[0].message;
  EXPECT_FALSE(mentions(r.errors[0].message, "secret-pw"));
  EXPECT_TRUE(load_text(yaml, "f.yaml", file_checks::yaml_only).ok());
  ::chmod(pw.c_str(), 0600);
  EXPECT_TRUE(load_text(yaml, "f.yaml").ok());
}

// The keytab and the CA file are checked wherever the configuration is (check-config,
// CLI edits, start, reload), each at its line: before, only start and reload refused
// them, without a line, so a CLI edit wrote a file the next start refused.
TEST_F(ConfigFile, AKeytabOthersCanReadIsAnErrorAtItsLine) {
  const std::string kt = write("kt", "keytab-bytes", 0644);
  const std::string yaml =
      "relay_proxy:\n  address: http://127.0.0.1:3128\n  auth: negotiate\n  keytab: " + kt + "\n";
  const file_load r = load_text(yaml, "f.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "relay_proxy.keytab");
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 11);
  EXPECT_TRUE(mentions(r.errors[0].message, "0644: a keytab must not")) << r.errors[0].message;
  ::chmod(kt.c_str(), 0600);
  EXPECT_TRUE(load_text(yaml, "f.yaml").ok());
  // No relay: the keytab is unused and not read.
  ::chmod(kt.c_str(), 0644);
  EXPECT_TRUE(load_text("relay_proxy: { keytab: " + kt + " }\n", "f.yaml").ok());
}

TEST_F(ConfigFile, ACaFileWithNoCertificateIsAnErrorAtItsLine) {
  const std::string bad = write("ca.pem", "not a certificate\n", 0644);
  const std::string yaml =
      "mode: enforce\nrelay_proxy: { address: https://proxy.corp:3128, ca_file: " + bad + " }\n";
  const file_load r = load_text(yaml, "f.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "relay_proxy.ca_file");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_TRUE(mentions(r.errors[0].message, "CA certificates") ||
              mentions(r.errors[0].message, "no PEM certificate"))
      << r.errors[0].message;
  const file_load missing = load_text(
      "relay_proxy: { address: https://proxy.corp:3128, ca_file: " + dir_ + "/absent.pem }\n",
      "f.yaml");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].key, "relay_proxy.ca_file");
}

TEST_F(ConfigFile, ARelayPasswordFileOfBlanksIsEmpty) {
  for (const char* text : {"", "\n", "   \n", " \t \r\nsecond-line\n"}) {
    SCOPED_TRACE(text);
    const std::string pw = write("pw", text, 0600);
    const file_load r = load_text(
        "relay_proxy: { address: http://127.0.0.1:3128, username: u, password_file: " + pw + " }\n",
        "f.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_TRUE(mentions(r.errors[0].message, "is empty")) << r.errors[0].message;
  }
}

TEST_F(ConfigFile, AnUnusableAdminTokenFileIsAnErrorAtItsLine) {
  const std::string empty = write("token", "", 0600);
  for (const std::string& yaml :
       {"mode: enforce\nadmin: { port: 9090, token_file: " + empty + " }\n",
        "mode: enforce\nadmin: { port: 9090, token_file: " + dir_ + "/missing }\n"}) {
    SCOPED_TRACE(yaml);
    const file_load r = load_text(yaml, "f.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].key, "admin.token_file");
    EXPECT_EQ(r.errors[0].line, 2);
    EXPECT_EQ(r.errors[0].column, 34);
    EXPECT_TRUE(mentions(format_error("f.yaml", r.errors[0]), "f.yaml:2:34: admin.token_file: "));
  }
}

TEST_F(ConfigFile, ReplacingKeepsModeAndWritesBesideTheTargetOfASymlink) {
  ASSERT_EQ(::mkdir((dir_ + "/data").c_str(), 0755), 0);
  const std::string target = write("data/omsgw.yaml", "mode: enforce\n", 0640);
  const std::string link = dir_ + "/omsgw.yaml";
  ASSERT_EQ(::symlink("data/omsgw.yaml", link.c_str()), 0);
  std::string why;
  ASSERT_TRUE(replace_file(link, "mode: report\n", why)) << why;
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced by a file";
  EXPECT_EQ(read(target), "mode: report\n");
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(resolve_path(link), target);
}

TEST_F(ConfigFile, AReadOnlyFileIsNamedAsSuch) {
  const std::string path = write("ro.yaml", "mode: enforce\n", 0444);
  const std::string why = check_writable(path);
  EXPECT_TRUE(mentions(why, path)) << why;
  EXPECT_TRUE(mentions(why, "read-only")) << why;
  EXPECT_EQ(check_writable(write("rw.yaml", "{}\n", 0644)), "");
}

TEST_F(ConfigFile, TheLockIsExclusiveBetweenDescriptors) {
  const std::string path = write("omsgw.yaml", "{}\n");
  file_lock lock(path);
  ASSERT_EQ(lock.error(), "");
  const int fd = ::open((path + ".lock").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ::close(fd);
}

}  // namespace
}  // namespace omsgw::config
