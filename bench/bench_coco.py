"""Benchmark: ``convert coco`` on a COCO train2017-sized file against stdlib ``json.load`` of the same file.

Target (issue 2, item 8): the whole conversion (read, check, write the manifest) with ``--trust-sizes``
takes at most 0.7x the time of ``json.load`` on the same file, with a peak RSS no higher. Each measurement
runs in its own subprocess, which reports its own wall time and peak RSS (``ru_maxrss``), so neither the
generator nor the other measurement pollutes the numbers. Times cover the operation only (after imports:
about 0.25 s for manifestkit); the "whole process" column includes interpreter start-up and imports. Both
are measured in the same run, alternately, and the fastest of ``--repeat`` runs is compared, because on a
shared machine noise only adds time.

A second, small measurement converts a few hundred real image files (probing every header) to show the
cost of reading image sizes; it has no target.

Usage: python bench/bench_coco.py [--images 118287] [--repeat 3] [--probe-images 300] [--keep DIR]
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.abspath(os.path.join(REPO, "..", "shared", "bench", "gen_coco.py"))
TIME_RATIO = 0.7

# Each child prints {"seconds": work time, "maxrss_kb": its own peak RSS} as its last line.
JSON_LOAD = """
import json, resource, sys, time
t = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as fp:
    json.load(fp)
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}))
"""

CONVERT = """
import json, resource, sys, time
from manifestkit.convert import convert_coco
t = time.perf_counter()
s = convert_coco(sys.argv[1], sys.argv[2], s3_prefix="s3://bench-bucket/coco/", trust_sizes=sys.argv[3] == "1",
                 images=sys.argv[4] or None, creation_date="2024-01-01T00:00:00")
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss,
                  "images": s.images, "boxes": s.boxes,
                  "notes": {k: n.count for k, n in sorted(s.notes.items())}}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; return its report plus the wall time seen from here."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def generate(out: str, images: int, json_only: bool) -> str:
    cmd = [sys.executable, GEN, "--images", str(images), "--out", out]
    if json_only:
        cmd.append("--json-only")
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"generated {images} images{' (JSON only)' if json_only else ''} in {time.perf_counter() - t:.1f} s",
          flush=True)
    return os.path.join(out, "annotations", "instances_train.json")


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=118287, help="images in the generated COCO file")
    ap.add_argument("--repeat", type=int, default=3, help="measurements of each kind (the fastest is compared)")
    ap.add_argument("--probe-images", type=int, default=300, help="images in the small probe-headers run")
    ap.add_argument("--keep", help="generate into (or reuse) this folder instead of a temporary one")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="mk-bench-coco-") as tmp:
        work = args.keep or tmp
        big = os.path.join(work, "big")
        ann = os.path.join(big, "annotations", "instances_train.json")
        if not os.path.exists(ann):
            generate(big, args.images, json_only=True)
        size = os.path.getsize(ann)
        print(f"input: {ann} ({size / 1e6:.0f} MB)")
        out = os.path.join(work, "out.manifest")

        loads, converts = [], []
        for i in range(args.repeat):
            loads.append(run_child(JSON_LOAD, ann))
            print(f"  run {i + 1}: json.load     {loads[-1]['seconds']:6.2f} s  peak RSS {mb(loads[-1]['maxrss_kb'])}",
                  flush=True)
            converts.append(run_child(CONVERT, ann, out, "1", ""))
            print(f"  run {i + 1}: convert coco  {converts[-1]['seconds']:6.2f} s  peak RSS "
                  f"{mb(converts[-1]['maxrss_kb'])}", flush=True)
        c = converts[-1]
        print(f"converted: {c['images']} images, {c['boxes']} boxes, notes {c['notes']}")
        print(f"manifest: {os.path.getsize(out) / 1e6:.0f} MB")

        # The fastest of the repeats: noise on a shared machine only ever adds time.
        t_load, t_conv = min(r["seconds"] for r in loads), min(r["seconds"] for r in converts)
        c_load, c_conv = min(r["cpu"] for r in loads), min(r["cpu"] for r in converts)
        w_load, w_conv = min(r["wall"] for r in loads), min(r["wall"] for r in converts)
        rss_load = statistics.median(r["maxrss_kb"] for r in loads)
        rss_conv = statistics.median(r["maxrss_kb"] for r in converts)
        ratio = t_conv / t_load
        print()
        print("| operation (best of %d) | wall time | CPU time | whole process | peak RSS |" % args.repeat)
        print("|---|---|---|---|---|")
        print(f"| stdlib json.load | {t_load:.2f} s | {c_load:.2f} s | {w_load:.2f} s | {mb(rss_load)} |")
        print(f"| manifestkit convert coco --trust-sizes | {t_conv:.2f} s | {c_conv:.2f} s | {w_conv:.2f} s | "
              f"{mb(rss_conv)} |")
        print(f"wall time ratio {ratio:.2f} (target <= {TIME_RATIO}); CPU time ratio {c_conv / c_load:.2f}; "
              f"peak RSS ratio {rss_conv / rss_load:.2f} (target <= 1.00)")

        # Reading real image headers: a small set with image files on disk.
        small = os.path.join(work, "small")
        small_ann = os.path.join(small, "annotations", "instances_train.json")
        if not os.path.exists(small_ann):
            generate(small, args.probe_images, json_only=False)
        probe = run_child(CONVERT, small_ann, os.path.join(work, "small.manifest"), "0",
                          os.path.join(small, "images", "train"))
        rate = probe["images"] / probe["seconds"] if probe["seconds"] else float("inf")
        print(f"with image headers probed: {probe['images']} images, {probe['boxes']} boxes in "
              f"{probe['seconds']:.2f} s ({rate:.0f} images/s), notes {probe['notes']}")

    ok = ratio <= TIME_RATIO and rss_conv <= rss_load
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
