#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD_DIR for SECONDS each against a copy of its seed corpus.
# Prints one line per target; exits non-zero when a target finds a crash (the reproducer is kept).
set -uo pipefail
build=${1:-build-fuzz}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/labsync-fuzz-XXXXXX)
status=0
for exe in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$exe" ] || continue
  name=${exe##*/fuzz_}
  mkdir -p "$work/$name"
  cp -r "$root/tests/fuzz/corpus/$name/." "$work/$name/" 2>/dev/null || true
  if "$exe" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" > "$work/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . <(ls "$work/$name")) corpus entries, ${seconds}s, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/$name.log" | awk '{print $2}') runs)"
  else
    echo "fuzz $name: FAILED — see $work/$name.log and $work/$name-*"
    status=1
  fi
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
