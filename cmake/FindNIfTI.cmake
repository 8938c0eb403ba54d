# Find nifticlib's NIfTI-2 reader (reads NIfTI-1 too): nifti_clib >= 3.0, for nifti2_io.h and
# libnifti2 + libznz. Point at a local build with NIfTI_ROOT=<its install prefix> (or set
# NIfTI_INCLUDE_DIR, NIfTI_nifti2_LIBRARY and NIfTI_znz_LIBRARY); shared or static libraries.
# Debian's own NIFTIConfig.cmake points at files that do not exist and aborts configuration,
# so this module is named NIfTI (not NIFTI) and never reaches it.
find_path(NIfTI_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti)
find_library(NIfTI_nifti2_LIBRARY NAMES nifti2)
find_library(NIfTI_znz_LIBRARY NAMES znz)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NIfTI REQUIRED_VARS NIfTI_INCLUDE_DIR NIfTI_nifti2_LIBRARY NIfTI_znz_LIBRARY)
if(NIfTI_FOUND AND NOT TARGET NIfTI::nifti2)
  # A static libznz (nifti_clib's default build) does not bring the zlib it calls.
  set(_nifti_znz_deps "")
  if(NIfTI_znz_LIBRARY MATCHES "\\${CMAKE_STATIC_LIBRARY_SUFFIX}$")
    find_package(ZLIB REQUIRED)
    set(_nifti_znz_deps ZLIB::ZLIB)
  endif()
  add_library(NIfTI::znz UNKNOWN IMPORTED)
  set_target_properties(NIfTI::znz PROPERTIES IMPORTED_LOCATION "${NIfTI_znz_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NIfTI_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES "${_nifti_znz_deps}")
  add_library(NIfTI::nifti2 UNKNOWN IMPORTED)
  set_target_properties(NIfTI::nifti2 PROPERTIES IMPORTED_LOCATION "${NIfTI_nifti2_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NIfTI_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES "NIfTI::znz;m")
endif()
mark_as_advanced(NIfTI_INCLUDE_DIR NIfTI_nifti2_LIBRARY NIfTI_znz_LIBRARY)
