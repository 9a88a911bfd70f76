#pragma once
/// \file
/// The directory and the last name of a path, as text (no file system access): the
/// config file's atomic writer and its watcher both work on "the directory that holds
/// this name".

#include <string>

namespace omsgw::config {

/// "dir/name" -> "dir"; "name" -> "."; "/name" -> "/".
inline std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// "dir/name" -> "name"; "name" -> "name".
inline std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace omsgw::config
