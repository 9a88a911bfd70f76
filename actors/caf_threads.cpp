#include "actors/caf_threads.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace omsgw::actors {
namespace {

constexpr const char* k_clock_thread = "caf.clock";  // CAF 0.17's coordinator names it so
constexpr int k_clock_nice = 19;

/// The thread id of this process's thread named name (0: none).
long find_thread(const std::string& name) {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return 0;
  long found = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string line;
    if (std::getline(comm, line) && line == name) {
      found = std::stol(e->d_name);
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

bool lower_clock_thread_priority() {
  // The clock thread names itself once it runs: give it a moment after start-up.
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (const long tid = find_thread(k_clock_thread)) {
      // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice value.
      return ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), k_clock_nice) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace omsgw::actors
