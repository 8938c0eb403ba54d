# Intel ISA-L (Debian libisal-dev): streaming gzip inflate and CRC-32, about 2x zlib's inflate here.
# Point at a local build with ISAL_ROOT (or CMAKE_PREFIX_PATH). Needs ISA-L >= 2.24 (gzip header
# and trailer handling in isal_inflate); the version comes from <isa-l.h>.
find_path(ISAL_INCLUDE_DIR isa-l/igzip_lib.h)
find_library(ISAL_LIBRARY NAMES isal)
if(ISAL_INCLUDE_DIR AND EXISTS "${ISAL_INCLUDE_DIR}/isa-l.h")
  file(STRINGS "${ISAL_INCLUDE_DIR}/isa-l.h" _isal_version_lines
       REGEX "#define ISAL_(MAJOR|MINOR|PATCH)_VERSION[ \t]+[0-9]+")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define ISAL_${part}_VERSION[ \t]+([0-9]+).*" "\\1" _isal_${part}
           "${_isal_version_lines}")
  endforeach()
  set(ISAL_VERSION "${_isal_MAJOR}.${_isal_MINOR}.${_isal_PATCH}")
  unset(_isal_version_lines)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ISAL REQUIRED_VARS ISAL_INCLUDE_DIR ISAL_LIBRARY VERSION_VAR ISAL_VERSION)
if(ISAL_FOUND AND NOT TARGET ISAL::isal)
  add_library(ISAL::isal UNKNOWN IMPORTED)
  set_target_properties(ISAL::isal PROPERTIES IMPORTED_LOCATION "${ISAL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ISAL_INCLUDE_DIR}")
endif()
mark_as_advanced(ISAL_INCLUDE_DIR ISAL_LIBRARY)
