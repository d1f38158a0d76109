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

# Unity build: each target's sources are compiled in batches of up to 8 files per translation unit,
# so the Asio/Beast, nlohmann::json, spdlog and Catch2 headers are parsed, and their common templates
# instantiated, once per batch instead of once per file. On the 2-core reference machine this is
# most of a cold build's CPU (docs/status.md, `make demo` / `make test`). Off for per-file builds
# (e.g. to check that every file includes what it uses).
option(LABSYNC_UNITY_BUILD "Compile each target's sources in batches (CMake unity build)" ON)
if(LABSYNC_UNITY_BUILD)
  set(CMAKE_UNITY_BUILD ON)
  set(CMAKE_UNITY_BUILD_BATCH_SIZE 8)
endif()

find_program(LABSYNC_CCACHE ccache)
if(LABSYNC_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${LABSYNC_CCACHE}")
endif()

add_library(labsync_warnings INTERFACE)
target_compile_options(labsync_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local
                                                  $<$<BOOL:${LABSYNC_WERROR}>:-Werror>)
# In a unity batch each .cpp is an included file, and GCC then reports a coroutine frame that holds
# a value of an anonymous-namespace type as -Wsubobject-linkage (a warning meant for headers).
if(LABSYNC_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(labsync_warnings INTERFACE -Wno-subobject-linkage)
endif()

if(LABSYNC_SANITIZE)
  add_compile_options(-fsanitize=${LABSYNC_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${LABSYNC_SANITIZE})
endif()
