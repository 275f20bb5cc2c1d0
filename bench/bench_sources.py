#!/usr/bin/env python3
"""Benchmark: convert a Pascal VOC folder and a YOLO folder of 100,000 images each (by default).

Target: each converts at >= 3,000 images/s on a warm file cache.

* VOC: 100,000 annotation XML files (devkit layout, ``Annotations/``), 1-6 objects each with float
  coordinates, tags in varying order, and a ``<size>``. Sizes come from the annotation files, as the target
  says: the run uses ``trust_sizes`` (``--trust-sizes``), so no image file is needed or opened. What is
  measured: walking the folder, parsing every XML file twice (class list, then items), rounding and clipping
  the boxes, and writing the manifest.
* YOLO: 100,000 real JPEG and PNG files (``images/train`` + ``labels/train``, Ultralytics layout with
  ``data.yaml``), 1-6 label lines each. YOLO boxes are normalised, so the real size is read from every image
  header (no decoding). To keep generation fast, a few dozen small images of different sizes are encoded
  once with Pillow and their bytes are written under 100,000 names. What is measured: walking, pairing each
  image with its label file, one header probe per image, parsing the lines, writing the manifest.

    python bench/bench_sources.py [--images N] [--repeat R] [--only voc|yolo]

The inputs are generated in a temporary folder, removed afterwards. Exit 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET = 3_000  # images per second, warm cache

sys.path.insert(0, REPO)
from manifestkit.ops import convert_source  # noqa: E402

LABELS = ["person", "car", "traffic light", "bicycle", "dog", "cat", "chair", "bottle", "Straße", "bird"]


def _voc(root: str, n: int, rng: random.Random) -> None:
    ann = os.path.join(root, "Annotations")
    os.makedirs(ann)
    for i in range(n):
        w, h = rng.choice([(640, 480), (500, 375), (1024, 768), (333, 500)])
        objs = []
        for _ in range(rng.randint(1, 6)):
            x0, y0 = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
            x1, y1 = min(w + 2, x0 + rng.uniform(5, 300)), min(h, y0 + rng.uniform(5, 300))
            tags = [f"<xmin>{x0:.1f}</xmin>", f"<ymin>{y0:.1f}</ymin>", f"<xmax>{x1:.1f}</xmax>",
                    f"<ymax>{y1:.1f}</ymax>"]
            rng.shuffle(tags)
            objs.append(f"  <object>\n    <name>{rng.choice(LABELS)}</name>\n    <pose>Unspecified</pose>\n"
                        f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n"
                        f"    <bndbox>{''.join(tags)}</bndbox>\n  </object>\n")
        with open(os.path.join(ann, f"{i:08d}.xml"), "w", encoding="utf-8") as fp:
            fp.write(f"<annotation>\n  <folder>VOC2012</folder>\n  <filename>{i:08d}.jpg</filename>\n"
                     f"  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n"
                     f"  <segmented>0</segmented>\n{''.join(objs)}</annotation>\n")


def _yolo(root: str, n: int, rng: random.Random) -> None:
    from PIL import Image

    images = os.path.join(root, "images", "train")
    labels = os.path.join(root, "labels", "train")
    os.makedirs(images)
    os.makedirs(labels)
    blobs = []
    for k in range(24):
        w, h = rng.randint(64, 640), rng.randint(64, 640)
        fmt = "PNG" if k % 4 == 0 else "JPEG"
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (k * 10 % 255, 90, 160)).save(buf, fmt)
        blobs.append((".png" if fmt == "PNG" else ".jpg", buf.getvalue()))
    with open(os.path.join(root, "data.yaml"), "w", encoding="utf-8") as fp:
        fp.write("path: .\ntrain: images/train\nval: images/train\nnames:\n"
                 + "".join(f"  {i}: {name}\n" for i, name in enumerate(LABELS)))
    for i in range(n):
        ext, data = rng.choice(blobs)
        with open(os.path.join(images, f"{i:08d}{ext}"), "wb") as fp:
            fp.write(data)
        lines = []
        for _ in range(rng.randint(1, 6)):
            bw, bh = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
            lines.append(f"{rng.randrange(len(LABELS))} {rng.uniform(bw / 2, 1 - bw / 2):.6f} "
                         f"{rng.uniform(bh / 2, 1 - bh / 2):.6f} {bw:.6f} {bh:.6f}\n")
        with open(os.path.join(labels, f"{i:08d}.txt"), "w", encoding="utf-8") as fp:
            fp.writelines(lines)


def _warm(root: str) -> None:
    for folder, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(folder, f), "rb") as fp:
                fp.read()


def _run(name: str, root: str, tmp: str, repeat: int, **options: object) -> bool:
    _warm(root)
    times = []
    cpu = []
    summary = None
    for i in range(repeat):
        out = os.path.join(tmp, f"{name}{i}.manifest")
        t0, c0 = time.perf_counter(), time.process_time()
        summary = convert_source(name, root, out, s3_prefix="s3://bench-bucket/data/",
                                 creation_date="2024-05-01T12:00:00", **options)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert summary is not None
    median = statistics.median(times)
    rate = summary.images / median
    notes = {code: n.count for code, n in sorted(summary.notes.items())}
    print(f"{name}: {summary.images} images, {summary.boxes} boxes, {len(summary.labels)} labels; notes {notes}")
    print(f"  median {median:.2f} s, best {min(times):.2f} s over {repeat} runs -> {rate:,.0f} images/s")
    # On a shared machine the wall clock includes waiting for the CPU; the process time shows the cost.
    print(f"  process CPU time median {statistics.median(cpu):.2f} s -> {summary.images / statistics.median(cpu):,.0f} "
          f"images per CPU-second; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ok = rate >= TARGET
    print(f"  target >= {TARGET:,} images/s warm: {'met' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Generate both sets, warm the cache, time the conversions; print images/s and the verdicts."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--only", choices=["voc", "yolo"])
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="mk-bench-sources-")
    ok = True
    try:
        if args.only in (None, "voc"):
            t0 = time.perf_counter()
            _voc(os.path.join(tmp, "voc"), args.images, random.Random(1))
            print(f"generated {args.images} VOC annotations in {time.perf_counter() - t0:.1f} s")
            ok &= _run("voc", os.path.join(tmp, "voc"), tmp, args.repeat, trust_sizes=True)
            shutil.rmtree(os.path.join(tmp, "voc"), ignore_errors=True)
        if args.only in (None, "yolo"):
            t0 = time.perf_counter()
            _yolo(os.path.join(tmp, "yolo"), args.images, random.Random(2))
            print(f"generated {args.images} YOLO images and label files in {time.perf_counter() - t0:.1f} s")
            ok &= _run("yolo", os.path.join(tmp, "yolo"), tmp, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
