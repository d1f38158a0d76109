#!/usr/bin/env bash
# bench/run.sh [quick|full] — labsync against the tools labs use today, measured in one run on
# loopback, written to bench/results/<date>.md (tables, ratios, goals met / not met).
#
#   quick (≤ 15 min): datasets mixed, small, many; 3 timed runs (+1 warm-up) per measurement;
#                     bare rsync once per run on 100 of the 500 `many` runs (x5 = estimate)
#   full:             5 timed runs; zstd -19 on a 128 MiB subset; rsync per run on all 500 runs;
#                     rclone to the sftp remote as well as to a local directory
#
# Every measurement: median wall (min–max), CPU s of the command and its children, peak RSS of
# the largest process (/usr/bin/time -v; lib.sh `measure`). labsync is measured end to end through
# the daemon (`syncd run` on the runs in place until every job is verified: pack/ship/probe, the
# receiver's hash + member check + fsync included) for http_put, rsync_ssh and rclone.
# Peers: the seed pipeline (tar | zstd -3 -T0, sha256sum, mv, curl -T to nginx; bench/seed-ship.sh),
# bare rsync -a over ssh (one call, and one call per run), bare rclone copy (+ rclone check), curl
# PUT into nginx (WebDAV) and into syncd-receiver. Also: `syncd manifest` / `syncd pack` against
# openssl / tar|zstd, memory on a 1,000,000-file run, idle CPU of `syncd run` with 50 equipment.
#
# Env: SYNCD, RECEIVER (binaries; default build/, the Makefile's build dir), BENCH_DATA (/tmp/benchdata),
# BENCH_WORK (/tmp/labsync-bench), MEM_FILES (1000000), IDLE_SECONDS (60). Needs root (sshd user).
# Servers: syncd-receiver x2 (port 0), nginx 127.0.0.1:18080, sshd 127.0.0.1:2222; all stopped by PID.
set -euo pipefail
MODE=${1:-quick}
case $MODE in quick | full) ;; *) echo "usage: bench/run.sh [quick|full]" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export BENCH_WORK=${BENCH_WORK:-/tmp/labsync-bench}
export BENCH_RESULTS=$BENCH_WORK/tsv
if [ "$MODE" = full ]; then export BENCH_RUNS=${BENCH_RUNS:-5}; else export BENCH_RUNS=${BENCH_RUNS:-3}; fi
rm -rf "$BENCH_RESULTS"
source "$HERE/lib.sh"
source "$HERE/servers.sh"
pick() { local c; for c in "$@"; do [ -x "$c" ] && { echo "$c"; return; }; done; return 1; }
SYNCD=${SYNCD:-$(pick "$ROOT/build/apps/syncd/syncd")} || die "no syncd; set SYNCD"
RECEIVER=${RECEIVER:-$(pick "$ROOT/build/apps/syncd-receiver/syncd-receiver")} || die "no syncd-receiver; set RECEIVER"
MEM_FILES=${MEM_FILES:-1000000}
IDLE_SECONDS=${IDLE_SECONDS:-60}
R=$BENCH_RUNS
T0=$(date +%s)
need /usr/bin/time time; need sqlite3; need nginx; need rsync; need rclone; need zstd; need curl
ensure_datasets
trap stop_servers EXIT
trap 'stop_servers; exit 130' INT TERM
start_receiver
RX1_URL=$RX_URL RX1_STORE=$RX_STORE RX1_PID=$RX_PID
# A second receiver without the member check (the receiver goal compares both with nginx).
RX_STORE=$BENCH_WORK/rx2-store; rm -rf "$RX_STORE"; mkdir -p "$RX_STORE"
"$RECEIVER" --listen 127.0.0.1:0 --store "$RX_STORE" --insecure-no-auth --no-member-check > "$BENCH_WORK/rx2.out" 2>&1 &
RX2_PID=$!; SERVER_PIDS+=("$RX2_PID")
for _ in $(seq 100); do grep -q 'listening on' "$BENCH_WORK/rx2.out" && break; sleep 0.1; done
RX2_URL="http://$(sed -n 's/^listening on //p' "$BENCH_WORK/rx2.out" | head -1)" RX2_STORE=$RX_STORE
start_nginx
start_sshd
warm_cache "$BENCH_DATA"

# ---- labsync end to end through the daemon -------------------------------------------------
# daemon_config KIND DS N: writes $BENCH_WORK/cfg-KIND-DS.toml for runs in $BENCH_WORK/ld-KIND-DS.
daemon_config() {
  local kind=$1 ds=$2 w=$BENCH_WORK/ld-$1-$2 par=1
  [ "$ds" = many ] && par=2
  {
    printf '[global]\nstate_dir = "%s/state"\nadmin_socket = "%s/syncd.sock"\nmetrics_listen = ""\n' "$w" "$w"
    printf 'max_parallel = %d\nrescan_interval = "60s"\ncleanup_interval = "1h"\n' "$par"
    printf '[equipment.bench]\nruns_root = "%s/runs"\nsettle = "0s"\nretention = "30d"\ncleanup = false\nmax_parallel = %d\n' "$w" "$par"
    printf '[equipment.bench.transport]\nkind = "%s"\n' "$kind"
    case $kind in
      http_put) printf 'url = "%s"\nzstd_level = 3\n' "$RX1_URL" ;;
      rsync_ssh) printf 'host = "127.0.0.1"\nuser = "%s"\nport = %d\nkey_file = "%s"\nknown_hosts = "%s"\nremote_dir = "%s"\n' \
        "$SSH_USER" "$SSH_PORT" "$SSHD/id_ed25519" "$SSHD/known_hosts" "$DST/labsync-rsync-$ds" ;;
      rclone) printf 'remote = "benchlocal:%s"\nconfig_file = "%s"\n' "$DST/labsync-rclone-$ds" "$BENCH_WORK/rclone.conf" ;;
    esac
  } > "$BENCH_WORK/cfg-$kind-$ds.toml"
}
# labsync_measure KIND DS: runs of $BENCH_DATA/DS hard-linked into place (untimed), then timed.
labsync_measure() {
  local kind=$1 ds=$2 w=$BENCH_WORK/ld-$1-$2 n inb prep
  n=$(find "$BENCH_DATA/$ds" -mindepth 1 -maxdepth 1 -type d | wc -l)
  inb=$(bytes_of "$BENCH_DATA/$ds")
  daemon_config "$kind" "$ds"
  prep="rm -rf $w $RX1_STORE/bench $DST/labsync-rsync-$ds $DST/labsync-rclone-$ds; mkdir -p $w/state $w/runs;"
  prep+=" cp -al $BENCH_DATA/$ds/. $w/runs/; install -d -o $SSH_USER $DST/labsync-rsync-$ds; sync"
  measure labsync "labsync $kind" "$ds" "$inb" "$R" "$prep" \
    "$HERE/ship-daemon.sh $SYNCD $BENCH_WORK/cfg-$kind-$ds.toml $w/state $n" \
    "syncd run until all $n job(s) verified"
}

# rclone's local backend as a named remote (the driver wants "name:path" and a config file).
printf '[benchlocal]\ntype = local\n' > "$BENCH_WORK/rclone.conf"
E="-e 'ssh -F $SSHCFG'"
for ds in mixed small many; do
  inb=$(bytes_of "$BENCH_DATA/$ds")
  for kind in http_put rsync_ssh rclone; do
    # rclone driver on 500 runs takes ~50 s per pass: in quick mode once, without warm-up (≤ 15 min)
    if [ "$MODE" = quick ] && [ "$kind" = rclone ] && [ "$ds" = many ]; then
      BENCH_WARMUP=0 R=1 labsync_measure "$kind" "$ds"
    else
      labsync_measure "$kind" "$ds"
    fi
  done
  # seed pipeline, zstd -3, to nginx (the reference shipper's method with public tools)
  measure seed "seed pipeline zstd -3" "$ds" "$inb" "$R" "rm -rf $BENCH_WORK/outbox $NGX/store/v1; mkdir -p $BENCH_WORK/outbox; sync" \
    "cd $BENCH_DATA/$ds && for r in run-*; do $HERE/seed-ship.sh seed 3 $BENCH_DATA/$ds \$r $BENCH_WORK/outbox $NGINX_URL/v1/runs/$ds; done"
  d=$DST/rsync-$ds
  measure rsync "bare rsync -a over ssh, one call" "$ds" "$inb" "$R" "rm -rf $d; sync" "rsync -a $E $BENCH_DATA/$ds/ benchhost:$d/"
  d=$DST/rclone-$ds
  measure rclone "bare rclone copy (local remote)" "$ds" "$inb" "$R" "rm -rf $d; sync" "rclone copy $BENCH_DATA/$ds $d"
  measure rclone "bare rclone copy + rclone check" "$ds" "$inb" "$R" "rm -rf $d; sync" "rclone copy $BENCH_DATA/$ds $d && rclone check $BENCH_DATA/$ds $d"
  rm -rf "$DST/rsync-$ds" "$DST/rclone-$ds" "$BENCH_WORK/ld-"*"-$ds"
done

# bare rsync, one call per run without connection reuse (the rsync_ssh goal on `many`)
if [ "$MODE" = full ]; then glob='run-*' sub=many note=""; else glob='run-00[0-9]? run-0100' sub=many100 note="100 of the 500 runs; x5 = 500-run estimate"; fi
d=$DST/rsync-loop inb=$(cd "$BENCH_DATA/many" && bytes_of $glob)
BENCH_WARMUP=0 measure rsync "bare rsync -a over ssh, one call per run" "$sub" "$inb" "$R" \
  "rm -rf $d; install -d -o $SSH_USER $d; sync" "cd $BENCH_DATA/many && for r in $glob; do rsync -a $E \$r benchhost:$d/; done" "$note"
rm -rf "$d"
if [ "$MODE" = full ]; then
  d=$DST/rclone-sftp-mixed
  export RCLONE_CONFIG=$SSHD/rclone.conf; : > "$RCLONE_CONFIG"
  export RCLONE_CONFIG_BENCHSFTP_TYPE=sftp RCLONE_CONFIG_BENCHSFTP_HOST=127.0.0.1 RCLONE_CONFIG_BENCHSFTP_PORT=$SSH_PORT \
    RCLONE_CONFIG_BENCHSFTP_USER=$SSH_USER RCLONE_CONFIG_BENCHSFTP_KEY_FILE=$SSHD/id_ed25519 \
    RCLONE_CONFIG_BENCHSFTP_KNOWN_HOSTS_FILE=$SSHD/known_hosts RCLONE_CONFIG_BENCHSFTP_SHELL_TYPE=unix
  measure rclone "bare rclone copy -> sftp" mixed "$(bytes_of "$BENCH_DATA/mixed")" "$R" "rm -rf $d; sync" "rclone copy $BENCH_DATA/mixed benchsftp:$d"
  rm -rf "$d"
  # zstd -19 on a 128 MiB subset of mixed (hard links), the reference's real level
  SUB=$BENCH_WORK/mixed128; rm -rf "$SUB"; mkdir -p "$SUB/run-0001"
  for i in $(seq -f %03g 0 7); do ln "$BENCH_DATA/mixed/run-0001/data-$i.bin" "$BENCH_DATA/mixed/run-0001/log-$i.csv" "$SUB/run-0001/"; done
  measure seed "seed pipeline zstd -19" mixed128 "$(bytes_of "$SUB")" "$R" "rm -rf $BENCH_WORK/outbox $NGX/store/v1; mkdir -p $BENCH_WORK/outbox; sync" \
    "cd $SUB && $HERE/seed-ship.sh seed 19 $SUB run-0001 $BENCH_WORK/outbox $NGINX_URL/v1/runs/m128" "x8 = full mixed estimate"
  rm -rf "$SUB"
fi

# ---- components: manifest, pack, one PUT into each receiver -----------------------------------
RUN=$BENCH_DATA/mixed/run-0001 inb=$(bytes_of "$RUN")
measure manifest "syncd manifest" mixed "$inb" "$R" "" "$SYNCD manifest --allow-findings $RUN > /dev/null"
# two openssl streams over the files dealt alternately by size (bench/manifest.sh's baseline)
ls_halves="cd $RUN && find . -type f -printf '%s %P\n' | sort -n | awk '{print \$2}' > $BENCH_WORK/files.txt && awk 'NR%2' $BENCH_WORK/files.txt > $BENCH_WORK/h1 && awk '!(NR%2)' $BENCH_WORK/files.txt > $BENCH_WORK/h2"
bash -c "$ls_halves"
measure manifest "2 x openssl dgst -sha256 (halves)" mixed "$inb" "$R" "" \
  "cd $RUN && (xargs -a $BENCH_WORK/h1 openssl dgst -sha256 > /dev/null & xargs -a $BENCH_WORK/h2 openssl dgst -sha256 > /dev/null; wait)"
measure pack "syncd pack (archive + hashes, one pass)" mixed "$inb" "$R" "rm -f $BENCH_WORK/p.tar.zst" "$SYNCD pack $RUN $BENCH_WORK/p.tar.zst > /dev/null"
measure pack "tar -cf - . | zstd -3 -T0 (no hashing)" mixed "$inb" "$R" "rm -f $BENCH_WORK/t.tar.zst" "cd $RUN && tar -cf - . | zstd -3 -T0 -q -f -o $BENCH_WORK/t.tar.zst"
ARCH=$BENCH_WORK/p.tar.zst; ab=$(stat -c %s "$ARCH"); asha=$(sha256sum "$ARCH" | cut -c1-64)
for rx in "member check on|$RX1_URL|$RX1_STORE" "member check off|$RX2_URL|$RX2_STORE"; do
  IFS='|' read -r what url store <<< "$rx"
  measure receiver "curl PUT -> syncd-receiver, $what" mixed-archive "$ab" "$R" "rm -rf $store/put; sync" \
    "curl -sS -f -o /dev/null -T $ARCH -H 'X-Content-SHA256: $asha' $url/v1/runs/put/run-0001"
done
measure receiver "curl PUT -> nginx (WebDAV, default)" mixed-archive "$ab" "$R" "rm -rf $NGX/store/put; sync" \
  "curl -sS -f -o /dev/null -T $ARCH $NGINX_URL/put/run-0001"
rm -f "$BENCH_WORK"/p.tar.zst "$BENCH_WORK"/t.tar.zst
echo "receiver_peak_rss_kib	$(awk '/VmHWM/{print $2}' /proc/$RX1_PID/status)" >> "$BENCH_RESULTS/extra.tsv"

# ---- memory: a run of MEM_FILES tiny files through manifest and pack -------------------------
MEM=/tmp/labsync-bench-${MEM_FILES}files
if [ ! -f "$MEM.complete" ]; then
  log "generating $MEM_FILES tiny files in $MEM (once)"
  rm -rf "$MEM"; mkdir -p "$MEM/run"
  python3 - "$MEM/run" "$MEM_FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per = 1000
for d in range((n + per - 1) // per):
    dd = os.path.join(root, "d%04d" % d); os.mkdir(dd)
    for i in range(min(per, n - d * per)):
        with open(os.path.join(dd, "f%06d.dat" % i), "wb") as f: f.write(b"%d\n" % (d * per + i))
PY
  touch "$MEM.complete"
fi
BENCH_WARMUP=0 measure memory "syncd manifest, $MEM_FILES tiny files" "files-$MEM_FILES" "$MEM_FILES" 1 "" "$SYNCD manifest --allow-findings $MEM/run > /dev/null"
BENCH_WARMUP=0 measure memory "syncd pack, $MEM_FILES tiny files" "files-$MEM_FILES" "$MEM_FILES" 1 "rm -f $BENCH_WORK/m.tar.zst" "$SYNCD pack $MEM/run $BENCH_WORK/m.tar.zst > /dev/null"
BENCH_WARMUP=0 measure memory "syncd manifest, 1,000 tiny files" files-1000 1000 1 "" "$SYNCD manifest --allow-findings $MEM/run/d0000 > /dev/null"
BENCH_WARMUP=0 measure memory "syncd pack, 1,000 tiny files" files-1000 1000 1 "rm -f $BENCH_WORK/m.tar.zst" "$SYNCD pack $MEM/run/d0000 $BENCH_WORK/m.tar.zst > /dev/null"
rm -f "$BENCH_WORK/m.tar.zst"

# ---- idle: syncd run with 50 equipment, CPU over IDLE_SECONDS --------------------------------
IW=$BENCH_WORK/idle; rm -rf "$IW"; mkdir -p "$IW/state"
{
  printf '[global]\nstate_dir = "%s/state"\nadmin_socket = "%s/syncd.sock"\nmetrics_listen = ""\n' "$IW" "$IW"
  for i in $(seq -w 1 50); do
    mkdir -p "$IW/runs/eq-$i"
    printf '[equipment.eq-%s]\nruns_root = "%s/runs/eq-%s"\n[equipment.eq-%s.transport]\nkind = "http_put"\nurl = "%s"\n' "$i" "$IW" "$i" "$i" "$RX1_URL"
  done
} > "$IW/syncd.toml"
"$SYNCD" run --config "$IW/syncd.toml" --log-level warning > "$IW/out" 2> "$IW/err" &
IPID=$!
for _ in $(seq 100); do grep -q 'syncd ready' "$IW/out" && break; sleep 0.1; done
grep -q 'syncd ready' "$IW/out" || die "idle syncd did not start: $(cat "$IW/err")"
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
a=$(ticks $IPID); sleep "$IDLE_SECONDS"; b=$(ticks $IPID)
idle_rss=$(awk '/VmHWM/{print $2}' /proc/$IPID/status)
kill -TERM $IPID; wait $IPID || true
idle_cpu=$(awk -v a="$a" -v b="$b" -v h="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/h}')
printf 'idle_cpu_s\t%s\nidle_seconds\t%s\nidle_rss_kib\t%s\n' "$idle_cpu" "$IDLE_SECONDS" "$idle_rss" >> "$BENCH_RESULTS/extra.tsv"
log "idle: syncd with 50 equipment used ${idle_cpu} s CPU in ${IDLE_SECONDS} s"

stop_servers
OUT=$HERE/results/$(date -u +%F).md
mkdir -p "$HERE/results"
{
  echo "# labsync bench ($MODE) — $(date -u +%FT%TZ)"
  echo
  echo "Command: \`bench/run.sh $MODE\` ($(( $(date +%s) - T0 )) s). Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); kernel $(uname -r)."
  echo "Binaries: $SYNCD, $RECEIVER (git $(git -C "$ROOT" rev-parse --short HEAD))."
  echo
  python3 "$HERE/report.py" "$BENCH_RESULTS"
} > "$OUT"
log "wrote $OUT"
cat "$OUT"
