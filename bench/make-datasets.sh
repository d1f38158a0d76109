#!/usr/bin/env bash
# Copied from the project's baseline kit (shared/bench/make-datasets.sh, labsync baseline); keep in sync by hand.
# make-datasets.sh DIR — deterministically generate the three labsync benchmark datasets.
#
#   DIR/mixed/run-0001/   1 GiB of payload: 64 x 12 MiB incompressible (data-NNN.bin)
#                         + 64 x 4 MiB compressible numeric CSV (log-NNN.csv)
#                         + meta.json + done.marker
#   DIR/small/run-0001/   20,000 x 4 KiB CSV-like files in d000..d099 (200 each) + done.marker
#   DIR/many/run-0001..run-0500/
#                         500 runs x 1 MiB: data-0.bin, data-1.bin (random, 256 KiB each)
#                         + log-0.csv, log-1.csv (CSV-like, 256 KiB each) + done.marker
#
# Determinism: random bytes are the AES-256-CTR keystream (openssl enc over /dev/zero) under
# key = SHA-256("labsync-bench-v1/<stream label>"), IV 0 — identical on any machine/openssl.
# Text is produced by Python's random.Random(seed) (MT19937; stable across CPython >= 3.2),
# seed = first 8 bytes of SHA-256("labsync-bench-v1/<file label>"). All files and directories
# get mtime 2026-11-01T00:00:00Z, so a regenerated dataset is byte- and metadata-identical
# (apart from ownership/ctime). DIR/manifest-<ds>.sha256 lists every file's sha256; the
# script prints the sha256 of each manifest, which must match BASELINE.md.
#
# Usage: bench/make-datasets.sh [DIR]        (default: $BENCH_DATA or /tmp/benchdata)
#        ONLY="mixed small" bench/make-datasets.sh DIR   (subset)
set -euo pipefail
DIR=${1:-${BENCH_DATA:-/tmp/benchdata}}
ONLY=${ONLY:-"mixed small many"}
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
start=$(date +%s.%N)

for ds in $ONLY; do rm -rf "${DIR:?}/$ds" "$DIR/manifest-$ds.sha256"; done
rm -f "$DIR/.complete-v1"

python3 - "$DIR" "$ONLY" <<'PY'
import hashlib, json, os, random, subprocess, sys
from multiprocessing import Pool

ROOT, ONLY = sys.argv[1], sys.argv[2].split()
MTIME = 1793491200            # 2026-11-01T00:00:00Z
KiB, MiB = 1024, 1024 * 1024
TAG = b"labsync-bench-v1/"

def seed_of(label):
    return int.from_bytes(hashlib.sha256(TAG + label.encode()).digest()[:8], "little")

class KeyStream:
    """AES-256-CTR keystream from openssl; read() hands out consecutive slices."""
    def __init__(self, label):
        key = hashlib.sha256(TAG + label.encode()).hexdigest()
        self.p = subprocess.Popen(
            ["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key, "-iv", "0" * 32,
             "-in", "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            bufsize=4 * MiB)
    def read(self, n):
        b = self.p.stdout.read(n)
        assert len(b) == n, "short read from openssl"
        return b
    def close(self):
        self.p.kill(); self.p.wait()

def text_bytes(label, nbytes):
    """Instrument-log-like numeric CSV (zstd -3 ratio ~2.7)."""
    r = random.Random(seed_of(label))
    rnd, gb = r.random, r.getrandbits
    t0 = 1793491200 + gb(20)
    out, size, i = [], 0, 0
    while size < nbytes:
        s = "".join(["%d.%03d,%d,ch%02d,%.6f,%.4f,%d,%s\n" % (
            t0 + (i + k) // 1000, (i + k) % 1000, i + k, gb(4), rnd() * 100 - 50,
            rnd() * 1e4, gb(16), "OK" if gb(3) else "WARN") for k in range(2000)])
        out.append(s); size += len(s); i += 2000
    return "".join(out).encode()[:nbytes]

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (MTIME, MTIME))

def text_task(task):
    kind, path, label, size = task
    if kind == "file":
        write(path, text_bytes(label, size))
    else:                                   # "split": one stream cut into 4 KiB files
        os.makedirs(path, exist_ok=True)
        data = text_bytes(label, size * 200)
        for j in range(200):
            write(os.path.join(path, "f%04d.csv" % j), data[j * size:(j + 1) * size])
    return path

text_tasks, rand_jobs = [], []   # rand_jobs: (stream label, [(path, size), ...])

if "mixed" in ONLY:
    run = os.path.join(ROOT, "mixed", "run-0001"); os.makedirs(run)
    rand_jobs.append(("mixed/bin", [(os.path.join(run, "data-%03d.bin" % i), 12 * MiB) for i in range(64)]))
    text_tasks += [("file", os.path.join(run, "log-%03d.csv" % i), "mixed/log-%03d" % i, 4 * MiB) for i in range(64)]
if "small" in ONLY:
    run = os.path.join(ROOT, "small", "run-0001"); os.makedirs(run)
    text_tasks += [("split", os.path.join(run, "d%03d" % d), "small/d%03d" % d, 4 * KiB) for d in range(100)]
if "many" in ONLY:
    files = []
    for n in range(1, 501):
        run = os.path.join(ROOT, "many", "run-%04d" % n); os.makedirs(run)
        files += [(os.path.join(run, "data-%d.bin" % i), 256 * KiB) for i in range(2)]
        text_tasks += [("file", os.path.join(run, "log-%d.csv" % i), "many/run-%04d/log-%d" % (n, i), 256 * KiB) for i in range(2)]
    rand_jobs.append(("many/bin", files))

with Pool(2) as pool:
    pending = pool.map_async(text_task, text_tasks, chunksize=4)
    for label, files in rand_jobs:          # random files are written meanwhile, in this process
        ks = KeyStream(label)
        for path, size in files:
            write(path, ks.read(size))
        ks.close()
    pending.get()

if "mixed" in ONLY:
    run = os.path.join(ROOT, "mixed", "run-0001")
    meta = {"schema": "labsync-bench/1", "equipment": "bench-mixed", "run_id": "run-0001",
            "created": "2026-11-01T00:00:00Z", "files": {"data-NNN.bin": [64, 12 * MiB], "log-NNN.csv": [64, 4 * MiB]},
            "payload_bytes": 64 * 16 * MiB, "generator": "bench/make-datasets.sh v1"}
    write(os.path.join(run, "meta.json"), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
for ds in ONLY:
    base = os.path.join(ROOT, ds)
    for run in sorted(os.listdir(base)):
        write(os.path.join(base, run, "done.marker"), b"")
    for d, _, _ in sorted(os.walk(base), key=lambda t: -t[0].count(os.sep)):
        os.utime(d, (MTIME, MTIME))
PY

for ds in $ONLY; do
  ( cd "$DIR/$ds" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum ) > "$DIR/manifest-$ds.sha256"
done
[ "$ONLY" = "mixed small many" ] && date -u +%FT%TZ > "$DIR/.complete-v1"
end=$(date +%s.%N)
for ds in $ONLY; do
  printf '%-6s files=%-6s bytes=%-11s manifest-sha256=%s\n' "$ds" \
    "$(find "$DIR/$ds" -type f | wc -l)" "$(find "$DIR/$ds" -type f -printf '%s\n' | awk '{s+=$1} END{print s}')" \
    "$(sha256sum < "$DIR/manifest-$ds.sha256" | cut -c1-64)"
done
awk -v a="$start" -v b="$end" 'BEGIN{printf "generated in %.1f s\n", b-a}'
