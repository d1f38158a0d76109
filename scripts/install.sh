#!/usr/bin/env bash
# Installs labsync on this host: binaries, systemd units, a config skeleton and the system users.
# Idempotent: re-running upgrades the binaries and units and never overwrites an existing config.
# It does not enable or start anything; it prints the commands to do so.
#
#   sudo scripts/install.sh [BUILD_DIR]        (default: build; run `make build` first)
#
# Environment: PREFIX (default /usr/local), SYSCONFDIR (/etc/labsync), UNITDIR (/etc/systemd/system),
# DESTDIR (staging root for packaging), SET_OWNERS (1: create the system users and give each file
# its owner; default 1 without DESTDIR, 0 with it, so a packaging stage needs no root).
#
# Who reads what: /etc/labsync is root:root 0755 and holds both services' configs, each readable
# only by its own service: syncd.toml root:labsync 0640 (syncd.service runs as labsync),
# receiver.toml root:labsync-receiver 0640 (syncd-receiver.service runs as labsync-receiver).
# Secrets (tokens, keys) belong to the service user that reads them, mode 0600.
set -euo pipefail

build_dir=${1:-build}
prefix=${PREFIX:-/usr/local}
sysconf=${SYSCONFDIR:-/etc/labsync}
unitdir=${UNITDIR:-/etc/systemd/system}
dest=${DESTDIR:-}
if [[ -z $dest ]]; then set_owners=${SET_OWNERS:-1}; else set_owners=${SET_OWNERS:-0}; fi
src=$(cd "$(dirname "$0")/.." && pwd)

syncd=$build_dir/apps/syncd/syncd
receiver=$build_dir/apps/syncd-receiver/syncd-receiver
for bin in "$syncd" "$receiver"; do
    [[ -x $bin ]] || { echo "install: $bin is missing; run \`make build\` first" >&2; exit 2; }
done
if [[ $set_owners == 1 && $(id -u) -ne 0 ]]; then
    echo "install: run as root (or set DESTDIR to stage the files without owners)" >&2
    exit 2
fi

say() { printf 'install: %s\n' "$*"; }

# System users: syncd runs as labsync, the receiver as labsync-receiver (no login, no home).
# Under a lock, so that two installs at once (or tests) never race to create the same user.
if [[ $set_owners == 1 ]]; then
    lock_dir=/run/lock
    [[ -d $lock_dir ]] || lock_dir=/tmp
    exec 9> "$lock_dir/labsync-install-users.lock"
    flock 9
    for user in labsync labsync-receiver; do
        if ! getent group "$user" > /dev/null; then groupadd --system "$user"; say "group $user created"; fi
        if ! id -u "$user" > /dev/null 2>&1; then
            useradd --system --gid "$user" --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$user"
            say "user $user created"
        fi
    done
    flock -u 9
fi

# Binaries and docs (replaced on upgrade; `install` writes a new inode, so a running daemon keeps
# its old binary until restarted).
install -d "$dest$prefix/bin" "$dest$prefix/share/doc/labsync/examples"
install -m 0755 "$syncd" "$dest$prefix/bin/syncd"
install -m 0755 "$receiver" "$dest$prefix/bin/syncd-receiver"
for doc in configuration.md operations.md protocol.md architecture.md grafana-dashboard.json; do
    [[ -f $src/docs/$doc ]] && install -m 0644 "$src/docs/$doc" "$dest$prefix/share/doc/labsync/$doc"
done
install -m 0644 "$src/examples/syncd.toml" "$src/examples/receiver.toml" "$dest$prefix/share/doc/labsync/examples/"
say "binaries in $prefix/bin, docs in $prefix/share/doc/labsync"

# Units: the paths in them follow PREFIX and SYSCONFDIR.
install -d "$dest$unitdir"
for unit in syncd.service syncd-receiver.service; do
    sed -e "s#/usr/local/bin/#$prefix/bin/#g" -e "s#/etc/labsync/#$sysconf/#g" \
        -e "s#/usr/local/share/doc/#$prefix/share/doc/#g" \
        "$src/packaging/systemd/$unit" > "$dest$unitdir/$unit.new"
    chmod 0644 "$dest$unitdir/$unit.new"
    mv "$dest$unitdir/$unit.new" "$dest$unitdir/$unit"
done
say "units in $unitdir"

# Config skeleton: only when absent (an operator's config is never touched). The directory is
# world-traversable (an earlier version made it root:labsync 0750, which locked the receiver out);
# each file is readable by its own service only.
install -d -m 0755 "$dest$sysconf"
for cfg in syncd.toml receiver.toml; do
    if [[ -e $dest$sysconf/$cfg ]]; then
        say "$sysconf/$cfg exists; kept (the new example is in $prefix/share/doc/labsync/examples/$cfg)"
    else
        install -m 0640 "$src/examples/$cfg" "$dest$sysconf/$cfg"
        say "$sysconf/$cfg written from the example: edit it"
    fi
done

# State and store directories.
install -d -m 0750 "$dest/var/lib/labsync" "$dest/srv/labsync/store"
if [[ $set_owners == 1 ]]; then
    chown root:root "$dest$sysconf"
    chmod 0755 "$dest$sysconf"
    chown root:labsync "$dest$sysconf/syncd.toml"
    chown root:labsync-receiver "$dest$sysconf/receiver.toml"
    chown labsync:labsync "$dest/var/lib/labsync"
    chown labsync-receiver:labsync-receiver "$dest/srv/labsync/store"
fi
if [[ -z $dest && -d /run/systemd/system ]]; then systemctl daemon-reload; fi

cat <<NEXT
install: done. Next steps:
  1. edit $sysconf/syncd.toml (runs roots, destinations) and list every runs_root in
     ReadWritePaths= of $unitdir/syncd.service (systemctl edit syncd)
  2. syncd config check $sysconf/syncd.toml && syncd doctor --config $sysconf/syncd.toml
  3. systemctl enable --now syncd            (and on the collector: syncd-receiver)
  4. add operators to the labsync group to use \`syncd status\`, \`syncd retry\`, ...
NEXT
