#!/usr/bin/env bash
# ship-daemon.sh SYNCD CONFIG STATE_DIR NRUNS — the timed part of a labsync end-to-end measurement:
# starts `syncd run --config CONFIG` on runs that are already in place (each with its marker),
# waits until NRUNS jobs are verified (shipped + proven on the remote) by polling jobs.db, then
# stops the daemon with SIGTERM. Exits 1 if a job fails or is blocked, or after BENCH_TIMEOUT s.
set -euo pipefail
syncd=$1 config=$2 state=$3 n=$4
"$syncd" run --config "$config" --log-level warning > "$state/syncd.out" 2> "$state/syncd.err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
deadline=$(( $(date +%s) + ${BENCH_TIMEOUT:-900} ))
rc=0
while :; do
  if [ -f "$state/jobs.db" ]; then
    read -r done bad < <(sqlite3 -readonly -separator ' ' "$state/jobs.db" \
      "SELECT sum(state IN ('verified','cleanup_eligible','cleaned')), sum(state IN ('failed','blocked_by_validation')) FROM jobs;" 2>/dev/null || echo "0 0")
    [ "${bad:-0}" != "" ] && [ "${bad:-0}" -gt 0 ] 2>/dev/null && { echo "ship-daemon: $bad job(s) failed or blocked" >&2; sqlite3 "$state/jobs.db" "SELECT run_id,state,last_error FROM jobs WHERE state IN ('failed','blocked_by_validation') LIMIT 5;" >&2; rc=1; break; }
    [ "${done:-0}" != "" ] && [ "${done:-0}" -ge "$n" ] 2>/dev/null && break
  fi
  kill -0 $pid 2>/dev/null || { echo "ship-daemon: syncd exited: $(tail -3 "$state/syncd.err")" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "ship-daemon: timeout" >&2; rc=1; break; }
  sleep 0.05
done
kill -TERM $pid; wait $pid || true
trap - EXIT
exit $rc
