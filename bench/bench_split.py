"""Benchmark ``manifestkit split``: 500,000 manifest lines split in at most 5 s, memory flat in the text.

Generates two manifests in a temporary folder (single-label classification with skewed label counts, and
object detection with ~7 boxes per image over 80 labels, both with some duplicate source-refs and
--group-by groups), splits each in a fresh subprocess and reports wall time and peak RSS.

Targets: each split <= 5 s wall time; peak RSS at most 200 bytes per line on top of the interpreter's
baseline, whatever the line length (the line text is never kept, only a few integers per line and label).
CPU time is printed too: on a machine shared with other work the wall time exceeds it. A manifest from
64 MB on is read by two processes (split.PARALLEL_MIN_BYTES): the worker's CPU time and peak RSS are
printed on their own (it exits before the split process reaches its peak).

Usage: python bench/bench_split.py [--lines N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

TIME_TARGET_S = 5.0
BYTES_PER_LINE = 200


_CLS = ('{"source-ref":"s3://mk-bench/photos/v%05d/img_%07d.jpg","label":0,"label-metadata":{"class-name":"%s",'
        '"confidence":1,"type":"groundtruth/image-classification","human-annotated":"yes",'
        '"creation-date":"2024-05-01T12:00:00.000000","job-name":"manifestkit"}}\n')
_DET = ('{"source-ref":"s3://mk-bench/frames/v%05d/frame_%07d.jpg","bounding-box":{"image_size":[{"width":800,'
        '"height":600,"depth":3}],"annotations":[%s]},"bounding-box-metadata":{"objects":[%s],"class-map":{%s},'
        '"type":"groundtruth/object-detection","human-annotated":"yes",'
        '"creation-date":"2024-05-01T12:00:00.000000","job-name":"manifestkit"}}\n')
_ANN = '{"class_id":%d,"left":%d,"top":%d,"width":%d,"height":%d}'


def _cls_line(i: int, r: random.Random, labels: list[str]) -> bytes:
    # Zipf-like label popularity, as real datasets have: a few big labels, a long tail.
    label = labels[min(int(r.paretovariate(1.2)) - 1, len(labels) - 1)]
    return (_CLS % (i // 40, i, label)).encode()


def _det_line(i: int, r: random.Random, labels: list[str]) -> bytes:
    # ~7.3 boxes per image (as COCO train2017), popular classes much more frequent than rare ones.
    nbox = max(1, min(20, int(r.expovariate(1 / 7.3))))
    cids = [min(int(r.paretovariate(0.8)) - 1, len(labels) - 1) for _ in range(nbox)]
    anns = ",".join(_ANN % (c, r.randrange(600), r.randrange(400), r.randrange(2, 200), r.randrange(2, 200))
                    for c in cids)
    cmap = ",".join('"%d":"%s"' % (c, labels[c]) for c in sorted(set(cids)))
    return (_DET % (i // 40, i, anns, ",".join(['{"confidence":1}'] * nbox), cmap)).encode()


def generate(path: str, kind: str, lines: int) -> None:
    r = random.Random(7)
    labels = [f"label_{k:03d}" for k in range(120 if kind == "classification" else 80)]
    make = _cls_line if kind == "classification" else _det_line
    with open(path, "wb") as fp:
        for i in range(lines):
            if i % 1000 == 999:  # a few duplicate source-refs (the same image listed twice)
                fp.write(make(i - 1, r, labels))
            else:
                fp.write(make(i, r, labels))


_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import manifestkit
from manifestkit.splitting import split
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t1 = time.perf_counter()
c1 = time.process_time()
res = split(sys.argv[1], sys.argv[2], sys.argv[3], test_fraction=0.2, seed=0, group_by=sys.argv[4])
t2 = time.perf_counter()
c2 = time.process_time()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": t2 - t1, "cpu_seconds": c2 - c1, "import_seconds": t1 - t0, "baseline_rss": base,
                  "peak_rss": peak, "worker_cpu_seconds": kids.ru_utime + kids.ru_stime,
                  "worker_peak_rss": kids.ru_maxrss * 1024,
                  "train": res.train_lines, "test": res.test_lines, "groups": res.groups,
                  "labels": len(res.labels), "warnings": len(res.warnings)}))
"""


def run(path: str, out: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, os.path.join(out, "train"),
                           os.path.join(out, "test"), r"/(v\d+)/"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--keep", help="generate into this folder and keep it")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="mk-bench-split-") as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        for kind in ("classification", "detection"):
            path = os.path.join(folder, f"{kind}.manifest")
            t = time.perf_counter()
            generate(path, kind, args.lines)
            gen_s = time.perf_counter() - t
            size = os.path.getsize(path)
            m = run(path, folder)
            growth = m["peak_rss"] - m["baseline_rss"]
            mem_ok = growth <= BYTES_PER_LINE * args.lines
            time_ok = m["seconds"] <= TIME_TARGET_S
            ok = ok and mem_ok and time_ok
            print(f"{kind}: {args.lines:,} lines, {size / 1e6:.0f} MB (generated in {gen_s:.1f} s), "
                  f"{m['labels']} labels, {m['groups']:,} groups -> train {m['train']:,} / test {m['test']:,}")
            print(f"  split time {m['seconds']:.2f} s wall, {m['cpu_seconds']:.2f} s CPU + "
                  f"{m['worker_cpu_seconds']:.2f} s CPU in the worker process "
                  f"(target <= {TIME_TARGET_S:.0f} s wall): {'PASS' if time_ok else 'FAIL'}")
            print(f"  peak RSS {m['peak_rss'] / 1e6:.0f} MB, {growth / 1e6:.0f} MB over the "
                  f"{m['baseline_rss'] / 1e6:.0f} MB baseline = {growth / args.lines:.0f} B/line "
                  f"(target <= {BYTES_PER_LINE} B/line): {'PASS' if mem_ok else 'FAIL'}")
            if m["worker_peak_rss"]:
                print(f"  worker process (reads the second part of the first pass, then exits): peak RSS "
                      f"{m['worker_peak_rss'] / 1e6:.0f} MB")
    print("split benchmark: " + ("target met" if ok else "TARGET MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
