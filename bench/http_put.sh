#!/usr/bin/env bash
# End-to-end shipping of one run into a local syncd-receiver: `syncd put --level 3` (the run packed
# tar+zstd with the sha in the same pass and streamed as a resumable upload, POST + PATCH parts,
# receiver hash + member check + fsync per part, then a GET ?verify=1 probe: a re-hash of the
# stored archive that `syncd run` does not do) against the seed pipeline done with public tools
# (tar | zstd -3 -T0 > outbox/RUN.tar.zst.partial; sha256sum; mv; curl -T ... PUT; rm).
# Both ship to the same receiver, alternating, with a fresh equipment name per run (every PUT is
# a 201 that stores the full archive); the store is emptied between runs.
#
#   bench/http_put.sh [RUN_DIR] [REPEATS]       time both, print medians and the ratio
#   bench/http_put.sh --serve STORE             start a receiver (prints its URL) for external timers
#   WITH_RSYNC=1 bench/http_put.sh              also time `rsync -a -e ssh` of the same run into a
#                                               private sshd (bench/rsync.sh setup / one bare-mixed;
#                                               needs root; DATA = the bench data root, mixed only)
# The issue-13 comparison (`syncd run` until verified vs rsync, what each side does) is
# bench/stream.sh f.
#
# SYNCD / RECEIVER (env): binaries; default build-httpput/, else build/.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
pick() {
    local var="$1" rel="$2" c
    if [[ -n "${!var:-}" ]]; then echo "${!var}"; return; fi
    for c in "$here/build-httpput/$rel" "$here/build/$rel"; do
        [[ -x "$c" ]] && { echo "$c"; return; }
    done
    echo "binary $rel not found; set $var" >&2
    exit 2
}
syncd="$(pick SYNCD apps/syncd/syncd)"
receiver="$(pick RECEIVER apps/syncd-receiver/syncd-receiver)"

work="$(mktemp -d /var/tmp/labsync-bench-http.XXXXXX)"
chmod 755 "$work"  # the private sshd user of bench/rsync.sh writes below it
rx_pid=""
with_rsync="${WITH_RSYNC:-0}"
cleanup() {
    [[ -n "$rx_pid" ]] && kill "$rx_pid" 2>/dev/null && wait "$rx_pid" 2>/dev/null
    [[ "$with_rsync" == 1 && -f "$work/rsync/port" ]] && STATE="$work/rsync" "$here/bench/rsync.sh" teardown
    rm -rf "$work"
}
trap cleanup EXIT

start_receiver() {
    local store="$1"
    mkdir -p "$store"
    "$receiver" --listen 127.0.0.1:0 --store "$store" --insecure-no-auth >"$work/rx.out" 2>"$work/rx.err" &
    rx_pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$work/rx.out" 2>/dev/null && break
        sleep 0.05
    done
    url="http://$(grep -o 'listening on [^ ]*' "$work/rx.out" | head -1 | cut -d' ' -f3)"
    [[ "$url" != "http://" ]] || { echo "receiver did not start: $(cat "$work/rx.err")" >&2; exit 1; }
}

if [[ "${1:-}" == "--serve" ]]; then
    start_receiver "$2"
    echo "$url"
    wait "$rx_pid"
    exit 0
fi

run_dir="$(cd "${1:-/tmp/benchdata/mixed/run-0001}" && pwd)"
repeats="${2:-3}"
run="$(basename "$run_dir")"
parent="$(dirname "$run_dir")"
start_receiver "$work/store"

ours() {  # $1 = equipment
    "$syncd" put --url "$url" --equipment "$1" --outbox "$work/outbox" --level 3 "$run_dir" >/dev/null
    rm -f "$work/outbox/$1/$run.tar.zst"
}
seed() {  # $1 = equipment
    local partial="$work/seed/$run.tar.zst.partial" final="$work/seed/$run.tar.zst" sha
    mkdir -p "$work/seed"
    tar -cf - -C "$parent" "$run" | zstd -q -T0 -3 >"$partial"
    sha=$(sha256sum "$partial" | cut -c1-64)
    mv "$partial" "$final"
    curl -sS -f -o /dev/null -T "$final" -H "X-Content-SHA256: $sha" "$url/v1/runs/$1/$run"
    rm -f "$final"
}

rsync_one() { STATE="$work/rsync" DATA="$(dirname "$parent")" "$here/bench/rsync.sh" one bare-mixed >/dev/null; }

now_ns() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bytes=$(find "$run_dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "run: $run_dir ($bytes bytes), receiver $url, $repeats runs each, alternating, warm cache"

if [[ "$with_rsync" == 1 ]]; then
    mkdir -p "$work/rsync" && STATE="$work/rsync" "$here/bench/rsync.sh" setup
    rsync_one
fi
ours warmup-a; seed warmup-b; rm -rf "${work:?}/store/"*
a=() b=() c=()
for ((i = 0; i < repeats; i++)); do
    t0=$(now_ns); ours "a$i"; t1=$(now_ns); seed "b$i"; t2=$(now_ns)
    a+=($((t1 - t0))) b+=($((t2 - t1)))
    rm -rf "${work:?}/store/"*
    if [[ "$with_rsync" == 1 ]]; then
        t0=$(now_ns); rsync_one; t1=$(now_ns)
        c+=($((t1 - t0)))
    fi
done
m_a=$(printf '%s\n' "${a[@]}" | median)
m_b=$(printf '%s\n' "${b[@]}" | median)
awk -v a="$m_a" -v b="$m_b" -v n="$bytes" 'BEGIN {
    printf "syncd put (pack+PUT+verify)   median %.3f s  %.0f MB/s of run data\n", a / 1e9, n / (a / 1e9) / 1e6
    printf "seed tar|zstd, sha256sum, curl median %.3f s  %.0f MB/s of run data\n", b / 1e9, n / (b / 1e9) / 1e6
    printf "syncd put / seed: %.2f\n", a / b
}'
if [[ "$with_rsync" == 1 ]]; then
    m_c=$(printf '%s\n' "${c[@]}" | median)
    awk -v a="$m_a" -v c="$m_c" -v n="$bytes" 'BEGIN {
        printf "rsync -a -e ssh (no fsync)     median %.3f s  %.0f MB/s of run data\n", c / 1e9, n / (c / 1e9) / 1e6
        printf "syncd put / rsync: %.2f\n", a / c
    }'
fi
