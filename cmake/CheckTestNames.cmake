# Run after each test executable links (tests/CMakeLists.txt): fail the build when a test case's
# name holds a ';'. ctest splits such a name into two tests that match no test case, and Catch2
# reports a filter that matches nothing as passed, so the case would silently never run.
# (Catch2 v2 exits with the number of names listed, so only the output is judged.)
execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-names-only OUTPUT_VARIABLE names)
string(FIND "${names}" ";" at)
if(NOT at EQUAL -1)
  string(REGEX MATCH "[^\n]*;[^\n]*" bad "${names}")
  message(FATAL_ERROR "${TEST_EXECUTABLE}: test case name \"${bad}\" contains ';', which ctest "
                      "splits into tests that never run; use ',' or ':' instead")
endif()
