# Build options, compiler flags, ccache and sanitizers.
option(LABSYNC_BUILD_TESTS "Build the test suite" ON)
option(LABSYNC_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)
option(LABSYNC_WERROR "Treat warnings as errors (CI builds)" OFF)
set(LABSYNC_SANITIZE "" CACHE STRING "Sanitizers: address,undefined | thread | empty")

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()
# -O2 keeps Beast/Asio translation units affordable on a 2-core machine.
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG")

find_program(LABSYNC_CCACHE ccache)
if(LABSYNC_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${LABSYNC_CCACHE}")
endif()

add_library(labsync_warnings INTERFACE)
target_compile_options(labsync_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local
                                                  $<$<BOOL:${LABSYNC_WERROR}>:-Werror>)

if(LABSYNC_SANITIZE)
  add_compile_options(-fsanitize=${LABSYNC_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${LABSYNC_SANITIZE})
endif()
