#!/usr/bin/env bash
# make demo: ships one sample run through a real syncd and a real syncd-receiver on this machine.
# In a temporary directory: a self-signed CA and server certificate (openssl) and a bearer token,
# syncd-receiver on 127.0.0.1 (any free port, parsed from its `listening on` line), syncd with
# the embedded default configuration pointing at it. A sample run is written with its marker; the
# script waits until the run is verified and its local copy cleaned, prints `syncd status` and the
# receiver's record, stops both processes by PID and exits 0.
#
#   scripts/demo.sh [BUILD_DIR]      (default: build)
set -euo pipefail

build_dir=${1:-build}
syncd=$build_dir/apps/syncd/syncd
receiver=$build_dir/apps/syncd-receiver/syncd-receiver
for bin in "$syncd" "$receiver"; do
    if [[ ! -x $bin ]]; then
        echo "demo: $bin is missing; run \`make build\` first" >&2
        exit 2
    fi
done
syncd=$(realpath "$syncd")
receiver=$(realpath "$receiver")

demo=$(mktemp -d "${TMPDIR:-/tmp}/labsync-demo.XXXXXX")
receiver_pid=""
syncd_pid=""
cleanup() {
    local rc=$?
    [[ -n $syncd_pid ]] && kill -TERM "$syncd_pid" 2>/dev/null && wait "$syncd_pid" 2>/dev/null || true
    [[ -n $receiver_pid ]] && kill -TERM "$receiver_pid" 2>/dev/null && wait "$receiver_pid" 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then
        echo "demo: FAILED (exit $rc); logs:" >&2
        tail -n 30 "$demo/syncd.log" "$demo/receiver.log" >&2 2>/dev/null || true
        echo "demo: directory kept: $demo" >&2
    else
        rm -rf "$demo"
    fi
    exit $rc
}
trap cleanup EXIT
started=$(date +%s%N)
step() { printf '\n== %s (%.1f s)\n' "$1" "$(( ($(date +%s%N) - started) / 1000000 ))e-3"; }

step "certificates and token in $demo/pki"
mkdir -p "$demo/pki" "$demo/store" "$demo/runs/demo-scope"
(
    cd "$demo/pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=labsync demo CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
        -out server.pem 2>/dev/null
    openssl rand -hex 24 > token
    printf '%s demo-scope demo\n' "$(cat token)" > tokens
    chmod 600 ca.key server.key token tokens
)

step "starting syncd-receiver"
"$receiver" --listen 127.0.0.1:0 --store "$demo/store" --tls-cert "$demo/pki/server.pem" \
    --tls-key "$demo/pki/server.key" --tokens "$demo/pki/tokens" > "$demo/receiver.out" 2> "$demo/receiver.log" &
receiver_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$demo/receiver.out" | head -n1)
    [[ -n $port ]] && break
    kill -0 "$receiver_pid" 2>/dev/null || { echo "demo: syncd-receiver exited" >&2; exit 1; }
    sleep 0.1
done
[[ -n $port ]] || { echo "demo: syncd-receiver did not report its port" >&2; exit 1; }
url="https://127.0.0.1:$port"
echo "syncd-receiver pid $receiver_pid at $url"

step "starting syncd with the embedded default configuration"
"$syncd" config default --dir "$demo" --receiver-url "$url" > "$demo/syncd.toml"
"$syncd" config check "$demo/syncd.toml"
"$syncd" run --config "$demo/syncd.toml" --log-format text > "$demo/syncd.out" 2> "$demo/syncd.log" &
syncd_pid=$!
for _ in $(seq 1 100); do
    grep -q "syncd ready" "$demo/syncd.out" && break
    kill -0 "$syncd_pid" 2>/dev/null || { echo "demo: syncd exited" >&2; exit 1; }
    sleep 0.1
done
grep -q "syncd ready" "$demo/syncd.out" || { echo "demo: syncd did not become ready" >&2; exit 1; }
echo "syncd pid $syncd_pid ($(cat "$demo/syncd.out"))"

step "writing a sample run"
run="$demo/runs/demo-scope/run-0001"
mkdir -p "$run/raw"
for i in 1 2 3; do head -c 1048576 /dev/urandom > "$run/raw/frame-$i.bin"; done
printf '{"instrument":"demo-scope","operator":"demo"}\n' > "$run/meta.json"
touch "$run/done.marker"
echo "$run: $(du -sh "$run" | cut -f1)"

step "waiting until the run is verified and cleaned"
state=""
in_state() {
    local jobs
    jobs=$("$syncd" list --config "$demo/syncd.toml" --state "$1" --json) || return 1
    grep -q '"run-0001"' <<< "$jobs"
}
for _ in $(seq 1 300); do
    if in_state cleaned; then state=cleaned; break; fi
    for bad in failed blocked_by_validation; do
        in_state $bad && { echo "demo: the job ended $bad:" >&2; "$syncd" list --config "$demo/syncd.toml" >&2; exit 1; }
    done
    sleep 0.2  # polling the daemon's job list (documented in the demo)
done
[[ $state == cleaned ]] || { echo "demo: run not cleaned in time (state: ${state:-none})" >&2; exit 1; }
[[ ! -e $run ]] || { echo "demo: local copy still present" >&2; exit 1; }
echo "run-0001 is $state; local copy removed"

step "syncd status"
"$syncd" status --config "$demo/syncd.toml"

step "the receiver's record"
curl -sS --fail --cacert "$demo/pki/ca.pem" -H "Authorization: Bearer $(cat "$demo/pki/token")" \
    "$url/v1/runs/demo-scope/run-0001"
echo

step "stopping syncd and syncd-receiver"
kill -TERM "$syncd_pid"
wait "$syncd_pid"
syncd_pid=""
kill -TERM "$receiver_pid"
wait "$receiver_pid" || true
receiver_pid=""
step "demo ok"
