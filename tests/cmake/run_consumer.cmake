# ctest driver: install the build tree into a temporary prefix, then configure, build and run
# tests/cmake/consumer against it with find_package(labsync), and build and run the same program
# with nothing but the flags `pkg-config --cflags --libs labsync` gives (the same compile
# definitions as the CMake targets). Then build examples/acquisition_server as a project of its
# own against the prefix and let it ship runs through rclone to a local directory, and check that
# the public engine header declares neither the job store nor the engine's private state.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DEXAMPLE_DIR=... -DWORK_DIR=... -DCXX=... -P run_consumer.cmake
cmake_policy(SET CMP0057 NEW)  # if(... IN_LIST ...) in script mode
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

# The definitions of the exported CMake targets are all in the .pc file's Cflags.
file(GLOB_RECURSE target_files "${WORK_DIR}/prefix/*/labsyncTargets.cmake")
file(READ "${target_files}" targets_text)
string(REPLACE ";" "|" targets_text "${targets_text}")  # a value's ';' would split the matches
string(REGEX MATCHALL "INTERFACE_COMPILE_DEFINITIONS \"[^\"]*\"" define_lines "${targets_text}")
set(cmake_defines "")
foreach(line IN LISTS define_lines)
  string(REGEX REPLACE "INTERFACE_COMPILE_DEFINITIONS \"([^\"]*)\"" "\\1" defs "${line}")
  string(REPLACE "|" ";" defs "${defs}")
  list(APPEND cmake_defines ${defs})
endforeach()
if(NOT cmake_defines)
  message(FATAL_ERROR "no INTERFACE_COMPILE_DEFINITIONS in ${target_files}")
endif()
foreach(def IN LISTS cmake_defines)
  if(NOT "-D${def}" IN_LIST pc_flags)
    message(FATAL_ERROR "labsync.pc lacks -D${def} (the CMake targets define it): ${pc_flags}")
  endif()
endforeach()

# The public engine header: no job_store, and engine::impl is private.
file(WRITE "${WORK_DIR}/probe_store.cpp" "#include <labsync/engine/engine.hpp>\nlabsync::queue::job_store* p = nullptr;\n")
file(WRITE "${WORK_DIR}/probe_impl.cpp" "#include <labsync/engine/engine.hpp>\nusing i = labsync::engine::engine::impl;\n")
foreach(probe IN ITEMS store impl)
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only "${WORK_DIR}/probe_${probe}.cpp" ${pc_flags}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "engine.hpp exposes what probe_${probe}.cpp names")
  endif()
  if(NOT err MATCHES "job_store.* (does not name a type|has not been declared|is not a member)|impl.* is private")
    message(FATAL_ERROR "probe_${probe}.cpp failed for another reason:\n${err}")
  endif()
endforeach()

# examples/acquisition_server, standalone against the prefix: 3 runs through rclone into a local
# directory, verified there and cleaned locally.
step(${CMAKE_COMMAND} -S "${EXAMPLE_DIR}" -B "${WORK_DIR}/example-build" -G Ninja -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" ${sanitize_flags})
step(${CMAKE_COMMAND} --build "${WORK_DIR}/example-build" -j2)
set(site "${WORK_DIR}/site")
file(MAKE_DIRECTORY "${site}/runs" "${site}/remote")
file(WRITE "${site}/rclone.conf" "[archive]\ntype = local\n")
file(WRITE "${site}/syncd.toml" "[global]
state_dir = \"state\"
cleanup_interval = \"1s\"
[global.backoff]
base = \"200ms\"
cap = \"1s\"
[equipment.lab-microscope]
runs_root = \"runs\"
settle = \"0s\"
retention = \"0s\"
[equipment.lab-microscope.gate]
meta_json_required = true
[equipment.lab-microscope.transport]
kind = \"rclone\"
remote = \"archive:${site}/remote\"
config_file = \"rclone.conf\"
")
execute_process(COMMAND "${WORK_DIR}/example-build/acquisition_server" "${site}/syncd.toml" 3
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 150)
if(NOT rc EQUAL 0 OR NOT out MATCHES "3 of 3 runs shipped, verified and cleaned")
  message(FATAL_ERROR "the installed-package acquisition_server failed (${rc}):\n${out}\n${err}")
endif()
foreach(run IN ITEMS run-001 run-002 run-003)
  if(EXISTS "${site}/runs/${run}" OR NOT EXISTS "${site}/remote/lab-microscope/${run}/meta.json")
    message(FATAL_ERROR "${run}: not moved from ${site}/runs to ${site}/remote/lab-microscope")
  endif()
endforeach()
message(STATUS "${out}")
