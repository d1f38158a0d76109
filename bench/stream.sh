#!/usr/bin/env bash
# stream.sh — the streaming upload of http_put (issue 13 "Sender: one read of the run"), measured
# through real processes on loopback (a real syncd-receiver, no auth):
#   a  bytes read by syncd (rchar of /proc/PID/io) / run size, `syncd run` from enqueue to verified
#   b  peak extra local disk of the job: the outbox directory, sampled every 20 ms
#   c  peak RSS of syncd (VmHWM)
#   g  a, b, c through `syncd run` on a generated 8 GiB run under /var/tmp (GEN_GIB, default 8):
#      4 large files, half AES-CTR keystream (incompressible), half its base64 text (zstd ~0.76),
#      deleted afterwards (with the receiver's store)
#   p  a, b, c for the driver alone: transport_bench http (push + verify probe, as the engine
#      does, without the queue), the same http_put code as syncd
#   d  kill -9 of the receiver at ~90 % of a 2 GiB incompressible run, restarted on the same port:
#      bytes sent after the restart / archive size (the push resumes from its memory spool); and a
#      sender crash at ~90 % (kill -9 of `syncd put`, then again): re-pack + skip, its time
#   n  a network cut at ~90 % of a 2 GiB incompressible run: the fault proxy resets (RST) the
#      upload's connection after 90 % of the run went through; bytes sent after the cut (counted by
#      the proxy on the later connections) / archive size (the push asks the offset, resumes)
#   r  re-pack + skip versus a durable spool: `syncd pack` of the run (a durable copy: wchar +
#      fsync) against the time of packing without writing (the re-pack a resume pays)
#   e  a run larger than --max-body ships: see the ctest test http_put_tests
#      "a run larger than the receiver's --max-body ships in parts" (1 MiB per request, 20 MiB)
#   f  `mixed` end to end: `syncd run` from its start to the job verified (as a) against
#      `rsync -a -e ssh` of the same run into a private sshd (bench/rsync.sh one bare-mixed; root),
#      RUNS (default 3) alternating pairs after a warm-up of each, medians and their ratio; the
#      syncd side is sampled only for its job state (every 50 ms), not for rchar/disk/RSS
#
#   bench/stream.sh [a|g|f|p|d|n|r|all] (a, g and p cover a, b and c; all leaves g, f and n out)
# Environment: SYNCD, RECEIVER (binaries; default build/), BENCH_DATA (default /tmp/benchdata,
# made by bench/make-datasets.sh), SPOOL (http_put spool_bytes, default the built-in default),
# LEVEL (zstd_level of `syncd run` in a, g, f: default the driver's; "\"adaptive\"" with its
# quotes), BEFORE (f: a directory with the syncd and syncd-receiver of another build, timed too).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
syncd="${SYNCD:-$here/build/apps/syncd/syncd}"
receiver="${RECEIVER:-$here/build/apps/syncd-receiver/syncd-receiver}"
tbench="${TBENCH:-$here/build/tests/transports/transport_bench}"
proxy="${PROXY:-$here/build/tests/fault/labsync-fault-proxy}"
data="${BENCH_DATA:-/tmp/benchdata}"
what="${1:-all}"
work="$(mktemp -d /var/tmp/labsync-bench-stream.XXXXXX)"
rx_pid=""
cleanup() {
    [[ -n "$rx_pid" ]] && kill "$rx_pid" 2>/dev/null && wait "$rx_pid" 2>/dev/null
    [[ -f "$work/rsync/port" ]] && STATE="$work/rsync" "$here/bench/rsync.sh" teardown
    rm -rf "$work"
}
trap cleanup EXIT

start_receiver() {  # $1 store, $2 listen address (default 127.0.0.1:0)
    mkdir -p "$1"
    "${RUN_RECEIVER:-$receiver}" --listen "${2:-127.0.0.1:0}" --store "$1" --insecure-no-auth >"$work/rx.out" 2>>"$work/rx.err" &
    rx_pid=$!
    for _ in $(seq 200); do
        grep -q "listening on" "$work/rx.out" 2>/dev/null && break
        sleep 0.05
    done
    addr="$(grep -o 'listening on [^ ]*' "$work/rx.out" | tail -1 | cut -d' ' -f3)"
    [[ -n "$addr" ]] || { echo "receiver did not start: $(cat "$work/rx.err")" >&2; exit 1; }
}
bytes_of() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

measure_run() {  # a, b, c: `syncd run` on $1 (default mixed) until verified; $2 its name
    local src="${1:-$data/mixed/run-0001}" name="${2:-mixed}" w="$work/a" timing="${TIMING_ONLY:-0}"
    local size; size=$(bytes_of "$src")
    rm -rf "$w"
    mkdir -p "$w/runs" "$w/state"
    cp -al "$src" "$w/runs/"
    start_receiver "$w/store"
    {
        printf '[global]\nstate_dir = "%s/state"\nadmin_socket = "%s/syncd.sock"\nmetrics_listen = ""\n' "$w" "$w"
        printf 'outbox_dir = "%s/outbox"\nrescan_interval = "60s"\ncleanup_interval = "1h"\n' "$w"
        printf '[equipment.bench]\nruns_root = "%s/runs"\nsettle = "0s"\nretention = "30d"\ncleanup = false\n' "$w"
        printf '[equipment.bench.transport]\nkind = "http_put"\nurl = "http://%s"\n' "$addr"
        [[ -n "${LEVEL:-}" ]] && printf 'zstd_level = %s\n' "$LEVEL"
        [[ -n "${SPOOL:-}" ]] && printf 'spool_bytes = "%s"\n' "$SPOOL"
    } >"$w/syncd.toml"
    sync
    local t0; t0=$(date +%s%N)
    "${RUN_SYNCD:-$syncd}" run --config "$w/syncd.toml" --log-level warning >"$w/out" 2>"$w/err" &
    local pid=$! peak_disk=0 rchar=0 hwm=0 state="" d
    while :; do
        if [[ -f "$w/state/jobs.db" ]]; then
            state=$(sqlite3 -readonly "$w/state/jobs.db" "SELECT state FROM jobs LIMIT 1;" 2>/dev/null || true)
        fi
        case "$state" in verified | cleanup_eligible | cleaned) break ;; esac
        if ((timing)); then
            kill -0 "$pid" 2>/dev/null || { echo "syncd exited: $(tail -3 "$w/err")" >&2; break; }
            sleep 0.05
            continue
        fi
        rchar=$(awk '/^rchar/ { print $2 }' "/proc/$pid/io" 2>/dev/null || echo "$rchar")
        hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "$hwm")
        d=$(du -sb "$w/outbox" 2>/dev/null | cut -f1 || echo 0)
        ((d > peak_disk)) && peak_disk=$d
        case "$state" in verified | cleanup_eligible | cleaned) break ;; failed | blocked_by_validation)
            echo "job $state" >&2; break ;; esac
        kill -0 "$pid" 2>/dev/null || { echo "syncd exited: $(tail -3 "$w/err")" >&2; break; }
        sleep 0.02
    done
    local t1; t1=$(date +%s%N)
    cpu_s=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    cpu_r=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$rx_pid/stat" 2>/dev/null || echo 0)
    kill -TERM "$pid"; wait "$pid" || true
    kill "$rx_pid"; wait "$rx_pid" 2>/dev/null || true; rx_pid=""
    run_ns=$((t1 - t0))
    [[ "$state" == verified || "$state" == cleanup_eligible || "$state" == cleaned ]] || run_ns=-1
    ((timing)) && return 0
    RUN_NAME="$name" awk -v r="$rchar" -v n="$size" -v d="$peak_disk" -v h="$hwm" -v t="$((t1 - t0))" -v s="$state" 'BEGIN {
        printf "%s: %.0f bytes, job %s in %.2f s\n", ENVIRON["RUN_NAME"], n, s, t / 1e9
        printf "(a) rchar of syncd / run size: %.0f / %.0f = %.3f (goal <= 1.05)\n", r, n, r / n
        printf "(b) peak extra local disk (outbox dir): %.0f bytes = %.1f MiB (goal <= 256 MiB)\n", d, d / 1048576
        printf "(c) peak RSS of syncd (VmHWM): %.1f MiB (goal <= 64 MiB)\n", h / 1024
    }'
}

generate_big() {  # g: $1 directory; GEN_GIB GiB in 4 files (2 incompressible, 2 base64 text)
    local dir="$1" gib="${GEN_GIB:-8}" i key each
    mkdir -p "$dir"
    each=$(((gib << 30) / 4))
    for i in 0 1 2 3; do  # `head` ends each pipe early: openssl and base64 die of SIGPIPE (|| true)
        key=$(printf 'labsync-bench-v1/stream-g/%d' "$i" | sha256sum | cut -c1-64)
        if ((i % 2 == 0)); then
            openssl enc -aes-256-ctr -nosalt -K "$key" -iv 0 -in /dev/zero 2>/dev/null | head -c "$each" >"$dir/part-$i.bin" || true
        else  # base64 of 3/4 as many random bytes: text, zstd -3 keeps ~76 %
            openssl enc -aes-256-ctr -nosalt -K "$key" -iv 0 -in /dev/zero 2>/dev/null | base64 -w 76 |
                head -c "$each" >"$dir/part-$i.txt" || true
        fi
    done
    touch "$dir/done.marker"
    (($(bytes_of "$dir") == each * 4)) || { echo "generating $dir failed" >&2; exit 1; }
}

measure_big() {  # g: a, b, c through `syncd run` on a generated run (the spool bound is size-free)
    local src="$work/gen/run-big"
    generate_big "$src"
    sync
    measure_run "$src" "generated ${GEN_GIB:-8} GiB"
}

measure_vs_rsync() {  # f: `syncd run` (mixed, until verified) against rsync -a over ssh, alternating
    local runs="${RUNS:-3}" before="${BEFORE:-}" i t0 t1 a=() b=() c=()
    chmod 755 "$work"  # the private sshd's user writes below it
    mkdir -p "$work/rsync" && STATE="$work/rsync" "$here/bench/rsync.sh" setup
    rsync_one() { STATE="$work/rsync" DATA="$data" "$here/bench/rsync.sh" one bare-mixed >/dev/null; }
    TIMING_ONLY=1 measure_run; rsync_one  # warm-up of each
    for ((i = 0; i < runs; i++)); do
        sync
        TIMING_ONLY=1 measure_run
        ((run_ns > 0)) || { echo "syncd run did not verify the job" >&2; exit 1; }
        a+=("$run_ns")
        sync
        t0=$(date +%s%N); rsync_one; t1=$(date +%s%N)
        b+=($((t1 - t0)))
        local line; line="round $((i + 1)): syncd run $(secs "$run_ns") s (cpu syncd $cpu_s s, receiver $cpu_r s)"
        line+=", rsync $(secs $((t1 - t0))) s"
        if [[ -n "$before" ]]; then
            sync
            RUN_SYNCD="$before/syncd" RUN_RECEIVER="$before/syncd-receiver" TIMING_ONLY=1 measure_run
            ((run_ns > 0)) || { echo "syncd run of $before did not verify the job" >&2; exit 1; }
            c+=("$run_ns")
            line+=", before $(secs "$run_ns") s (cpu $cpu_s s, $cpu_r s)"
        fi
        echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
    done
    local ma mb
    ma=$(med "${a[@]}")
    mb=$(med "${b[@]}")
    awk -v a="$ma" -v b="$mb" -v r="$runs" 'BEGIN {
        printf "(f) mixed, median of %d alternating rounds: syncd run (http_put, until verified) %.2f s,\n", r, a / 1e9
        printf "    rsync -a -e ssh %.2f s; ratio %.2f (goal <= 0.8)\n", b / 1e9, a / b
    }'
    [[ -z "$before" ]] || awk -v c="$(med "${c[@]}")" -v b="$mb" 'BEGIN {
        printf "    before (%s): syncd run %.2f s; ratio %.2f\n", ENVIRON["BEFORE"], c / 1e9, c / b }'
}
secs() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1e9 }'; }
med() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

measure_push() {  # p: a, b, c for transport_bench http (push + verify probe)
    local src="$data/mixed/run-0001" w="$work/p" size
    size=$(bytes_of "$src")
    mkdir -p "$w/outbox"
    start_receiver "$w/store"
    sync
    local t0; t0=$(date +%s%N)
    "$tbench" http "http://$addr" "$w/outbox" bench "$src" >"$w/out" 2>"$w/err" &
    local pid=$! peak_disk=0 rchar=0 hwm=0 d
    while kill -0 "$pid" 2>/dev/null; do
        rchar=$(awk '/^rchar/ { print $2 }' "/proc/$pid/io" 2>/dev/null || echo "$rchar")
        hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "$hwm")
        d=$(du -sb "$w/outbox" 2>/dev/null | cut -f1 || echo 0)
        ((d > peak_disk)) && peak_disk=$d
        sleep 0.02
    done
    local rc=0; wait "$pid" || rc=$?
    local t1; t1=$(date +%s%N)
    kill "$rx_pid"; wait "$rx_pid" 2>/dev/null || true; rx_pid=""
    head -1 "$w/err"
    awk -v r="$rchar" -v n="$size" -v d="$peak_disk" -v h="$hwm" -v t="$((t1 - t0))" -v rc="$rc" 'BEGIN {
        printf "mixed through transport_bench http (push + verify probe): exit %d in %.2f s (spool %s)\n", rc, t / 1e9, ENVIRON["SPOOL"] == "" ? "default" : ENVIRON["SPOOL"]
        printf "(a) rchar / run size: %.0f / %.0f = %.3f (goal <= 1.05; last sample before exit)\n", r, n, r / n
        printf "(b) peak extra local disk (outbox dir): %.0f bytes = %.1f MiB (goal <= 256 MiB)\n", d, d / 1048576
        printf "(c) peak RSS (VmHWM): %.1f MiB (goal <= 64 MiB)\n", h / 1024
    }'
}

measure_kill() {  # d: receiver kill -9 at ~90 % of a 2 GiB incompressible run, then a sender crash
    local w="$work/d" run size
    mkdir -p "$w/runs/big"
    for i in 0 1 2 3; do head -c $((512 << 20)) /dev/urandom >"$w/runs/big/part-$i.bin"; done
    size=$(bytes_of "$w/runs/big")
    start_receiver "$w/store"
    local listen="$addr" put_pid
    PUSH_ONLY=1 IO_TIMEOUT=30 LEVEL=1 "$tbench" http "http://$listen" "$w/outbox" eq "$w/runs/big" \
        >"$w/put.json" 2>"$w/put.err" &
    put_pid=$!
    # The receiver's upload data grows as parts are acknowledged: kill it at 90 % of the run.
    while :; do
        local held; held=$(bytes_of "$w/store/.uploads" || true)
        ((held * 10 >= size * 9)) && break
        kill -0 "$put_pid" 2>/dev/null || { echo "put ended before 90 %" >&2; break; }
        sleep 0.01
    done
    kill -9 "$rx_pid"; wait "$rx_pid" 2>/dev/null || true
    : >"$work/rx.out"
    start_receiver "$w/store" "$listen"
    local t0; t0=$(date +%s%N)
    wait "$put_pid" || true
    local t1; t1=$(date +%s%N)
    local archive; archive=$(stat -c %s "$w/store/eq/big.tar.zst" 2>/dev/null || echo 0)
    local held_at; held_at=$(grep -o 're-read [0-9]* stored bytes' "$work/rx.err" | tail -1 | cut -d' ' -f2)
    held_at=${held_at:-0}
    awk -v a="$archive" -v h="$held_at" -v t="$((t1 - t0))" -v ok="$(grep -c 'HTTP 201' "$w/put.err" || true)" 'BEGIN {
        printf "(d) receiver kill -9 at ~90 %%: archive %.0f bytes, receiver held %.0f after its restart,\n", a, h
        printf "    sent after the restart %.0f bytes = %.1f %% of the archive (goal <= 15 %%), %.2f s; put ok=%s\n", a - h, (a - h) * 100 / a, t / 1e9, ok
    }'
    kill "$rx_pid"; wait "$rx_pid" 2>/dev/null || true; rx_pid=""

    # Sender crash: kill -9 of syncd put at ~90 %, then the same put again (re-pack + skip).
    rm -rf "$w/store" "$w/outbox"
    : >"$work/rx.out"; : >"$work/rx.err"
    start_receiver "$w/store"
    PUSH_ONLY=1 LEVEL=1 "$tbench" http "http://$addr" "$w/outbox" eq "$w/runs/big" >"$w/put1.json" 2>"$w/put1.err" &
    put_pid=$!
    while :; do
        local held; held=$(bytes_of "$w/store/.uploads" || true)
        ((held * 10 >= size * 9)) && break
        kill -0 "$put_pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -9 "$put_pid"; wait "$put_pid" 2>/dev/null || true
    held=$(bytes_of "$w/store/.uploads" || true)
    t0=$(date +%s%N)
    PUSH_ONLY=1 LEVEL=1 "$tbench" http "http://$addr" "$w/outbox" eq "$w/runs/big" >"$w/put2.json" 2>"$w/put2.err" &
    put_pid=$!
    local rchar=0
    while kill -0 "$put_pid" 2>/dev/null; do
        rchar=$(awk '/^rchar/ { print $2 }' "/proc/$put_pid/io" 2>/dev/null || echo "$rchar")
        sleep 0.02
    done
    wait "$put_pid" || true
    t1=$(date +%s%N)
    archive=$(stat -c %s "$w/store/eq/big.tar.zst" 2>/dev/null || echo 0)
    awk -v a="$archive" -v h="$held" -v t="$((t1 - t0))" -v r="$rchar" -v n="$size" 'BEGIN {
        printf "(d) syncd kill -9 at ~90 %%: receiver held ~%.0f bytes; the retry re-packed the run (rchar %.2f x run)\n", h, r / n
        printf "    and sent ~%.0f bytes = %.1f %% of the archive, in %.2f s\n", a - h, (a - h) * 100 / a, t / 1e9
    }'
    head -1 "$w/put2.err" || true
    kill "$rx_pid"; wait "$rx_pid" 2>/dev/null || true; rx_pid=""
}

measure_cut() {  # n: a network cut (the fault proxy) at ~90 % of a 2 GiB incompressible run
    local w="$work/n" size proxy_pid paddr rc=0
    mkdir -p "$w/runs/big"
    # CUT_PART_MIB (default 512): four parts of this size (a smaller run for a quick try).
    for i in 0 1 2 3; do head -c $((${CUT_PART_MIB:-512} << 20)) /dev/urandom >"$w/runs/big/part-$i.bin"; done
    size=$(bytes_of "$w/runs/big")
    start_receiver "$w/store"
    # The first connection (GET, POST, then every PATCH: kept alive) is reset both ways once 90 %
    # of the run's bytes went through it; later connections are forwarded cleanly.
    "$proxy" --target "$addr" --mode reset --faulty 1 --bytes $((size * 9 / 10)) >"$w/proxy.out" 2>&1 &
    proxy_pid=$!
    for _ in $(seq 200); do grep -q "listening on" "$w/proxy.out" && break; sleep 0.05; done
    paddr="$(grep -o 'listening on [^ ]*' "$w/proxy.out" | cut -d' ' -f3)"
    local t0; t0=$(date +%s%N)
    PUSH_ONLY=1 IO_TIMEOUT=30 LEVEL=1 "$tbench" http "http://$paddr" "$w/outbox" eq "$w/runs/big" \
        >"$w/put.json" 2>"$w/put.err" || rc=$?
    local t1; t1=$(date +%s%N)
    kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
    local archive stored_sha
    archive=$(stat -c %s "$w/store/eq/big.tar.zst" 2>/dev/null || echo 0)
    stored_sha=$(sha256sum "$w/store/eq/big.tar.zst" 2>/dev/null | cut -d' ' -f1)
    awk -v a="$archive" -v t="$((t1 - t0))" -v rc="$rc" -v sha="$stored_sha" -v side="$(jq -r .sha256 "$w/store/eq/big.json" 2>/dev/null)" '
        $1 == "fault" { cut = 1 }
        $1 == "end" && $2 == 1 { first = $4 }
        $1 == "end" && $2 > 1 { later += $4; n++ }
        END {
            printf "(n) network cut at ~90 %%: archive %.0f bytes; the first connection carried %.0f request bytes and was reset (%s)\n", a, first, cut ? "fault seen" : "NO fault"
            printf "    sent after the cut %.0f bytes on %d later connection(s) = %.1f %% of the archive (goal <= 15 %%), push exit %d, %.2f s in all\n", later, n, later * 100 / a, rc, t / 1e9
            printf "    stored archive sha256 %s the sidecar'"'"'s\n", sha != "" && sha == side ? "==" : "!="
        }' "$w/proxy.out"
    head -1 "$w/put.err" || true
    kill "$rx_pid"; wait "$rx_pid" 2>/dev/null || true; rx_pid=""
}

measure_durable() {  # r: the cost of a durable spool (a whole copy) versus re-pack + skip
    local src="$data/mixed/run-0001" w="$work/r" t0 t1 t2
    mkdir -p "$w"
    cat "$src"/* >/dev/null 2>&1 || true
    t0=$(date +%s%N)
    "$syncd" pack --level 3 "$src" "$w/copy.tar.zst" >/dev/null
    t1=$(date +%s%N)
    local bytes; bytes=$(stat -c %s "$w/copy.tar.zst")
    # Re-pack + skip: the same pack with its output discarded (what a resume after a crash pays
    # up to the receiver's offset), measured as `syncd pack` to a file on tmpfs-free /dev/shm.
    "$syncd" pack --level 3 "$src" /dev/shm/labsync-bench-repack.tar.zst >/dev/null
    t2=$(date +%s%N)
    rm -f /dev/shm/labsync-bench-repack.tar.zst
    awk -v b="$bytes" -v d="$((t1 - t0))" -v r="$((t2 - t1))" 'BEGIN {
        printf "(r) durable spool of mixed: writes %.0f bytes (wchar) + fsync: pack to disk %.2f s\n", b, d / 1e9
        printf "    re-pack + skip (pack, output kept in memory only): %.2f s\n", r / 1e9
    }'
}

case "$what" in
    a) measure_run ;;
    g) measure_big ;;
    f) measure_vs_rsync ;;
    p) measure_push ;;
    d) measure_kill ;;
    n) measure_cut ;;
    r) measure_durable ;;
    all) measure_run; measure_push; measure_kill; measure_durable ;;
    *) echo "usage: $0 [a|g|f|p|d|n|r|all]" >&2; exit 2 ;;
esac
