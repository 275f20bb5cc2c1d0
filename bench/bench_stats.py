"""Benchmark ``manifestkit stats`` and ``manifestkit report`` on big manifests: time and flat memory.

stats: a 500,000-line classification manifest (Zipf label counts over 200 labels) and a 250,000-line
detection manifest (~7 boxes per image, 80 labels), each in a fresh subprocess.
report: a 100,000-line detection manifest whose images are hard links to a few real JPEGs (so every
source-ref has its file and the validator checks every header), in a fresh subprocess.

Times are CPU seconds of the child (user + system): the machine is shared, and wall time measures the
neighbours as much as manifestkit; wall time is printed beside it.

Targets: stats <= 15 s (classification) / 30 s (detection: reading the box lines is most of it); peak RSS
within 60 MB of the interpreter's baseline (memory is per label and bucket, not per line); report <= 120 s
and output <= the documented bound (labels x per_label + 100 thumbnails of 35 KB, plus 2 MB of tables).

Usage: python bench/bench_stats.py [--lines N] [--report-lines N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

STATS_TIME_S = {"classification": 15.0, "detection": 30.0}
REPORT_TIME_S = 120.0
RSS_BUDGET_MB = 60.0
PER_LABEL = 12

_CHILD = r"""
import resource, sys, time, json
t0 = time.perf_counter()
kind, args = sys.argv[1], sys.argv[2:]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if kind == "stats":
    import manifestkit
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime
    t0 = time.perf_counter()
    s = manifestkit.stats(args[0])
    out = {"images": s.train.images, "boxes": s.train.boxes, "labels": len(s.train.labels)}
else:
    import manifestkit
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime
    t0 = time.perf_counter()
    r = manifestkit.write_html_report(args[0], args[1], images=args[2], s3_prefix=args[3], per_label=int(args[4]))
    out = {"size": r.size, "thumbnails": r.thumbnails, "findings": len(r.findings)}
out["seconds"] = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
out["cpu"] = ru.ru_utime + ru.ru_stime - cpu0
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["base_mb"] = base / 1024
print(json.dumps(out))
"""


def _labels(n: int) -> list[str]:
    return [f"label {i:03d} & <{i}>" for i in range(n)]


def write_classification(path: str, lines: int, r: random.Random) -> None:
    labels = _labels(200)
    with open(path, "w", encoding="utf-8") as fp:
        for i in range(lines):
            label = labels[min(int(r.paretovariate(1.2)) - 1, len(labels) - 1)]
            fp.write(json.dumps({"source-ref": f"s3://mk-bench/p/{i:07d}.jpg", "label": 0, "label-metadata": {
                "class-name": label, "confidence": 1, "type": "groundtruth/image-classification",
                "human-annotated": "yes", "creation-date": "2024-05-01T12:00:00.000000", "job-name": "mk"}},
                separators=(",", ":")) + "\n")


def write_detection(path: str, lines: int, r: random.Random, key: str = "f/{i:07d}.jpg") -> None:
    labels = _labels(80)
    with open(path, "w", encoding="utf-8") as fp:
        for i in range(lines):
            anns, cmap = [], {}
            for _ in range(max(1, min(20, int(r.expovariate(1 / 7.3))))):
                cid = min(int(r.paretovariate(0.8)) - 1, len(labels) - 1)
                cmap[str(cid)] = labels[cid]
                anns.append({"class_id": cid, "left": r.randrange(600), "top": r.randrange(400),
                             "width": r.randrange(2, 200), "height": r.randrange(2, 200)})
            fp.write(json.dumps({
                "source-ref": "s3://mk-bench/" + key.format(i=i),
                "bounding-box": {"image_size": [{"width": 800, "height": 600, "depth": 3}], "annotations": anns},
                "bounding-box-metadata": {"objects": [{"confidence": 1} for _ in anns],
                                          "class-map": {k: cmap[k] for k in sorted(cmap, key=int)},
                                          "type": "groundtruth/object-detection", "human-annotated": "yes",
                                          "creation-date": "2024-05-01T12:00:00.000000", "job-name": "mk"}},
                separators=(",", ":")) + "\n")


def run(kind: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, *args], capture_output=True, text=True)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(f"bench child failed ({kind})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=500_000)
    p.add_argument("--report-lines", type=int, default=100_000)
    p.add_argument("--keep", help="generate into this folder and keep it")
    a = p.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="mk-bench-stats-")
    os.makedirs(tmp, exist_ok=True)
    r = random.Random(0)
    ok = True

    cls = os.path.join(tmp, "cls.manifest")
    det = os.path.join(tmp, "det.manifest")
    write_classification(cls, a.lines, r)
    write_detection(det, a.lines // 2, r)
    for name, path, n in (("classification", cls, a.lines), ("detection", det, a.lines // 2)):
        m = run("stats", path)
        extra = m["rss_mb"] - m["base_mb"]
        met = m["cpu"] <= STATS_TIME_S[name] and extra <= RSS_BUDGET_MB
        ok &= met
        print(f"stats {name}: {n:,} lines in {m['cpu']:.1f} s CPU ({n / m['cpu']:,.0f} lines/s; wall "
              f"{m['seconds']:.1f} s), "
              f"peak RSS {m['rss_mb']:.0f} MB (+{extra:.0f} MB over baseline) "
              f"[target <= {STATS_TIME_S[name]:g} s, +{RSS_BUDGET_MB:g} MB: {'met' if met else 'MISSED'}]")

    # The report: every line's image exists (hard links to 4 real JPEGs), so the validator probes them all.
    from PIL import Image, ImageDraw

    images = os.path.join(tmp, "images")
    os.makedirs(os.path.join(images, "f"), exist_ok=True)
    seeds = []
    for k in range(4):
        img = Image.new("RGB", (800, 600), (200, 210 - 30 * k, 220))
        ImageDraw.Draw(img).ellipse((100 + 50 * k, 100, 500, 450), fill=(40 * k, 90, 160))
        path = os.path.join(tmp, f"seed{k}.jpg")
        img.save(path, "JPEG", quality=80)
        seeds.append(path)
    n = a.report_lines
    for i in range(n):
        target = os.path.join(images, "f", f"{i:07d}.jpg")
        if not os.path.exists(target):
            os.link(seeds[i % 4], target)
    rep = os.path.join(tmp, "rep.manifest")
    write_detection(rep, n, r)
    m = run("report", rep, os.path.join(tmp, "report.html"), images, "s3://mk-bench/", str(PER_LABEL))
    bound = (80 * PER_LABEL + 100) * 35 * 1024 + 2 * 1024 * 1024
    met = m["cpu"] <= REPORT_TIME_S and m["size"] <= bound
    ok &= met
    print(f"report detection: {n:,} lines in {m['cpu']:.1f} s CPU (wall {m['seconds']:.1f} s), "
          f"{m['thumbnails']:.0f} thumbnails, "
          f"{m['size'] / 1024 / 1024:.1f} MB (bound {bound / 1024 / 1024:.1f} MB), peak RSS {m['rss_mb']:.0f} MB "
          f"[target <= {REPORT_TIME_S:g} s and <= bound: {'met' if met else 'MISSED'}]")
    if not a.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
