#!/usr/bin/env bash
# Installs exactly what labsync's build and tests need, from Debian 12 packages.
# Idempotent: runs apt-get update/install only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build ccache make pkg-config git
  # libraries (Boost 1.81 by name: libboost-all-dev is 1.74)
  libboost1.81-dev libboost-filesystem1.81-dev libssl-dev libzstd-dev
  libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libcli11-dev libtomlplusplus-dev libsystemd-dev catch2
  # real peers used by the integration tests
  openssl zstd tar rsync openssh-server openssh-client rclone curl sqlite3 procps strace
  # headless browser for the status page test (tests/apps/status_page_browser_test.cpp)
  chromium
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
