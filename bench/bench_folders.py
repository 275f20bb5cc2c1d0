#!/usr/bin/env python3
"""Benchmark: convert_folders on a generated folder-per-label set (20,000 images by default).

Target: at least 5,000 images/s with a warm file cache (one os.scandir entry and one header probe per
image, no decoding). The set comes from ../shared/bench/gen_folders.py (labels with spaces and non-ASCII,
nested folders, clutter) and is written to a temporary folder that is removed afterwards.

    python bench/bench_folders.py [--images N] [--data DIR] [--repeat R]

--data reuses (or creates, then keeps) a generated set, which saves the ~30 s generation on re-runs.
Exit 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GENERATOR = os.path.join(REPO, "..", "shared", "bench", "gen_folders.py")
TARGET = 5_000  # images per second, warm cache

sys.path.insert(0, REPO)
from manifestkit.convert import convert_folders  # noqa: E402


def _warm(root: str) -> int:
    """Read every file once so the timed runs measure the converter, not the disk."""
    n = 0
    for folder, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(folder, f), "rb") as fp:
                while fp.read(1 << 20):
                    pass
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    """Generate, warm, time; print images/s and whether the target was met."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--data", help="generated set to reuse or create (kept afterwards)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="mk-bench-folders-")
    try:
        data = args.data or os.path.join(tmp, "data")
        if not os.path.isdir(data):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, GENERATOR, "--images", str(args.images), "--out", data], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"generated {args.images} images in {time.perf_counter() - t0:.1f} s")
        files = _warm(data)
        print(f"warmed the cache: {files} files")
        times = []
        summary = None
        for i in range(args.repeat):
            out = os.path.join(tmp, f"out{i}.manifest")
            t0 = time.perf_counter()
            summary = convert_folders(data, out, s3_prefix="s3://bench-bucket/folders/",
                                      creation_date="2024-05-01T12:00:00")
            times.append(time.perf_counter() - t0)
        assert summary is not None
        best, median = min(times), statistics.median(times)
        rate = summary.images / median
        skipped = {code: n.count for code, n in sorted(summary.notes.items())}
        print(f"convert_folders: {summary.images} images, {len(summary.labels)} labels, skipped {skipped}")
        print(f"  median {median:.3f} s, best {best:.3f} s over {args.repeat} runs -> {rate:,.0f} images/s "
              f"(median)")
        ok = rate >= TARGET
        print(f"target >= {TARGET:,} images/s warm: {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
