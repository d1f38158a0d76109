#!/usr/bin/env bash
# bench/receiver-rss.sh — N concurrent PUTs of one archive into one syncd-receiver (member check
# on), sampling the receiver's RSS: prints its RSS before, its peak (VmHWM), and
# (peak - before) / N, the memory each upload in flight costs.
#
#   bench/receiver-rss.sh [N] [ARCHIVE]
#
# N defaults to 50. ARCHIVE defaults to $WORK/rss.tar.zst, packed (`syncd pack`) from the first
# 200 MB of /tmp/benchdata/mixed/run-0001 (12 × 12 MiB data + 14 × 4 MiB CSV + meta.json and
# done.marker). RECEIVER=path/to/syncd-receiver, SYNCD=path/to/syncd. Needs N × the archive size
# free on $WORK's file system (removed at the end).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/labsync-receiver-rss}
N=${1:-50}
RECEIVER=${RECEIVER:-$(ls "$ROOT"/build*/apps/syncd-receiver/syncd-receiver 2>/dev/null | head -1)}
SYNCD=${SYNCD:-$(ls "$ROOT"/build*/apps/syncd/syncd 2>/dev/null | head -1)}
DATA=${DATA:-/tmp/benchdata/mixed/run-0001}
mkdir -p "$WORK"
ARCHIVE=${2:-$WORK/rss.tar.zst}
PID=
cleanup() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK/store"
}
trap cleanup EXIT

if [ ! -s "$ARCHIVE" ]; then
  rm -rf "$WORK/run"; mkdir -p "$WORK/run"
  (cd "$DATA" && cp meta.json done.marker $(ls data-*.bin | head -12) $(ls log-*.csv | head -14) "$WORK/run/")
  "$SYNCD" pack "$WORK/run" "$ARCHIVE" >/dev/null
  rm -rf "$WORK/run"
fi
SHA=$(sha256sum "$ARCHIVE" | cut -c1-64)
BYTES=$(stat -c %s "$ARCHIVE")

rm -rf "$WORK/store"
printf 'bench-token-0123456789abcdef bench\n' > "$WORK/tokens"; chmod 600 "$WORK/tokens"
"$RECEIVER" --listen 127.0.0.1:0 --store "$WORK/store" --tokens "$WORK/tokens" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$WORK/out" && break; sleep 0.05; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/out")
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }
BEFORE=$(kb VmRSS)

CURLS=()
for i in $(seq -w "$N"); do
  curl -sS -f -o /dev/null -w '%{http_code}\n' -T "$ARCHIVE" -H "X-Content-SHA256: $SHA" \
    -H "Authorization: Bearer bench-token-0123456789abcdef" \
    "http://127.0.0.1:$PORT/v1/runs/bench/run-$i" > "$WORK/code-$i" &
  CURLS+=($!)
done
t0=$(date +%s%N)
FAILED=0
for p in "${CURLS[@]}"; do wait "$p" || FAILED=$((FAILED + 1)); done
t1=$(date +%s%N)
PEAK=$(kb VmHWM)
CREATED=$(cat "$WORK"/code-* | grep -c '^201$' || true)
echo "archive: $ARCHIVE ($BYTES bytes), $N concurrent PUTs, member check on, $(((t1 - t0) / 1000000)) ms"
echo "201 Created: $CREATED of $N (curl failures: $FAILED)"
echo "receiver RSS before: $((BEFORE / 1024)) MiB, peak (VmHWM): $((PEAK / 1024)) MiB"
awk -v b="$BEFORE" -v p="$PEAK" -v n="$N" 'BEGIN {printf "per upload: %.2f MiB ((peak - before) / %d)\n", (p - b) / 1024 / n, n}'
[ "$CREATED" -eq "$N" ]
