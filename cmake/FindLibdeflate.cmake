# libdeflate (Debian libdeflate-dev): whole-buffer deflate and checksums, about 2x zlib's deflate.
# Found by header and library (libdeflate.pc and, from 1.15 on, a CMake package exist too, but
# neither is needed); point at a local build with Libdeflate_ROOT (or CMAKE_PREFIX_PATH). Any
# libdeflate 1.x has the functions dwipack uses; the version comes from <libdeflate.h>.
find_path(Libdeflate_INCLUDE_DIR libdeflate.h)
find_library(Libdeflate_LIBRARY NAMES deflate libdeflate)
if(Libdeflate_INCLUDE_DIR)
  file(STRINGS "${Libdeflate_INCLUDE_DIR}/libdeflate.h" _libdeflate_version
       REGEX "#define LIBDEFLATE_VERSION_STRING[ \t]+\"[0-9.]+\"")
  string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" Libdeflate_VERSION "${_libdeflate_version}")
  unset(_libdeflate_version)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libdeflate REQUIRED_VARS Libdeflate_INCLUDE_DIR Libdeflate_LIBRARY
                                  VERSION_VAR Libdeflate_VERSION)
if(Libdeflate_FOUND AND NOT TARGET Libdeflate::Libdeflate)
  add_library(Libdeflate::Libdeflate UNKNOWN IMPORTED)
  set_target_properties(Libdeflate::Libdeflate PROPERTIES IMPORTED_LOCATION "${Libdeflate_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libdeflate_INCLUDE_DIR}")
endif()
mark_as_advanced(Libdeflate_INCLUDE_DIR Libdeflate_LIBRARY)
