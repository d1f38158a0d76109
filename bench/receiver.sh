#!/usr/bin/env bash
# bench/receiver.sh — one large PUT with curl into syncd-receiver (member check off and on)
# against the same PUT into nginx (WebDAV PUT, otherwise its default settings).
#
#   bench/receiver.sh [ARCHIVE] [RUNS]
#
# ARCHIVE defaults to $WORK/mixed.tar.zst, made with `syncd pack` from /tmp/benchdata/mixed/run-0001
# (SYNCD=path/to/syncd; tar+zstd when syncd has no pack). RECEIVER=path/to/syncd-receiver.
# Installs nginx with apt-get if missing. Prints the median wall time of RUNS (default 5) PUTs each,
# interleaved (receiver off, receiver on, nginx, …) so drift hits all three alike, and the ratios.
# The receiver hashes, checks (when on), fsyncs the file and directory; nginx spools the body to
# its temp dir and renames it, without fsync. BASELINE=path/to/another/syncd-receiver adds a
# fourth contender in the same interleaving (member check on), e.g. a build before a change;
# BASELINE_ARGS are its extra options (e.g. BASELINE=$RECEIVER BASELINE_ARGS="--check-threads 2").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/labsync-receiver-bench}
RUNS=${2:-5}
RECEIVER=${RECEIVER:-$(ls "$ROOT"/build*/apps/syncd-receiver/syncd-receiver 2>/dev/null | head -1)}
SYNCD=${SYNCD:-$(command -v syncd || ls "$ROOT"/build*/apps/syncd/syncd 2>/dev/null | head -1 || true)}
DATA=${DATA:-/tmp/benchdata/mixed/run-0001}
mkdir -p "$WORK"
ARCHIVE=${1:-$WORK/mixed.tar.zst}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

[ -x "$RECEIVER" ] || { echo "no syncd-receiver binary (set RECEIVER=)" >&2; exit 2; }
if [ ! -s "$ARCHIVE" ]; then
  if [ -n "$SYNCD" ] && "$SYNCD" pack --help >/dev/null 2>&1; then
    "$SYNCD" pack "$DATA" "$ARCHIVE" >/dev/null
  else
    (cd "$DATA" && tar -cf - . | zstd -q -3 -T2 -c > "$ARCHIVE")
  fi
fi
SHA=$(sha256sum "$ARCHIVE" | cut -c1-64)
BYTES=$(stat -c %s "$ARCHIVE")
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null

# --- syncd-receiver, twice (member check off / on), each with its own store on the same fs
start_receiver() { # name extra-args...
  local name=$1; shift
  local bin=$RECEIVER
  [ "$name" = base ] && bin=$BASELINE
  rm -rf "$WORK/$name"; mkdir -p "$WORK/$name"
  printf 'bench-token-0123456789abcdef bench\n' > "$WORK/tokens"
  chmod 600 "$WORK/tokens"
  "$bin" --listen 127.0.0.1:0 --store "$WORK/$name/store" --tokens "$WORK/tokens" "$@" \
    > "$WORK/$name/out" 2> "$WORK/$name/err" &
  echo $! > "$WORK/$name/pid"  # start_receiver runs in $(...): PIDS+= would not reach the parent
  for _ in $(seq 100); do grep -q '^listening on' "$WORK/$name/out" && break; sleep 0.05; done
  sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/$name/out"
}
PORT_OFF=$(start_receiver off --no-member-check)
PORT_ON=$(start_receiver on)
PIDS+=("$(cat "$WORK/off/pid")" "$(cat "$WORK/on/pid")")
BASELINE=${BASELINE:-}
if [ -n "$BASELINE" ]; then
  PORT_BASE=$(start_receiver base ${BASELINE_ARGS:-})
  PIDS+=("$(cat "$WORK/base/pid")")
fi

# --- nginx: default settings plus the WebDAV PUT the test needs
NGX=$WORK/nginx
rm -rf "$NGX"; mkdir -p "$NGX/store" "$NGX/logs"
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$NGX/nginx.conf" <<CONF
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events {}
http {
  access_log off;
  client_body_temp_path $NGX/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGX/store;
    location / { dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
CONF
chown -R nobody:nogroup "$NGX/store" 2>/dev/null || true
/usr/sbin/nginx -c "$NGX/nginx.conf" -p "$NGX" -e "$NGX/logs/error.log"
for _ in $(seq 50); do [ -s "$NGX/nginx.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$NGX/nginx.pid")")

put_receiver() { # port store
  rm -f "$2"/bench/run.tar.zst "$2"/bench/run.json
  curl -sS -f -o /dev/null -T "$ARCHIVE" -H "X-Content-SHA256: $SHA" \
    -H "Authorization: Bearer bench-token-0123456789abcdef" "http://127.0.0.1:$1/v1/runs/bench/run"
}
put_nginx() {
  rm -f "$NGX/store/run.tar.zst"
  curl -sS -f -o /dev/null -T "$ARCHIVE" "http://127.0.0.1:$NGINX_PORT/run.tar.zst"
}
ms() { local t0 t1; t0=$(date +%s%N); "$@"; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

cat "$ARCHIVE" > /dev/null   # warm the page cache
put_receiver "$PORT_OFF" "$WORK/off/store"; put_receiver "$PORT_ON" "$WORK/on/store"; put_nginx  # warm-up
: > "$WORK/off.ms"; : > "$WORK/on.ms"; : > "$WORK/nginx.ms"; : > "$WORK/base.ms"
[ -n "$BASELINE" ] && put_receiver "$PORT_BASE" "$WORK/base/store"
for _ in $(seq "$RUNS"); do
  ms put_receiver "$PORT_OFF" "$WORK/off/store" >> "$WORK/off.ms"
  ms put_receiver "$PORT_ON" "$WORK/on/store" >> "$WORK/on.ms"
  [ -n "$BASELINE" ] && ms put_receiver "$PORT_BASE" "$WORK/base/store" >> "$WORK/base.ms"
  ms put_nginx >> "$WORK/nginx.ms"
done
cmp -s "$ARCHIVE" "$WORK/on/store/bench/run.tar.zst" || { echo "stored archive differs" >&2; exit 1; }
OFF=$(median < "$WORK/off.ms"); ON=$(median < "$WORK/on.ms"); NG=$(median < "$WORK/nginx.ms")
echo "archive: $ARCHIVE ($BYTES bytes), $RUNS runs each, median wall ms"
printf 'syncd-receiver --no-member-check  %6s ms  %.2fx nginx\n' "$OFF" "$(echo "$OFF / $NG" | bc -l)"
printf 'syncd-receiver (member check)     %6s ms  %.2fx nginx\n' "$ON" "$(echo "$ON / $NG" | bc -l)"
if [ -n "$BASELINE" ]; then
  BASE=$(median < "$WORK/base.ms")
  printf 'BASELINE (member check)           %6s ms  %.2fx nginx\n' "$BASE" "$(echo "$BASE / $NG" | bc -l)"
fi
printf 'nginx (dav PUT)                   %6s ms\n' "$NG"
echo "per run (ms): off $(paste -sd' ' "$WORK/off.ms") | on $(paste -sd' ' "$WORK/on.ms") | nginx $(paste -sd' ' "$WORK/nginx.ms")${BASELINE:+ | baseline $(paste -sd' ' "$WORK/base.ms")}"
