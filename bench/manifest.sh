#!/usr/bin/env bash
# Compares `syncd manifest` with two parallel `openssl dgst -sha256` streams over the same files
# (the file list split into two halves of about equal bytes), both reading from the page cache.
# Goal: syncd manifest throughput >= 80 % of the openssl pair.
#
#   bench/manifest.sh [RUN_DIR] [REPEATS]      time both, print medians and the ratio
#   bench/manifest.sh --baseline RUN_DIR       run only the openssl pair (for external timers)
#
# SYNCD (env) is the syncd binary; default build-verifier/apps/syncd/syncd, else build/apps/syncd/syncd.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

baseline() {
    local dir="$1" list
    list="$(mktemp -d)"
    # Sorted by size, then dealt alternately: both halves get about the same number of bytes.
    (cd "$dir" && find . -type f -printf '%s\t%P\n' | sort -n | cut -f2- |
        awk -v a="$list/a" -v b="$list/b" '{ printf "%s%c", $0, 0 > ((NR % 2) ? a : b) }')
    (cd "$dir" && xargs -0 -r openssl dgst -sha256 <"$list/a" >/dev/null) &
    (cd "$dir" && xargs -0 -r openssl dgst -sha256 <"$list/b" >/dev/null) &
    wait
    rm -rf "$list"
}

if [[ "${1:-}" == "--baseline" ]]; then
    baseline "$2"
    exit 0
fi

run_dir="${1:-/tmp/benchdata/mixed/run-0001}"
repeats="${2:-5}"
syncd="${SYNCD:-}"
if [[ -z "$syncd" ]]; then
    for c in "$here/build-verifier/apps/syncd/syncd" "$here/build/apps/syncd/syncd"; do
        [[ -x "$c" ]] && syncd="$c" && break
    done
fi
[[ -x "$syncd" ]] || { echo "syncd binary not found; set SYNCD" >&2; exit 2; }
[[ -d "$run_dir" ]] || { echo "no run directory $run_dir" >&2; exit 2; }

now_ns() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bytes=$(find "$run_dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
files=$(find "$run_dir" -type f | wc -l)
echo "run: $run_dir ($files files, $bytes bytes), $repeats runs each, alternating, warm cache"

# Warm-up: both read the whole run once so the page cache is equally warm for both.
"$syncd" manifest --allow-findings "$run_dir" >/dev/null
baseline "$run_dir"

ours=() theirs=()
for ((i = 0; i < repeats; i++)); do
    t0=$(now_ns); "$syncd" manifest --allow-findings "$run_dir" >/dev/null; t1=$(now_ns)
    baseline "$run_dir"; t2=$(now_ns)
    ours+=($((t1 - t0))) theirs+=($((t2 - t1)))
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
awk -v o="$m_ours" -v t="$m_theirs" -v b="$bytes" 'BEGIN {
    printf "syncd manifest        median %.3f s  %.0f MB/s\n", o / 1e9, b / (o / 1e9) / 1e6
    printf "2 x openssl dgst      median %.3f s  %.0f MB/s\n", t / 1e9, b / (t / 1e9) / 1e6
    printf "syncd / openssl throughput: %.0f %% (goal >= 80 %%)\n", 100 * t / o
}'
