"""``make demo`` (scripts/demo.py) runs end to end against its embedded S3 on loopback and exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_every_step_and_writes_its_outputs(tmp_path: Path) -> None:
    build = tmp_path / "build"
    env = dict(os.environ)
    # Real-looking AWS settings in the caller's environment must not reach the demo's commands.
    env.update({"AWS_PROFILE": "someone-elses-profile", "AWS_ENDPOINT_URL": "http://192.0.2.1:9",
                "AWS_ENDPOINT_URL_REKOGNITION": "http://192.0.2.1:9"})
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--build", str(build)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout

    for name in ("folders.manifest", "coco.manifest", "folders.train.manifest", "folders.test.manifest",
                 "coco.train.manifest", "coco.test.manifest", "report.html", "prepare/dataset.manifest",
                 "prepare/train.manifest", "prepare/test.manifest"):
        assert (build / name).stat().st_size > 0, name
    assert (build / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")

    # Every step ran, in order, and the demo says where things went.
    steps = [line for line in out.splitlines() if line.startswith("== step ")]
    assert len(steps) == 10 and steps[-1].startswith("== step 10/10: prepare")
    assert "embedded S3 (moto) listening on http://127.0.0.1:" in out
    assert "s3://manifestkit-demo/coco/manifests/coco.train.manifest" in out
    assert "s3://manifestkit-demo/folders/circle/circle_01.jpg" in out
    assert f"HTML report: {build / 'report.html'}" in out
    assert "verdict: clean" in out

    # The dry run printed the exact Rekognition requests as JSON lines, naming the staged manifests.
    requests = [json.loads(line) for line in out.splitlines() if line.startswith('{"operation"')]
    assert [r["operation"] for r in requests] == ["DescribeProjects", "CreateProject", "CreateProjectVersion"]
    cpv = requests[-1]["params"]
    assert cpv["TrainingData"]["Assets"][0]["GroundTruthManifest"]["S3Object"] == {
        "Bucket": "manifestkit-demo", "Name": "coco/manifests/train.manifest"}
    assert cpv["OutputConfig"] == {"S3Bucket": "manifestkit-demo", "S3KeyPrefix": "output/"}
    # Summaries are on stderr, as for any manifestkit command.
    assert "dry run: nothing was uploaded and nothing was sent to Rekognition" in proc.stderr
    # The staged images were already there: the dry run compared and found them unchanged.
    assert "images: 19 named, 0 would upload (0 B), 19 unchanged (skipped), 0 failed" in proc.stderr
