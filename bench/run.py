"""Run every benchmark (bench/bench_*.py) in turn; each prints its own measurements and targets.

Usage: python bench/run.py [NAME ...]   (NAME matches bench_NAME.py; default: all)
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
wanted = sys.argv[1:]
failed = []
for path in sorted(glob.glob(os.path.join(here, "bench_*.py"))):
    name = os.path.basename(path)[len("bench_"):-3]
    if wanted and name not in wanted:
        continue
    print(f"=== bench {name} ===", flush=True)
    rc = subprocess.call([sys.executable, path])
    if rc:
        failed.append(name)
print("benchmarks missing their target: " + ", ".join(failed) if failed else "all benchmarks met their targets")
sys.exit(1 if failed else 0)
