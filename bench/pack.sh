#!/usr/bin/env bash
# Compares `syncd pack` (tar + zstd + sha256 of every member + sha256 of the archive, one pass, one
# process) with `tar -cf - . | zstd -3 -T0 > out` (no hashing at all) on the same run, both
# reading from a warm page cache and writing to the same directory. Goal: syncd pack wall time
# <= 1.0 x the tar | zstd pipeline.
#
#   bench/pack.sh [RUN_DIR] [REPEATS]     time both alternately, print medians and the ratio
#   bench/pack.sh --baseline RUN_DIR OUT  run only the tar | zstd pipeline (for external timers)
#
# SYNCD (env) is the syncd binary; default build-archiver/apps/syncd/syncd, else build/apps/syncd/syncd.
# OUT_DIR (env) is where both archives go (default: a fresh directory under /tmp, removed after).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

baseline() { (cd "$1" && tar -cf - . | zstd -3 -T0 -q -f -o "$2"); }

if [[ "${1:-}" == "--baseline" ]]; then
    baseline "$2" "$3"
    exit 0
fi

run_dir="${1:-/tmp/benchdata/mixed/run-0001}"
repeats="${2:-5}"
syncd="${SYNCD:-}"
if [[ -z "$syncd" ]]; then
    for c in "$here/build-archiver/apps/syncd/syncd" "$here/build/apps/syncd/syncd"; do
        [[ -x "$c" ]] && syncd="$c" && break
    done
fi
[[ -x "$syncd" ]] || { echo "syncd binary not found; set SYNCD" >&2; exit 2; }
[[ -d "$run_dir" ]] || { echo "no run directory $run_dir" >&2; exit 2; }
out_dir="${OUT_DIR:-$(mktemp -d /tmp/labsync-pack-bench.XXXXXX)}"
[[ -n "${OUT_DIR:-}" ]] || trap 'rm -rf "$out_dir"' EXIT

now_ns() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bytes=$(find "$run_dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
files=$(find "$run_dir" -type f | wc -l)
echo "run: $run_dir ($files files, $bytes bytes), $repeats runs each, alternating, warm cache"

# Warm-up: both read the whole run once.
"$syncd" pack --allow-findings "$run_dir" "$out_dir/syncd.tar.zst" >/dev/null
baseline "$run_dir" "$out_dir/tar.tar.zst"

ours=() theirs=()
for ((i = 0; i < repeats; i++)); do
    rm -f "$out_dir/syncd.tar.zst" "$out_dir/tar.tar.zst"
    t0=$(now_ns); "$syncd" pack --allow-findings "$run_dir" "$out_dir/syncd.tar.zst" >/dev/null; t1=$(now_ns)
    baseline "$run_dir" "$out_dir/tar.tar.zst"; t2=$(now_ns)
    ours+=($((t1 - t0))) theirs+=($((t2 - t1)))
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
awk -v o="$m_ours" -v t="$m_theirs" -v b="$bytes" \
    -v so="$(stat -c %s "$out_dir/syncd.tar.zst")" -v st="$(stat -c %s "$out_dir/tar.tar.zst")" 'BEGIN {
    printf "syncd pack (hashing)  median %.3f s  %.0f MB/s  archive %d bytes\n", o / 1e9, b / (o / 1e9) / 1e6, so
    printf "tar | zstd -3 -T0     median %.3f s  %.0f MB/s  archive %d bytes\n", t / 1e9, b / (t / 1e9) / 1e6, st
    printf "syncd / tar|zstd wall: %.2f x (goal <= 1.0 x)\n", o / t
}'
