# ctest driver: install the build tree into a temporary prefix, then configure, build and run
# tests/cmake/consumer against it with find_package(labsync), and build and run the same program
# with nothing but the flags `pkg-config --cflags --libs labsync` gives.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... -P run_consumer.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
step(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
# A sanitizer build installs instrumented libraries: the consumer must be built the same way.
set(sanitize_flags "")
if(SANITIZE)
  set(sanitize_flags "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" ${sanitize_flags})
step(${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j2)
step("${WORK_DIR}/build/consumer" "${WORK_DIR}/run")

# pkg-config: the installed labsync.pc alone must be enough to compile and link, and it must
# point into the prefix it was installed to (not the one the build was configured with).
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB_RECURSE pc_files "${WORK_DIR}/prefix/*/labsync.pc")
list(LENGTH pc_files pc_count)
if(NOT pc_count EQUAL 1)
  message(FATAL_ERROR "expected one installed labsync.pc under ${WORK_DIR}/prefix, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs labsync RESULT_VARIABLE rc OUTPUT_VARIABLE pc_flags
                ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs labsync failed (${rc}): ${err}")
endif()
message(STATUS "pkg-config labsync: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
set(sanitize_cxx "")
if(SANITIZE)
  set(sanitize_cxx "-fsanitize=${SANITIZE}")
endif()
step(${CXX} -std=c++20 -O1 ${sanitize_cxx} "${SOURCE_DIR}/main.cpp" -o "${WORK_DIR}/pc-consumer" ${pc_flags})
step("${WORK_DIR}/pc-consumer" "${WORK_DIR}/pc-run")
