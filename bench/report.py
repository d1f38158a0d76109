#!/usr/bin/env python3
"""Renders bench/run.sh's results.tsv + extra.tsv as Markdown: every measurement, the ratios
labsync / peer, and the goals of issues 3-6 marked met / not met."""
import csv
import os
import sys

d = sys.argv[1]
rows = {}
order = []
with open(os.path.join(d, "results.tsv")) as f:
    for r in csv.reader(f, delimiter="\t"):
        if len(r) < 13:
            continue
        key = (r[1], r[2])
        if key not in rows:
            order.append(key)
        rows[key] = dict(group=r[0], name=r[1], ds=r[2], bytes=int(r[3] or 0), runs=int(r[4]),
                         wall=float(r[5]), wmin=float(r[6]), wmax=float(r[7]), cpu=float(r[8]),
                         box=float(r[9]), rss=int(r[10]), status=r[11], note=r[12])
extra = {}
p = os.path.join(d, "extra.tsv")
if os.path.exists(p):
    for line in open(p):
        k, _, v = line.rstrip("\n").partition("\t")
        extra[k] = v


def mb_s(r):
    ok = r["status"] == "ok" and r["wall"] > 0 and r["bytes"] > 1e6 and r["group"] != "memory"
    return r["bytes"] / r["wall"] / 1e6 if ok else None


print("## Measurements\n")
print("Median wall of the timed runs (min–max); CPU s = user+sys of the command and its children "
      "(servers not included); peak RSS = largest single process; `/usr/bin/time -v`, `date +%s%N`.\n")
print("| group | measurement | dataset | runs | wall s median (min–max) | MB/s | CPU s | peak RSS MiB | status | note |")
print("|---|---|---|---|---|---|---|---|---|---|")
for k in order:
    r = rows[k]
    m = mb_s(r)
    print(f"| {r['group']} | {r['name']} | {r['ds']} | {r['runs']} | {r['wall']:.3f} ({r['wmin']:.3f}–{r['wmax']:.3f}) | "
          f"{'' if m is None else f'{m:.0f}'} | {r['cpu']:.2f} | {r['rss'] / 1024:.1f} | {r['status']} | {r['note']} |")


def get(name, ds):
    return rows.get((name, ds))


def ratio(a, b, scale_b=1.0):
    if not a or not b or a["status"] != "ok" or b["status"] != "ok":
        return None
    return a["wall"] / (b["wall"] * scale_b)


print("\n## Ratios (wall, labsync / peer)\n")
print("| labsync | peer | dataset | ratio |")
print("|---|---|---|---|")
for ds in ("mixed", "small", "many"):
    for kind in ("http_put", "rsync_ssh", "rclone"):
        a = get(f"labsync {kind}", ds)
        for peer in ("seed pipeline zstd -3", "bare rsync -a over ssh, one call", "bare rclone copy + rclone check"):
            x = ratio(a, get(peer, ds))
            if x is not None:
                print(f"| {kind} | {peer} | {ds} | {x:.2f} |")

goals = []


def goal(issue, text, value, limit, unit="×", higher_is_better=False):
    if value is None:
        goals.append((issue, text, "not measured", "—", "n/a"))
        return
    met = value >= limit if higher_is_better else value <= limit
    goals.append((issue, text, f"{value:.2f}{unit}", f"{'≥' if higher_is_better else '≤'} {limit}{unit}",
                   "met" if met else "**not met**"))


# per-run rsync loop: quick mode measures 100 of 500 runs, scale x5
loop = get("bare rsync -a over ssh, one call per run", "many") or get("bare rsync -a over ssh, one call per run", "many100")
loop_scale = 5.0 if loop and loop["ds"] == "many100" else 1.0
man = ratio(get("2 x openssl dgst -sha256 (halves)", "mixed"), get("syncd manifest", "mixed"))
goal(3, "`syncd manifest` throughput vs 2 parallel openssl dgst streams (mixed)", None if man is None else man * 100, 80,
     " %", higher_is_better=True)
goal(3, "`syncd pack` wall vs `tar | zstd -3 -T0` (mixed)",
     ratio(get("syncd pack (archive + hashes, one pass)", "mixed"), get("tar -cf - . | zstd -3 -T0 (no hashing)", "mixed")), 1.0)
nginx = get("curl PUT -> nginx (WebDAV, default)", "mixed-archive")
goal(4, "receiver PUT, member check off vs nginx", ratio(get("curl PUT -> syncd-receiver, member check off", "mixed-archive"), nginx), 1.0)
goal(4, "receiver PUT, member check on vs nginx", ratio(get("curl PUT -> syncd-receiver, member check on", "mixed-archive"), nginx), 1.5)
goal(5, "rsync_ssh driver vs bare rsync -a -e ssh (mixed)", ratio(get("labsync rsync_ssh", "mixed"), get("bare rsync -a over ssh, one call", "mixed")), 1.1)
goal(5, "rsync_ssh driver, 500 runs one by one vs bare rsync once per run (many)",
     ratio(get("labsync rsync_ssh", "many"), loop, loop_scale), 0.3)
goal(5, "rclone driver (copy + verify) vs bare rclone copy + check (mixed)",
     ratio(get("labsync rclone", "mixed"), get("bare rclone copy + rclone check", "mixed")), 1.1)
goal(6, "http_put end to end vs bare rsync -a -e ssh (mixed)", ratio(get("labsync http_put", "mixed"), get("bare rsync -a over ssh, one call", "mixed")), 0.8)
goal(6, "http_put, 500 verified jobs vs one bare rsync call (many)", ratio(get("labsync http_put", "many"), get("bare rsync -a over ssh, one call", "many")), 1.0)
goal(6, "http_put vs seed pipeline zstd -3 (small)", ratio(get("labsync http_put", "small"), get("seed pipeline zstd -3", "small")), 0.7)
lm = get("labsync http_put", "mixed")
goal(6, "peak RSS shipping mixed over http_put (syncd)", None if not lm else lm["rss"] / 1024, 64, " MiB")
big = [r for (n, ds), r in rows.items() if n.startswith("syncd manifest, ") and ds.startswith("files-") and ds != "files-1000"]
small = get("syncd manifest, 1,000 tiny files", "files-1000")
if big and small:
    b = big[0]
    per_file = (b["rss"] - small["rss"]) * 1024 / (b["bytes"] - 1000)
    goal(6, f"memory per file, `syncd manifest` on {b['bytes']:,} files (peak RSS above the 1,000-file run)", per_file, 150, " B")
bigpack = [r for (n, ds), r in rows.items() if n.startswith("syncd pack, ") and ds.startswith("files-")]
small_pack = get("syncd pack, 1,000 tiny files", "files-1000")
if bigpack and small_pack:
    b = bigpack[0]
    goal(6, f"memory per file, `syncd pack` on {b['bytes']:,} files (peak RSS above the 1,000-file run)",
         (b["rss"] - small_pack["rss"]) * 1024 / (b["bytes"] - 1000), 150, " B")
if "idle_cpu_s" in extra:
    secs = float(extra["idle_seconds"])
    goal("SPEC §4", f"idle CPU of `syncd run`, 50 equipment, {secs:.0f} s (share of one core)",
         100 * float(extra["idle_cpu_s"]) / secs, 1.0, " %")

print("\n## Goals (issues 3–6)\n")
print("| issue | goal | measured | limit | verdict |")
print("|---|---|---|---|---|")
for g in goals:
    print(f"| {g[0]} | {g[1]} | {g[2]} | {g[3]} | {g[4]} |")
if extra:
    print("\nOther figures: " + ", ".join(f"{k} = {v}" for k, v in extra.items()))
