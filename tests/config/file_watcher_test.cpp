// The configuration file watcher: which names decide what a path names (plain file,
// an operator's symlink, the Kubernetes ConfigMap layout), and that a real inotify
// watch fires for each kind of change and follows the links after a swap.
#include "config/file_watcher.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/temp_dir.hpp"

namespace omsgw::config {
namespace {

class FileWatcher : public ::testing::Test {
 protected:
  void write(const std::string& rel, const std::string& text) { tmp_.write(rel, text); }
  void link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), (dir_ + "/" + rel).c_str()), 0);
  }
  void mkdir(const std::string& rel) { ASSERT_EQ(::mkdir((dir_ + "/" + rel).c_str(), 0755), 0); }
  /// Swaps "..data" to `target` as kubelet does: a new link renamed over the old one.
  void swap_data(const std::string& target) {
    link(target, "..data_tmp");
    ASSERT_EQ(::rename((dir_ + "/..data_tmp").c_str(), (dir_ + "/..data").c_str()), 0);
  }
  bool has(const std::vector<watch_point>& v, const std::string& dir, const std::string& name) {
    return std::find(v.begin(), v.end(), watch_point{dir, name}) != v.end();
  }
  /// Runs the io_context until the callback has fired `want` times or 5 s passed.
  bool fired(boost::asio::io_context& ioc, std::atomic<int>& count, int want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (count < want && std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(50));
    }
    return count >= want;
  }
  omsgw::testing::temp_dir tmp_{"omsgw-watcher-test"};
  std::string dir_ = tmp_.path();
};

TEST_F(FileWatcher, APlainFileIsItsOwnNameInItsDirectory) {
  write("omsgw.yaml", "{}\n");
  const auto points = watch_points(dir_ + "/omsgw.yaml");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_TRUE(has(points, dir_, "omsgw.yaml"));
}

TEST_F(FileWatcher, ASymlinkIntoAnotherDirectoryAddsTheTargetsName) {
  mkdir("real");
  write("real/gw.yaml", "{}\n");
  link("real/gw.yaml", "omsgw.yaml");
  const auto points = watch_points(dir_ + "/omsgw.yaml");
  EXPECT_TRUE(has(points, dir_, "omsgw.yaml"));
  EXPECT_TRUE(has(points, dir_ + "/real", "gw.yaml"));
}

TEST_F(FileWatcher, TheConfigMapLayoutWatchesTheDataLinkAndTheFileBehindIt) {
  mkdir("..2026_1");
  write("..2026_1/omsgw.yaml", "{}\n");
  link("..2026_1", "..data");
  link("..data/omsgw.yaml", "omsgw.yaml");
  const auto points = watch_points(dir_ + "/omsgw.yaml");
  EXPECT_TRUE(has(points, dir_, "omsgw.yaml"));
  EXPECT_TRUE(has(points, dir_, "..data"));
  EXPECT_TRUE(has(points, dir_ + "/..data", "omsgw.yaml"));
}

TEST_F(FileWatcher, FiresWhenTheTargetOfASymlinkIsReplacedBesideIt) {
  mkdir("real");
  write("real/gw.yaml", "{}\n");
  link("real/gw.yaml", "omsgw.yaml");
  boost::asio::io_context ioc;
  std::atomic<int> count{0};
  auto w = std::make_shared<file_watcher>(ioc, dir_ + "/omsgw.yaml", [&] { ++count; });
  ASSERT_FALSE(w->start());
  write("real/.gw.yaml.tmp", "mode: report\n");  // a temp file beside it: not a change
  ASSERT_EQ(::rename((dir_ + "/real/.gw.yaml.tmp").c_str(), (dir_ + "/real/gw.yaml").c_str()), 0);
  EXPECT_TRUE(fired(ioc, count, 1));
  w->stop();
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(50));
}

TEST_F(FileWatcher, FollowsAConfigMapSwapAndFiresForTheNextOneToo) {
  mkdir("..2026_1");
  write("..2026_1/omsgw.yaml", "{}\n");
  link("..2026_1", "..data");
  link("..data/omsgw.yaml", "omsgw.yaml");
  boost::asio::io_context ioc;
  std::atomic<int> count{0};
  auto w = std::make_shared<file_watcher>(ioc, dir_ + "/omsgw.yaml", [&] { ++count; });
  ASSERT_FALSE(w->start());
  mkdir("..2026_2");
  write("..2026_2/omsgw.yaml", "mode: report\n");
  swap_data("..2026_2");
  EXPECT_TRUE(fired(ioc, count, 1));
  std::system(("rm -rf '" + dir_ + "/..2026_1'").c_str());
  // An in-place write to the file behind the new link is seen: the watch followed.
  const int before = count;
  write("..2026_2/omsgw.yaml", "mode: enforce\n");
  EXPECT_TRUE(fired(ioc, count, before + 1));
  w->stop();
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace omsgw::config
