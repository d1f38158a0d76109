#!/usr/bin/env bash
# bench/compression.sh — the compression trade-off of http_put's `zstd_level`: for each level
# (default "1 3 9 0 adaptive") and data set, `syncd pack` wall and CPU time, archive size and
# ratio, then end to end: the archive PUT with curl into syncd-receiver (member check on), and
# pack + PUT together.
#
#   bench/compression.sh [RUN_DIR...]
#
# RUN_DIRs default to /tmp/benchdata/mixed/run-0001 (bench/make-datasets.sh) and an incompressible
# run of NOISE_MIB (default 512) MiB of /dev/urandom made in $WORK/noise/run-0001.
# SYNCD=path/to/syncd, RECEIVER=path/to/syncd-receiver, LEVELS="...", RUNS (default 3: medians).
# Warm page cache; the receiver on loopback, plain HTTP (the link is not the bottleneck here: see
# the "link" column for the time the archive would take at LINK_MBPS, default 1000 Mbit/s).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/labsync-compression-bench}
SYNCD=${SYNCD:-$(ls "$ROOT"/build*/apps/syncd/syncd 2>/dev/null | head -1)}
RECEIVER=${RECEIVER:-$(ls "$ROOT"/build*/apps/syncd-receiver/syncd-receiver 2>/dev/null | head -1)}
LEVELS=${LEVELS:-"1 3 9 0 adaptive"}
RUNS=${RUNS:-3}
LINK_MBPS=${LINK_MBPS:-1000}
NOISE_MIB=${NOISE_MIB:-512}
mkdir -p "$WORK"
PID=
cleanup() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; }
trap cleanup EXIT

if [ $# -eq 0 ]; then
  if [ ! -s "$WORK/noise/run-0001/noise.bin" ]; then
    mkdir -p "$WORK/noise/run-0001"
    head -c "$((NOISE_MIB << 20))" /dev/urandom > "$WORK/noise/run-0001/noise.bin"
  fi
  set -- /tmp/benchdata/mixed/run-0001 "$WORK/noise/run-0001"
fi

rm -rf "$WORK/store"; mkdir -p "$WORK/store"
printf 'bench-token-0123456789abcdef bench\n' > "$WORK/tokens"; chmod 600 "$WORK/tokens"
"$RECEIVER" --listen 127.0.0.1:0 --store "$WORK/store" --tokens "$WORK/tokens" > "$WORK/rx.out" 2> "$WORK/rx.err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$WORK/rx.out" && break; sleep 0.05; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/rx.out")

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
put() { # archive -> prints ms
  local sha t0 t1
  sha=$(sha256sum "$1" | cut -c1-64)
  rm -rf "$WORK/store/bench"
  t0=$(date +%s%N)
  curl -sS -f -o /dev/null -T "$1" -H "X-Content-SHA256: $sha" \
    -H "Authorization: Bearer bench-token-0123456789abcdef" "http://127.0.0.1:$PORT/v1/runs/bench/run"
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

printf '%-28s %-9s %12s %7s %9s %9s %8s %9s %9s %9s\n' data level bytes ratio pack_ms pack_cpu MB/s put_ms e2e_ms link_ms
for dir in "$@"; do
  input=$(du -sb "$dir" | cut -f1)
  cat "$dir"/* > /dev/null  # warm the page cache
  for level in $LEVELS; do
    : > "$WORK/pack.ms"; : > "$WORK/cpu.s"; : > "$WORK/put.ms"
    for _ in $(seq "$RUNS"); do
      rm -f "$WORK/a.tar.zst"
      /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$SYNCD" pack --level "$level" "$dir" "$WORK/a.tar.zst" > /dev/null
      read -r wall user sys < "$WORK/time"
      echo "$wall * 1000" | bc | cut -d. -f1 >> "$WORK/pack.ms"
      echo "$user + $sys" | bc >> "$WORK/cpu.s"
      put "$WORK/a.tar.zst" >> "$WORK/put.ms"
    done
    bytes=$(stat -c %s "$WORK/a.tar.zst")
    pack_ms=$(median < "$WORK/pack.ms"); put_ms=$(median < "$WORK/put.ms"); cpu=$(median < "$WORK/cpu.s")
    printf '%-28s %-9s %12s %7.3f %9s %9s %8.0f %9s %9s %9.0f\n' "$(basename "$(dirname "$dir")")/$(basename "$dir")" \
      "$level" "$bytes" "$(echo "$bytes / $input" | bc -l)" "$pack_ms" "$cpu" \
      "$(echo "$input / 1000 / $pack_ms" | bc -l)" "$put_ms" "$((pack_ms + put_ms))" \
      "$(echo "$bytes * 8 / 1000 / $LINK_MBPS" | bc -l)"
  done
done
