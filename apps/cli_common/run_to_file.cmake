# Runs PROGRAM with ARGUMENT and writes its stdout to OUTPUT (a generated man page or completion
# script; apps/cli_common/CMakeLists.txt, labsync_cli_docs).
execute_process(COMMAND "${PROGRAM}" "${ARGUMENT}" OUTPUT_FILE "${OUTPUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} ${ARGUMENT} failed (${rc})")
endif()
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
