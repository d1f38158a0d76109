# servers.sh — loopback servers for bench/run.sh (source it after lib.sh). Every server is
# recorded in SERVER_PIDS and stopped by its PID (lib.sh stop_servers).
# start_nginx / start_sshd are adapted from the project's baseline kit (shared/bench/peers.sh).
NGINX_PORT=${NGINX_PORT:-18080}
SSH_PORT=${SSH_PORT:-2222}
SSH_USER=${SSH_USER:-lsbench}
DST=$BENCH_WORK/dst

# syncd-receiver on 127.0.0.1:0, plain HTTP, no auth (loopback only); RX_URL, RX_STORE.
start_receiver() {
  RX_STORE=$BENCH_WORK/rx-store
  rm -rf "$RX_STORE"; mkdir -p "$RX_STORE"
  "$RECEIVER" --listen 127.0.0.1:0 --store "$RX_STORE" --insecure-no-auth > "$BENCH_WORK/rx.out" 2> "$BENCH_WORK/rx.err" &
  RX_PID=$!; SERVER_PIDS+=("$RX_PID")
  for _ in $(seq 100); do grep -q 'listening on' "$BENCH_WORK/rx.out" 2>/dev/null && break; sleep 0.1; done
  RX_URL="http://$(sed -n 's/^listening on //p' "$BENCH_WORK/rx.out" | head -1)"
  [ "$RX_URL" != "http://" ] || die "syncd-receiver did not start: $(cat "$BENCH_WORK/rx.err")"
  log "syncd-receiver pid $RX_PID on $RX_URL"
}
rx_peak_rss() { awk '/VmHWM/{print $2}' "/proc/$RX_PID/status" 2>/dev/null || echo 0; }

NGX=$BENCH_WORK/nginx
start_nginx() {
  port_free "$NGINX_PORT" || die "port $NGINX_PORT busy"
  rm -rf "$NGX"; mkdir -p "$NGX/store" "$NGX/tmp" "$NGX/logs"
  chown -R nobody:nogroup "$NGX/store" "$NGX/tmp"
  cat > "$NGX/nginx.conf" <<NGINX
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $NGX/tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGX/store;
    location / { dav_methods PUT DELETE; create_full_put_path on; dav_access user:rw group:r all:r; client_max_body_size 0; }
  }
}
NGINX
  /usr/sbin/nginx -c "$NGX/nginx.conf" -p "$NGX" -e "$NGX/logs/error.log"
  for _ in $(seq 50); do [ -s "$NGX/nginx.pid" ] && break; sleep 0.1; done
  NGINX_PID=$(cat "$NGX/nginx.pid"); SERVER_PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PORT" || die "nginx did not start"
  NGINX_URL=http://127.0.0.1:$NGINX_PORT
  log "nginx master pid $NGINX_PID on $NGINX_URL"
}

SSHD=$BENCH_WORK/ssh
SSHCFG=$SSHD/ssh_config
start_sshd() {
  port_free "$SSH_PORT" || die "port $SSH_PORT busy"
  # A dedicated login user with a clean home (root's shell start-up would be charged to rsync).
  id "$SSH_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$SSH_USER"
  usermod -p '*' "$SSH_USER"
  rm -rf "$SSHD"; mkdir -p "$SSHD" /run/sshd; chmod 755 "$SSHD"
  install -d -o "$SSH_USER" "$DST"
  ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$SSHD/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$SSHD/id_ed25519"
  install -m 644 "$SSHD/id_ed25519.pub" "$SSHD/authorized_keys"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$SSHD/host_ed25519.pub")" > "$SSHD/known_hosts"
  cat > "$SSHD/sshd_config" <<SSHDCONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSHD/host_ed25519
PidFile $SSHD/sshd.pid
AuthorizedKeysFile $SSHD/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $SSH_USER
UsePAM no
StrictModes no
PrintMotd no
MaxStartups 64:30:128
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
SSHDCONF
  cat > "$SSHCFG" <<SSHCONF
Host benchhost
  HostName 127.0.0.1
  Port $SSH_PORT
  User $SSH_USER
  IdentityFile $SSHD/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $SSHD/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
SSHCONF
  /usr/sbin/sshd -t -f "$SSHD/sshd_config" || die "sshd config invalid"
  /usr/sbin/sshd -f "$SSHD/sshd_config" -D -e 2> "$SSHD/sshd.log" &
  SSHD_PID=$!; SERVER_PIDS+=("$SSHD_PID")
  wait_port "$SSH_PORT" || die "sshd did not start"
  ssh -F "$SSHCFG" benchhost true || die "ssh login to the private sshd failed"
  log "sshd pid $SSHD_PID on 127.0.0.1:$SSH_PORT (user $SSH_USER)"
}
