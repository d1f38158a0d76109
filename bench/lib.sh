# lib.sh — shared helpers for the labsync baseline kit (source it, don't run it).
# Copied from the project's baseline kit (shared/bench/lib.sh, labsync baseline); keep in sync by hand.
#
# Environment (all optional):
#   BENCH_DATA     datasets dir (default /tmp/benchdata; made by make-datasets.sh)
#   BENCH_WORK     scratch dir for outputs/servers (default /tmp/benchwork; same fs as /tmp)
#   BENCH_RESULTS  where results.tsv, runs.tsv and raw logs go (default bench/results)
#   BENCH_RUNS     repetitions per measurement (default 3; median is reported)
#   BENCH_WARMUP   untimed warm-up runs before the timed ones of a multi-run measurement
#                  (default 1: the first run after freeing memory pays the VM's page faults)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DATA=${BENCH_DATA:-/tmp/benchdata}
BENCH_WORK=${BENCH_WORK:-/tmp/benchwork}
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-1}
RESULTS_TSV=$BENCH_RESULTS/results.tsv     # one row per measurement (report.py keeps the last per key)
RUNS_TSV=$BENCH_RESULTS/runs.tsv           # one row per individual run
RAW_DIR=$BENCH_RESULTS/raw                 # /usr/bin/time -v output + command output of the last run
mkdir -p "$BENCH_WORK" "$BENCH_RESULTS" "$RAW_DIR"
CLK_TCK=$(getconf CLK_TCK)
export LC_ALL=C

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need() { # need BIN [debian-package] — fail with an install hint
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || die "missing $1: apt-get install -y ${2:-$1}"
}

ensure_pkgs() { # install Debian packages that are missing (noninteractive, services not started)
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_datasets() {
  [ -f "$BENCH_DATA/.complete-v1" ] || "$BENCH_DIR/make-datasets.sh" "$BENCH_DATA"
}

bytes_of() { find "$@" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d\n", s}'; }

# sum of busy jiffies (user nice system irq softirq steal) of the whole box, from /proc/stat
box_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }
maxof()  { printf '%s\n' "$@" | sort -g | tail -1; }
minof()  { printf '%s\n' "$@" | sort -g | head -1; }

slug() { printf '%s' "$*" | tr -c 'A-Za-z0-9._-' '_'; }

warm_cache() { # read files so that measurements start from a warm page cache
  local p; for p in "$@"; do find "$p" -type f -print0 | xargs -0 cat > /dev/null; done
}

# measure GROUP NAME DATASET INPUT_BYTES RUNS PREP CMD [NOTE]
#   Runs PREP (untimed, e.g. rm the destination; sync) then CMD under `/usr/bin/time -v`,
#   RUNS times. Records per run: wall (ns clock around the process), CPU = user+sys of CMD and
#   all its waited-for descendants, box CPU = busy CPU of the whole machine during the run
#   (includes servers: nginx, sshd, remote rsync), peak RSS = largest single process of the tree.
#   Appends the median/min/max to results.tsv. RUNS=1 measurements say so in the table.
#   Multi-run measurements are preceded by BENCH_WARMUP untimed runs (PREP + CMD).
measure() {
  local group=$1 name=$2 ds=$3 bytes=$4 runs=$5 prep=$6 cmd=$7 note=${8:-}
  local id; id=$(slug "$group.$name.$ds")
  local tf=$RAW_DIR/$id.time out=$RAW_DIR/$id.out
  local walls=() cpus=() boxes=() rsss=() i rc=0 status=ok
  log "measure [$group] $name ($ds) x$runs: $cmd"
  if [ "$runs" -gt 1 ]; then
    for ((i = 1; i <= BENCH_WARMUP; i++)); do
      if [ -n "$prep" ]; then bash -c "$prep" > "$RAW_DIR/$id.prep" 2>&1 || die "prep failed: $prep"; fi
      bash -c "$cmd" > "$out" 2>&1 || log "  warm-up run failed (rc=$?)"
    done
  fi
  for ((i = 1; i <= runs; i++)); do
    if [ -n "$prep" ]; then bash -c "$prep" > "$RAW_DIR/$id.prep" 2>&1 || die "prep failed: $prep"; fi
    local b0 b1 t0 t1
    b0=$(box_busy); t0=$(date +%s%N)
    set +e
    /usr/bin/time -v -o "$tf" bash -c "$cmd" > "$out" 2>&1
    rc=$?
    set -e
    t1=$(date +%s%N); b1=$(box_busy)
    local u s m wall cpu box
    u=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$tf")
    s=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$tf")
    m=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
    cpu=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN{printf "%.2f", u+s}')
    box=$(awk -v a="$b0" -v b="$b1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/h}')
    printf '%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$group" "$name" "$ds" "$i" "$wall" "$cpu" "$box" "${m:-0}" "$rc" >> "$RUNS_TSV"
    log "  run $i: wall=${wall}s cpu=${cpu}s box=${box}s rss=${m}KiB rc=$rc"
    if [ "$rc" -ne 0 ]; then status="FAIL(rc=$rc)"; tail -5 "$out" >&2; fi
    walls+=("$wall"); cpus+=("$cpu"); boxes+=("$box"); rsss+=("${m:-0}")
  done
  printf '%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$group" "$name" "$ds" "$bytes" "$runs" "$(median "${walls[@]}")" "$(minof "${walls[@]}")" \
    "$(maxof "${walls[@]}")" "$(median "${cpus[@]}")" "$(median "${boxes[@]}")" "$(maxof "${rsss[@]}")" \
    "$status" "$note" "$cmd" >> "$RESULTS_TSV"
  MEASURE_WALL=$(median "${walls[@]}")   # for callers that derive notes
}

# record GROUP NAME DATASET VALUE UNIT NOTE CMD — a figure the tool measured itself (openssl speed, iperf3)
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" >> "$BENCH_RESULTS/figures.tsv"
  log "figure [$1] $2 ($3): $4 $5 $6"
}

# ---- server lifecycle: every server we start is recorded and stopped by its PID -------------
SERVER_PIDS=()
stop_servers() {
  local p
  for p in "${SERVER_PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
      log "stopped server pid $p"
    fi
  done
  SERVER_PIDS=()
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
wait_port() { local i; for i in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }
