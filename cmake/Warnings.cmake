# Project-wide warnings, carried by an INTERFACE target linked PRIVATE to every target.
add_library(dwipack_warnings INTERFACE)
target_compile_options(dwipack_warnings INTERFACE
  -Wall -Wextra -Wpedantic   # the usual set
  -Wshadow                   # a shadowed name hides bugs in long functions
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(DWIPACK_WARNINGS_AS_ERRORS)
  target_compile_options(dwipack_warnings INTERFACE -Werror)
endif()
# GCC 12 reports false -Warray-bounds / -Wstringop-overflow positives inside libstdc++'s red-black
# tree and std::string when nlohmann::json is inlined at -O2 (GCC bugs 105562, 106297).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(dwipack_warnings INTERFACE -Wno-array-bounds -Wno-stringop-overflow)
endif()
