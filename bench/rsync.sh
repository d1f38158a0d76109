#!/usr/bin/env bash
# rsync_ssh and rclone drivers against bare rsync / rclone, over a private sshd on loopback.
#
#   bench/rsync.sh                 setup, time every case (median of $N runs), teardown
#   bench/rsync.sh drivers         issue 16's driver rows only (rsync_ssh on mixed and small, rclone
#                                  on mixed and many), each pair in the same run, median of $N
#   bench/rsync.sh setup           start the private sshd, keep it (state in $STATE)
#   bench/rsync.sh one CASE        run one case once (for an external timer)
#   bench/rsync.sh teardown        stop the sshd (by its PID), remove the state
#
# Cases: driver-mixed bare-mixed driver-small bare-small driver-many bare-many rclone-driver-mixed
#        rclone-push-mixed rclone-bare-mixed driver-many-nosync, and against rclone's local backend
#        rclocal-driver-mixed rclocal-bare-mixed rclocal-driver-many rclocal-bare-many
#        (rclone-push-mixed: the driver without its verify; driver-many-nosync: without the remote
#        sync; rclocal-bare-*: ONE `rclone copy` + `rclone check` of the whole data set).
# A driver case ships run by run and verifies each as the engine does (transport_bench: the
# push's evidence, else a probe); a bare rsync case is `rsync -a` over a fresh ssh connection.
# Needs root (creates the unprivileged user labsync-test once), rsync, openssh-server, rclone.
# BENCH: the transport_bench binary (built from tests/transports), DATA: the bench data sets.
set -euo pipefail

BENCH=${BENCH:-$(dirname "$0")/../build/tests/transports/transport_bench}
DATA=${DATA:-/tmp/benchdata}
STATE=${STATE:-/tmp/labsync-rsync-bench}
N=${N:-5}
USER_NAME=labsync-test

setup() {
    mkdir -p "$STATE" && chmod 755 "$STATE"
    id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USER_NAME"
    usermod -p '*' "$USER_NAME"   # "!" (locked) is refused by sshd without PAM
    mkdir -p /run/sshd
    rm -f "$STATE"/host "$STATE"/host.pub "$STATE"/client "$STATE"/client.pub
    ssh-keygen -q -t ed25519 -N '' -f "$STATE/host"
    ssh-keygen -q -t ed25519 -N '' -f "$STATE/client"
    cp "$STATE/client.pub" "$STATE/authorized_keys" && chmod 644 "$STATE/authorized_keys"
    mkdir -p "$STATE/dest" && chown "$USER_NAME" "$STATE/dest"
    for _ in 1 2 3 4 5; do
        port=$(shuf -i 20000-60000 -n 1)
        cat >"$STATE/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $STATE/host
PidFile none
AuthorizedKeysFile $STATE/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $USER_NAME
MaxStartups 200:30:400
UseDNS no
Subsystem sftp internal-sftp
CONF
        /usr/sbin/sshd -D -e -f "$STATE/sshd_config" 2>"$STATE/sshd.log" &
        echo $! >"$STATE/sshd.pid"
        for _ in $(seq 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
            kill -0 "$(cat "$STATE/sshd.pid")" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$(cat "$STATE/sshd.pid")" 2>/dev/null; then break; fi
    done
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$STATE/host.pub")" >"$STATE/known_hosts"
    echo "$port" >"$STATE/port"
    cat >"$STATE/rclone.conf" <<CONF
[nas]
type = sftp
host = 127.0.0.1
port = $port
user = $USER_NAME
key_file = $STATE/client
known_hosts_file = $STATE/known_hosts
shell_type = unix
md5sum_command = md5sum
sha1sum_command = sha1sum

[local]
type = local
CONF
}

teardown() {
    [ -f "$STATE/sshd.pid" ] && kill "$(cat "$STATE/sshd.pid")" 2>/dev/null || true
    rm -rf "$STATE"
}

fresh() { rm -rf "$STATE/dest/$1" && mkdir -p "$STATE/dest/$1" && chown "$USER_NAME" "$STATE/dest/$1"; }

one() {
    local port rsh
    port=$(cat "$STATE/port")
    # Bare rsync: a new ssh connection per invocation, same key/known_hosts checks as the driver.
    rsh="ssh -F /dev/null -o BatchMode=yes -i $STATE/client -p $port -o UserKnownHostsFile=$STATE/known_hosts -o StrictHostKeyChecking=yes"
    case "$1" in
    driver-mixed)
        fresh drv
        "$BENCH" rsync 127.0.0.1 "$port" "$USER_NAME" "$STATE/client" "$STATE/known_hosts" "$STATE/dest/drv" \
            bench "$DATA"/mixed/run-*/ ;;
    bare-mixed)
        fresh bare
        for r in "$DATA"/mixed/run-*/; do rsync -a -e "$rsh" "$r" "$USER_NAME@127.0.0.1:$STATE/dest/bare/$(basename "$r")/"; done ;;
    driver-small)
        fresh drv
        "$BENCH" rsync 127.0.0.1 "$port" "$USER_NAME" "$STATE/client" "$STATE/known_hosts" "$STATE/dest/drv" \
            bench "$DATA"/small/run-*/ ;;
    bare-small)
        fresh bare
        for r in "$DATA"/small/run-*/; do rsync -a -e "$rsh" "$r" "$USER_NAME@127.0.0.1:$STATE/dest/bare/$(basename "$r")/"; done ;;
    driver-many)
        fresh drv
        "$BENCH" rsync 127.0.0.1 "$port" "$USER_NAME" "$STATE/client" "$STATE/known_hosts" "$STATE/dest/drv" \
            bench "$DATA"/many/run-*/ ;;
    driver-many-nosync)
        fresh drv
        REMOTE_SYNC=0 "$BENCH" rsync 127.0.0.1 "$port" "$USER_NAME" "$STATE/client" "$STATE/known_hosts" \
            "$STATE/dest/drv" bench "$DATA"/many/run-*/ ;;
    bare-many)
        fresh bare
        for r in "$DATA"/many/run-*/; do rsync -a -e "$rsh" "$r" "$USER_NAME@127.0.0.1:$STATE/dest/bare/$(basename "$r")/"; done ;;
    rclone-driver-mixed)
        fresh rdrv
        "$BENCH" rclone "$STATE/rclone.conf" "nas:$STATE/dest/rdrv" bench "$DATA"/mixed/run-*/ 2>/dev/null ;;
    rclone-push-mixed)
        fresh rdrv
        PUSH_ONLY=1 "$BENCH" rclone "$STATE/rclone.conf" "nas:$STATE/dest/rdrv" bench "$DATA"/mixed/run-*/ 2>/dev/null ;;
    rclone-bare-mixed)
        fresh rbare
        for r in "$DATA"/mixed/run-*/; do
            rclone copy --config "$STATE/rclone.conf" "$r" "nas:$STATE/dest/rbare/$(basename "$r")"; done ;;
    rclocal-driver-mixed | rclocal-driver-many)
        rm -rf "$STATE/dest/rl"
        "$BENCH" rclone "$STATE/rclone.conf" "local:$STATE/dest/rl" bench "$DATA/${1#rclocal-driver-}"/run-*/ 2>/dev/null ;;
    rclocal-bare-mixed | rclocal-bare-many)
        rm -rf "$STATE/dest/rl"
        rclone copy --config "$STATE/rclone.conf" "$DATA/${1#rclocal-bare-}" "local:$STATE/dest/rl" &&
            rclone check --config "$STATE/rclone.conf" "$DATA/${1#rclocal-bare-}" "local:$STATE/dest/rl" 2>/dev/null ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
    esac
}

median_ms() {
    local times=() t0 t1
    for _ in $(seq "$N"); do
        sync
        t0=$(date +%s%N); one "$1" >/dev/null; t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
    done
    echo "  $1: ${times[*]} ms" >&2
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((N + 1) / 2))p"
}

# pairs "A B" ...: a warm-up of each, then the median of $N runs of each, and A/B.
compare() {
    local pair a b
    for pair in "$@"; do
        set -- $pair
        one "$1" >/dev/null; one "$2" >/dev/null   # warm-up
        a=$(median_ms "$1"); b=$(median_ms "$2")
        echo "$1: ${a} ms   $2: ${b} ms   ratio $(awk "BEGIN{printf \"%.2f\", $a/$b}")"
    done
}

case "${1:-all}" in
setup) setup ;;
teardown) teardown ;;
one) one "$2" ;;
all)
    setup
    trap teardown EXIT
    compare "driver-mixed bare-mixed" "driver-many bare-many" "rclone-push-mixed rclone-bare-mixed" \
        "rclone-driver-mixed rclone-bare-mixed" ;;
drivers)
    setup
    trap teardown EXIT
    compare "driver-mixed bare-mixed" "driver-small bare-small" "rclocal-driver-mixed rclocal-bare-mixed" \
        "rclocal-driver-many rclocal-bare-many" ;;
*) echo "usage: $0 [setup|teardown|one CASE|all|drivers]" >&2; exit 2 ;;
esac
