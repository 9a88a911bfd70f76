# Finds CAF 0.17 (Debian's libcaf-dev ships no CMake config) and defines CAF::core,
# CAF::io and CAF::openssl -- the same names newer CAF's CAFConfig.cmake exports,
# so a later upgrade needs no change in the CMakeLists that use them.
find_package(CAF CONFIG QUIET NO_MODULE)
if(CAF_FOUND)
  return()
endif()
find_path(CAF_INCLUDE_DIR caf/config.hpp)
if(CAF_INCLUDE_DIR)
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_ver REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _caf_num "${_caf_ver}")
  math(EXPR _maj "${_caf_num} / 10000")
  math(EXPR _min "(${_caf_num} / 100) % 100")
  math(EXPR _pat "${_caf_num} % 100")
  set(CAF_VERSION "${_maj}.${_min}.${_pat}")
endif()
set(_caf_libs)
foreach(comp core io openssl)
  find_library(CAF_${comp}_LIBRARY caf_${comp})
  if(CAF_${comp}_LIBRARY)
    set(CAF_${comp}_FOUND TRUE)
  endif()
endforeach()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF REQUIRED_VARS CAF_INCLUDE_DIR CAF_core_LIBRARY
  VERSION_VAR CAF_VERSION HANDLE_COMPONENTS)
foreach(comp core io openssl)
  if(CAF_${comp}_FOUND AND NOT TARGET CAF::${comp})
    add_library(CAF::${comp} UNKNOWN IMPORTED)
    set_target_properties(CAF::${comp} PROPERTIES
      IMPORTED_LOCATION "${CAF_${comp}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
  endif()
endforeach()
