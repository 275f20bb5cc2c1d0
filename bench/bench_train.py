"""Benchmark the after-training reading on big manifests: time and flat memory.

report: ``training_report`` on a 500,000-line detection manifest whose validation copy flags 5 % of the
lines (errors inside annotations, metadata and at line level); every finding is traced back to the
user's local manifest by source-ref. The validation file is served by a minimal in-process S3 stand-in
(botocore StreamingBody over a local file), so the real streaming path is measured without a network.
worst: ``worst_images`` over a 500,000-line classification evaluation snapshot, keeping the 10 worst.
Each runs in a fresh subprocess.

Targets: report <= 90 s (two streaming passes over ~470 MB each), worst <= 60 s; peak RSS within 120 MB of the interpreter's baseline (memory is
per finding - 25,000 of them here - never per line).

Usage: python bench/bench_train.py [--lines N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

# report streams two files of ~470 MB each (the validation copy and the user's manifest).
TIME_S = {"report": 90.0, "worst": 60.0}
RSS_BUDGET_MB = 120.0

_CHILD = r"""
import json, os, resource, sys, time
from botocore.response import StreamingBody

class LocalS3:
    # get_object over local files: the same StreamingBody botocore hands out.
    def __init__(self, root):
        self.root = root
    def get_object(self, Bucket, Key, **_):
        path = os.path.join(self.root, Key)
        return {"Body": StreamingBody(open(path, "rb"), os.path.getsize(path))}

kind, root = sys.argv[1], sys.argv[2]
from manifestkit.rekognition import training_report, worst_images
from manifestkit.rekognition._base import read_s3_lines
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
s3 = LocalS3(root)
if kind == "report":
    desc = {"ProjectVersionArn": "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1",
            "Status": "TRAINING_FAILED",
            "ManifestSummary": {"S3Object": {"Bucket": "bench-bucket", "Name": "manifest_summary.json"}},
            "TrainingDataResult": {"Validation": {"Assets": [{"GroundTruthManifest": {"S3Object": {
                "Bucket": "bench-bucket", "Name": "training_manifest_with_validation.json"}}}]}}}
    r = training_report(desc, s3=s3, train_manifest=os.path.join(root, "train.manifest"))
    located = sum(1 for i in r.issues if i.line is not None)
    out = {"issues": len(r.issues), "located": located}
else:
    worst, task = worst_images(read_s3_lines(s3, "s3://bench-bucket/snapshot.manifest"), 10)
    out = {"worst": len(worst), "task": task, "top_errors": worst[0].errors if worst else 0}
out["seconds"] = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_s"] = ru.ru_utime + ru.ru_stime
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["base_mb"] = base / 1024
print(json.dumps(out))
"""

_ERR = {"code": "ERROR_BOUNDING_BOX_TOO_SMALL", "message": "The height and width of the bounding box is too small."}


def _detection_line(i: int, r: random.Random, flagged: bool) -> dict:
    w, h = r.randint(640, 4096), r.randint(480, 3072)
    anns = []
    for _ in range(r.randint(1, 12)):
        bw, bh = r.randint(2, w // 3), r.randint(2, h // 3)
        anns.append({"class_id": r.randint(0, 79), "left": r.randint(0, w - bw), "top": r.randint(0, h - bh),
                     "width": bw, "height": bh})
    line = {"source-ref": f"s3://bench-bucket/images/{i // 1000:03d}/img_{i:07d}.jpg",
            "bounding-box": {"image_size": [{"width": w, "height": h, "depth": 3}], "annotations": anns},
            "bounding-box-metadata": {"objects": [{"confidence": 1} for _ in anns],
                                      "class-map": {str(a["class_id"]): f"label {a['class_id']}" for a in anns},
                                      "type": "groundtruth/object-detection", "human-annotated": "yes",
                                      "creation-date": "2026-11-27T00:00:00.000000", "job-name": "bench"}}
    if flagged:
        where = i % 3
        if where == 0:
            anns[0]["errors"] = [_ERR]
        elif where == 1:
            line["bounding-box-metadata"]["errors"] = [{"code": "ERROR_MISSING_CLASS_MAP_ID", "message": "x"}]
        else:
            line["errors"] = [{"code": "ERROR_INVALID_IMAGE", "message": "The image is invalid."}]
    return line


def write_report_inputs(root: str, lines: int, r: random.Random) -> int:
    flagged = 0
    with open(os.path.join(root, "train.manifest"), "w") as user, \
            open(os.path.join(root, "training_manifest_with_validation.json"), "w") as val:
        for i in range(lines):
            state = r.getstate()
            user.write(json.dumps(_detection_line(i, r, False), separators=(",", ":")) + "\n")
            r.setstate(state)
            bad = r.random() < 0.05
            r.setstate(state)
            line = _detection_line(i, r, bad)
            flagged += bad
            val.write(json.dumps(line, separators=(",", ":")) + "\n")
            r.random()
    with open(os.path.join(root, "manifest_summary.json"), "w") as fp:
        json.dump({"errors": [], "statistics": {"training": {"total_json_lines": lines, "errors": []}}}, fp)
    return flagged


def write_snapshot(root: str, lines: int, r: random.Random) -> None:
    with open(os.path.join(root, "snapshot.manifest"), "w") as fp:
        for i in range(lines):
            truth, pred = f"label {r.randint(0, 49)}", f"label {r.randint(0, 49)}"
            fp_ = truth != pred and r.random() < 0.5
            details = {"version": 1, "ground-truth-labelling-jobs": ["rekognition-custom-labels-training-job"],
                       "is-true-positive": truth == pred, "is-true-negative": False, "is-false-positive": fp_,
                       "is-false-negative": truth != pred and not fp_, "is-present-in-ground-truth": truth == pred}
            meta = {"confidence": 1.0, "job-name": "rekognition-custom-labels-training-job", "class-name": truth,
                    "human-annotated": "yes", "creation-date": "2019-09-06T00:07:25.488243",
                    "type": "groundtruth/image-classification"}
            line = {"source-ref": f"s3://bench-bucket/test/{i:07d}.jpg",
                    "rekognition-custom-labels-training-0": 1, "rekognition-custom-labels-training-0-metadata": meta,
                    "rekognition-custom-labels-evaluation-0": 1,
                    "rekognition-custom-labels-evaluation-0-metadata": {
                        **meta, "confidence": round(r.random(), 3), "class-name": pred, "human-annotated": "no",
                        "job-name": "rekognition-custom-labels-evaluation-job",
                        "rekognition-custom-labels-evaluation-details": details}}
            fp.write(json.dumps(line, separators=(",", ":")) + "\n")


def run_child(kind: str, root: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, root], capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{kind} child failed")
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--keep", help="generate into this folder and keep it")
    args = ap.parse_args()
    r = random.Random(0)
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="mk-bench-train-")
    root = args.keep or tmp.name  # type: ignore[union-attr]
    os.makedirs(root, exist_ok=True)
    ok = True
    try:
        flagged = write_report_inputs(root, args.lines, r)
        write_snapshot(root, args.lines, r)
        size = os.path.getsize(os.path.join(root, "train.manifest")) / 1e6
        for kind in ("report", "worst"):
            res = run_child(kind, root)
            grown = res["rss_mb"] - res["base_mb"]
            met = res["seconds"] <= TIME_S[kind] and grown <= RSS_BUDGET_MB
            if kind == "report":
                met = met and res["located"] == res["issues"] and res["issues"] >= flagged
                what = (f"{args.lines} lines ({size:.0f} MB), {res['issues']} findings, "
                        f"{res['located']} traced to their line")
            else:
                what = f"{args.lines} snapshot lines, {res['worst']} worst kept"
            print(f"{kind}: {what}: {res['seconds']:.1f} s ({args.lines / res['seconds']:,.0f} lines/s), "
                  f"CPU {res['cpu_s']:.1f} s, peak RSS {res['rss_mb']:.0f} MB (+{grown:.0f} MB over baseline); target <= "
                  f"{TIME_S[kind]:.0f} s and +{RSS_BUDGET_MB:.0f} MB: {'met' if met else 'MISSED'}")
            ok = ok and met
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
