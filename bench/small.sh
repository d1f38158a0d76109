#!/usr/bin/env bash
# bench/small.sh CASE [RUNS] — issue 16's per-job, per-file and idle goals, each measured in one run
# on loopback with same-run ratios (A and B alternate, ratio taken pair by pair).
#
#   many     `syncd run` (http_put, max_parallel 2, every run its own verified job) on the 500 runs
#            of `many` vs ONE `rsync -a` of all 500 over ssh (private sshd)          goal <= 1.0x
#   small    `syncd run` (http_put, verified) on small/run-0001 (20,000 x 4 KiB) vs the seed
#            pipeline at zstd -3 (tar | zstd, sha256sum, curl -T into nginx, no verification)  <= 0.7x
#   memory   peak RSS of `syncd manifest` / `syncd pack` on 1,000 and on each of MEM_FILES
#            ("200000 1000000") tiny files: bytes per file above the 1,000-file case   <= 150 B
#   idle     one `syncd run` with IDLE_EQUIPMENT (1,000) equipment, each its own runs root, idle
#            for IDLE_SECONDS (60): CPU (utime+stime of /proc/PID/stat) and VmHWM     <= 0.1 %, <= 64 MiB
#
# Env: SYNCD, RECEIVER (default build/), BENCH_DATA (/tmp/benchdata, bench/make-datasets.sh),
# BENCH_WORK (/tmp/labsync-bench-small), SSH_PORT (2292), NGINX_PORT (18092), MEM_FILES ("200000 1000000"),
# MEM_ROOT (/var/tmp: where the memory trees are made, then deleted unless MEM_KEEP=1).
# `many` and `small` need root (a private sshd user). Every server is stopped by its PID.
set -euo pipefail
CASE=${1:-}
RUNS=${2:-3}
case $CASE in many | small | memory | idle) ;; *) echo "usage: bench/small.sh many|small|memory|idle [RUNS]" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export BENCH_WORK=${BENCH_WORK:-/tmp/labsync-bench-small}
export BENCH_RESULTS=$BENCH_WORK/tsv SSH_PORT=${SSH_PORT:-2292} NGINX_PORT=${NGINX_PORT:-18092}
source "$HERE/lib.sh"
source "$HERE/servers.sh"
SYNCD=${SYNCD:-$ROOT/build/apps/syncd/syncd}
RECEIVER=${RECEIVER:-$ROOT/build/apps/syncd-receiver/syncd-receiver}
[ -x "$SYNCD" ] || die "no syncd at $SYNCD; set SYNCD"
trap stop_servers EXIT
trap 'stop_servers; exit 130' INT TERM

# timed LABEL CMD: runs CMD under /usr/bin/time; prints "wall cpu rss_kib" and logs it.
timed() {
  local label=$1 cmd=$2 tf=$BENCH_WORK/time.txt t0 t1 u s m
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$tf" bash -c "$cmd" > "$BENCH_WORK/$label.out" 2>&1 || { tail -5 "$BENCH_WORK/$label.out" >&2; die "$label failed"; }
  t1=$(date +%s%N)
  u=$(awk -F': ' '/User time/{print $2}' "$tf"); s=$(awk -F': ' '/System time/{print $2}' "$tf")
  m=$(awk -F': ' '/Maximum resident/{print $2}' "$tf")
  awk -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" -v m="$m" 'BEGIN{printf "%.3f %.2f %d\n", (b-a)/1e9, u+s, m}'
}

# pairs NAME_A PREP_A CMD_A NAME_B PREP_B CMD_B: one warm-up of each, then RUNS alternating pairs.
pairs() {
  local na=$1 pa=$2 ca=$3 nb=$4 pb=$5 cb=$6 i a b ratios=()
  log "warm-up: $na, $nb"
  bash -c "$pa"; timed "$na" "$ca" > /dev/null; bash -c "$pb"; timed "$nb" "$cb" > /dev/null
  for ((i = 1; i <= RUNS; i++)); do
    bash -c "$pa"; a=$(timed "$na" "$ca")
    bash -c "$pb"; b=$(timed "$nb" "$cb")
    ratios+=("$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN{printf "%.2f", a/b}')")
    log "pair $i: $na wall/cpu/rss $a | $nb $b | ratio ${ratios[-1]}"
  done
  log "RESULT $CASE: ratio wall $na/$nb median $(median "${ratios[@]}") (min $(minof "${ratios[@]}"), max $(maxof "${ratios[@]}")), $RUNS pairs"
}

# daemon_config DIR PARALLEL URL: a one-equipment http_put config for runs in DIR/runs.
daemon_config() {
  {
    printf '[global]\nstate_dir = "%s/state"\nadmin_socket = "%s/syncd.sock"\nmetrics_listen = ""\n' "$1" "$1"
    printf 'max_parallel = %d\nrescan_interval = "60s"\ncleanup_interval = "1h"\n' "$2"
    printf '[equipment.bench]\nruns_root = "%s/runs"\nsettle = "0s"\nretention = "30d"\ncleanup = false\nmax_parallel = %d\n' "$1" "$2"
    printf '[equipment.bench.transport]\nkind = "http_put"\nurl = "%s"\nzstd_level = 3\n' "$3"
  } > "$1.toml"
}

case $CASE in
  many | small)
    need nginx; need rsync; need zstd; need curl; need sqlite3
    [ -x "$RECEIVER" ] || die "no syncd-receiver at $RECEIVER; set RECEIVER"
    ensure_datasets
    start_receiver
    w=$BENCH_WORK/ld-$CASE n=$(find "$BENCH_DATA/$CASE" -mindepth 1 -maxdepth 1 -type d | wc -l)
    par=1; [ "$CASE" = many ] && par=2
    daemon_config "$w" "$par" "$RX_URL"
    prep_a="rm -rf $w $RX_STORE/bench; mkdir -p $w/state $w/runs; cp -al $BENCH_DATA/$CASE/. $w/runs/; sync"
    cmd_a="$HERE/ship-daemon.sh $SYNCD $w.toml $w/state $n"
    warm_cache "$BENCH_DATA/$CASE"
    if [ "$CASE" = many ]; then
      start_sshd
      d=$DST/rsync-many
      pairs "syncd-run" "$prep_a" "$cmd_a" "rsync-one-call" "rm -rf $d; sync" "rsync -a -e 'ssh -F $SSHCFG' $BENCH_DATA/many/ benchhost:$d/"
    else
      start_nginx
      pairs "syncd-run" "$prep_a" "$cmd_a" "seed-zstd3" "rm -rf $BENCH_WORK/outbox $NGX/store/v1; mkdir -p $BENCH_WORK/outbox; sync" \
        "cd $BENCH_DATA/small && $HERE/seed-ship.sh seed 3 $BENCH_DATA/small run-0001 $BENCH_WORK/outbox $NGINX_URL/v1/runs/small"
    fi
    # The job events' timings of the last labsync run: per job, created -> running (waiting for a
    # worker), running -> awaiting_verify (manifest + pack + PUT), -> verified; and the whole span.
    sqlite3 -readonly -separator ' ' "$w/state/jobs.db" "
      WITH t AS (SELECT job_id, min(CASE WHEN to_state='queued' THEN at END) c, min(CASE WHEN to_state='running' THEN at END) r,
                        min(CASE WHEN to_state='awaiting_verify' THEN at END) a, min(CASE WHEN to_state='verified' THEN at END) v
                 FROM events GROUP BY job_id)
      SELECT 'jobs', count(*), 'mean ms: queued->running', round(avg(r-c),1), 'running->awaiting_verify', round(avg(a-r),1),
             'awaiting_verify->verified', round(avg(v-a),1), 'span s', round((max(v)-min(c))/1000.0,2) FROM t;" | sed 's/^/events: /' >&2
    ;;
  memory)
    # Each count's tree is generated under MEM_ROOT and deleted afterwards (MEM_KEEP=1 keeps it).
    MEM_ROOT=${MEM_ROOT:-/var/tmp}
    for count in ${MEM_FILES:-200000 1000000}; do
      MEM=$MEM_ROOT/labsync-bench-${count}files
      if [ ! -f "$MEM.complete" ]; then
        log "generating $count tiny files in $MEM"
        rm -rf "$MEM"; mkdir -p "$MEM/run"
        python3 - "$MEM/run" "$count" <<'PY'
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
      for tool in manifest pack; do
        if [ $tool = manifest ]; then c1="$SYNCD manifest --allow-findings $MEM/run/d0000 > /dev/null"; cn="$SYNCD manifest --allow-findings $MEM/run > /dev/null"
        else c1="$SYNCD pack $MEM/run/d0000 $BENCH_WORK/m.tar.zst > /dev/null"; cn="$SYNCD pack $MEM/run $BENCH_WORK/m.tar.zst > /dev/null"; fi
        read -r _ _ r1 < <(timed "$tool-1000" "rm -f $BENCH_WORK/m.tar.zst; $c1")
        read -r wn cpun rn < <(timed "$tool-$count" "rm -f $BENCH_WORK/m.tar.zst; $cn")
        log "RESULT memory: syncd $tool peak RSS ${r1} KiB (1,000 files), ${rn} KiB ($count files, ${wn} s, ${cpun} s CPU):" \
          "$(awk -v a="$r1" -v b="$rn" -v n="$count" 'BEGIN{printf "%.0f B/file above the 1,000-file case", (b-a)*1024/(n-1000)}')"
      done
      rm -f "$BENCH_WORK/m.tar.zst"
      [ "${MEM_KEEP:-0}" = 1 ] || rm -rf "$MEM" "$MEM.complete"
    done
    ;;
  idle)
    N=${IDLE_EQUIPMENT:-1000} SECS=${IDLE_SECONDS:-60}
    IW=$BENCH_WORK/idle; rm -rf "$IW"; mkdir -p "$IW/state"
    {
      printf '[global]\nstate_dir = "%s/state"\nadmin_socket = "%s/syncd.sock"\nmetrics_listen = ""\n' "$IW" "$IW"
      for i in $(seq -w 1 "$N"); do
        mkdir -p "$IW/runs/eq-$i"
        printf '[equipment.eq-%s]\nruns_root = "%s/runs/eq-%s"\n[equipment.eq-%s.transport]\nkind = "http_put"\nurl = "http://127.0.0.1:9/"\n' "$i" "$IW" "$i" "$i"
      done
    } > "$IW/syncd.toml"
    "$SYNCD" run --config "$IW/syncd.toml" --log-level warning > "$IW/out" 2> "$IW/err" &
    IPID=$!; SERVER_PIDS+=("$IPID")
    for _ in $(seq 600); do grep -q 'syncd ready' "$IW/out" && break; sleep 0.1; done
    grep -q 'syncd ready' "$IW/out" || die "idle syncd did not start: $(tail -3 "$IW/err")"
    log "start-up warnings about inotify / watching: $(grep -c 'inotify\|cannot watch' "$IW/err" || true)"
    sleep 2  # the first scan of every runs root is start-up, not idle
    ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
    a=$(ticks $IPID); sleep "$SECS"; b=$(ticks $IPID)
    rss=$(awk '/VmHWM/{print $2}' "/proc/$IPID/status"); thr=$(awk '/Threads/{print $2}' "/proc/$IPID/status")
    log "RESULT idle: $N equipment, ${SECS} s: $(awk -v a="$a" -v b="$b" -v h="$CLK_TCK" -v s="$SECS" 'BEGIN{printf "%.3f s CPU = %.3f %% of a core", (b-a)/h, (b-a)/h*100/s}'), VmHWM $rss KiB ($(( rss / 1024 )) MiB), $thr threads"
    ;;
esac
