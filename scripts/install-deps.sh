#!/usr/bin/env bash
# Installs exactly what labsync needs, from Debian 12 packages.
# Idempotent: runs apt-get update/install only when something is missing.
#
#   scripts/install-deps.sh          what the build and the whole test suite need (make test)
#   scripts/install-deps.sh demo     only what building syncd + syncd-receiver and make demo need
set -euo pipefail

profile=${1:-test}
case $profile in
  demo | test) ;;
  *) echo "install-deps: unknown profile '$profile' (expected demo or test)" >&2; exit 2 ;;
esac

packages=(
  # toolchain
  g++ cmake ninja-build ccache make pkg-config git
  # libraries (Boost 1.81 by name: libboost-all-dev is 1.74)
  libboost1.81-dev libboost-filesystem1.81-dev libssl-dev libzstd-dev
  libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libcli11-dev libtomlplusplus-dev libsystemd-dev catch2
  # the demo's certificates and its look at the receiver
  openssl curl
)
if [ "$profile" = test ]; then
  packages+=(
    # real peers used by the integration tests
    zstd tar rsync openssh-server openssh-client rclone sqlite3 procps strace
    # headless browser for the status page test (tests/apps/status_page_browser_test.cpp)
    chromium
  )
fi

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
