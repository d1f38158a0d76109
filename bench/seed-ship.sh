#!/usr/bin/env bash
# Copied from the project's baseline kit (shared/bench/seed-ship.sh, labsync baseline); keep in sync by hand.
# seed-ship.sh MODE LEVEL PARENT RUN OUTBOX URL — ship one run the way the Python reference
# shipper (shared/seeds 004, ShipperQueue._tar_episode + transport.ship_tarball) does, in shell:
#   MODE=seed    tar -cf - -C PARENT RUN | zstd -q -T0 -LEVEL > OUTBOX/RUN.tar.zst.partial
#                sha256sum OUTBOX/RUN.tar.zst.partial            (second pass over the archive)
#                mv .partial -> OUTBOX/RUN.tar.zst
#                curl -T OUTBOX/RUN.tar.zst -H "X-Content-SHA256: <sha>" URL/RUN   (HTTP PUT)
#                rm OUTBOX/RUN.tar.zst                            (retire after 2xx)
#   MODE=onepass same, but the archive is hashed while it is written
#                (tar | zstd | tee .partial | openssl dgst -sha256) — the engine's intended shape.
# If SEED_PHASE_LOG is set, appends "phase<TAB>seconds" lines (compress, sha256, put) and
# "bytes<TAB>archive size" to it.
set -euo pipefail
mode=$1 lvl=$2 parent=$3 run=$4 outbox=$5 url=$6
partial=$outbox/$run.tar.zst.partial final=$outbox/$run.tar.zst
t0=$EPOCHREALTIME
if [ "$mode" = onepass ]; then
  sha=$(tar -cf - -C "$parent" "$run" | zstd -q -T0 "-$lvl" | tee "$partial" | openssl dgst -sha256 -r | cut -c1-64)
  t1=$EPOCHREALTIME; t2=$t1
else
  tar -cf - -C "$parent" "$run" | zstd -q -T0 "-$lvl" > "$partial"
  t1=$EPOCHREALTIME
  sha=$(sha256sum "$partial" | cut -c1-64)
  t2=$EPOCHREALTIME
fi
mv "$partial" "$final"
size=$(stat -c %s "$final")
curl -sS -f -o /dev/null -T "$final" -H "X-Content-SHA256: $sha" "$url/$run"
t3=$EPOCHREALTIME
rm -f "$final"
if [ -n "${SEED_PHASE_LOG:-}" ]; then
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v s="$size" \
    'BEGIN{printf "compress\t%.6f\nsha256\t%.6f\nput\t%.6f\nbytes\t%d\n", b-a, c-b, d-c, s}' >> "$SEED_PHASE_LOG"
fi
