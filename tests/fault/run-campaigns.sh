#!/usr/bin/env bash
# Long form of the fault campaigns (docs/reliability.md): runs the fault test executables of a
# build with many iterations. Usage: tests/fault/run-campaigns.sh [BUILD_DIR] [ITERATIONS] [SEED]
# e.g. tests/fault/run-campaigns.sh build-proof 1000   (the syncd kill -9 campaign: ~12 min / 1,000)
set -euo pipefail
build=${1:-build}
export LABSYNC_FAULT_ITERATIONS=${2:-1000}
export LABSYNC_FAULT_SEED=${3:-$RANDOM}
echo "fault campaigns: ${LABSYNC_FAULT_ITERATIONS} iterations, seed ${LABSYNC_FAULT_SEED}, build ${build}"
status=0
"$build/tests/fault/fault_http_put_tests" 2>&1 | grep -E '^fault proxy|test cases|FAILED' || status=1
"$build/tests/fault/fault_kill_tests" 2>&1 | grep -E 'campaign:|disk full:|contention:|test cases|FAILED' || status=1
# kill -9 of syncd-receiver during multi-part resumable uploads (HEAD, resume, stored once).
"$build/tests/fault/fault_resumable_tests" 2>&1 | grep -E 'campaign:|test cases|FAILED' || status=1
# kill -9 of syncd, then of syncd-receiver, during syncd's multi-part uploads (kills aimed mid-upload
# from the store; stored once, nothing partial, deleted after verification, cut uploads resumed).
"$build/tests/fault/fault_syncd_multipart_tests" 2>&1 | grep -E 'campaign:|test cases|FAILED' || status=1
# Load: ITERATIONS uploads from 20 concurrent clients with 300 hostile idle connections.
"$build/tests/fault/fault_load_tests" 2>&1 | grep -E 'campaign:|test cases|FAILED' || status=1
exit $status
