#!/usr/bin/env python3
"""``make demo``: run manifestkit's real command line on sample_data/, step by step, into build/.

Each step is a function that runs one ``manifestkit`` command exactly as a user would type it (a
subprocess of ``python -m manifestkit`` from this interpreter's environment), so the demo also shows the
commands. Steps stop the demo at the first failure.

S3 is an embedded one: moto's server on 127.0.0.1, started and stopped by the demo
(:func:`manifestkit.s3local.local_s3`). The commands reach it through ``AWS_ENDPOINT_URL_S3`` and fake
credentials; every other ``AWS_*`` variable and the AWS config files are hidden from them, so the demo
never talks to real AWS. The Rekognition part is a dry run that prints the exact requests.

    python scripts/demo.py [--build build]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "sample_data")
# A fixed date makes every manifest byte-identical from run to run.
CREATION_DATE = "2024-05-01T12:00:00"
BUCKET = "manifestkit-demo"


@dataclass
class Demo:
    """Where the demo writes, shared by the steps; ``env`` is the commands' environment, ``s3`` the endpoint."""

    build: str
    env: dict[str, str] | None = None
    s3: str | None = None

    def out(self, name: str) -> str:
        return os.path.join(self.build, name)


def manifestkit(*args: str, env: dict[str, str] | None = None) -> None:
    """Run ``manifestkit ARGS`` (from this environment), echoing the command; stop the demo on failure."""
    shown = " ".join(shlex.quote(os.path.relpath(a, ROOT) if os.path.isabs(a) else a) for a in args)
    print(f"\n$ manifestkit {shown}", flush=True)
    rc = subprocess.call([sys.executable, "-m", "manifestkit", *args], cwd=ROOT, env=env)
    if rc != 0:
        print(f"demo: the command above failed (exit {rc})", file=sys.stderr)
        sys.exit(rc)


def step_convert_folders(demo: Demo) -> None:
    """Folder-per-label images -> an image-level (classification) manifest."""
    manifestkit("convert", "folders", os.path.join(SAMPLE, "folders"),
                "--s3-prefix", f"s3://{BUCKET}/folders/",
                "-o", demo.out("folders.manifest"),
                "--report", demo.out("folders.report.json"),
                "--creation-date", CREATION_DATE, env=demo.env)


def step_convert_coco(demo: Demo) -> None:
    """COCO detection annotations -> an object-detection manifest."""
    manifestkit("convert", "coco", os.path.join(SAMPLE, "coco", "annotations.json"),
                "--images", os.path.join(SAMPLE, "coco", "images"),
                "--s3-prefix", f"s3://{BUCKET}/coco/",
                "-o", demo.out("coco.manifest"),
                "--report", demo.out("coco.report.json"),
                "--creation-date", CREATION_DATE, env=demo.env)


def step_validate_folders(demo: Demo) -> None:
    """Check the folder manifest the way Rekognition would, with the image headers."""
    manifestkit("validate", demo.out("folders.manifest"), "--images", os.path.join(SAMPLE, "folders"),
                "--s3-prefix", f"s3://{BUCKET}/folders/", env=demo.env)


def step_validate_coco(demo: Demo) -> None:
    """Check the COCO manifest the way Rekognition would, with the image headers."""
    manifestkit("validate", demo.out("coco.manifest"), "--images", os.path.join(SAMPLE, "coco", "images"),
                "--s3-prefix", f"s3://{BUCKET}/coco/", env=demo.env)


def step_split_folders(demo: Demo) -> None:
    """A seeded, label-stratified train/test split of the folder manifest."""
    manifestkit("split", demo.out("folders.manifest"), "--train-out", demo.out("folders.train"),
                "--test-out", demo.out("folders.test"), "--images", os.path.join(SAMPLE, "folders"),
                "--s3-prefix", f"s3://{BUCKET}/folders/", env=demo.env)


def step_split_coco(demo: Demo) -> None:
    """A seeded, label-stratified train/test split of the COCO manifest (boxes balanced too)."""
    manifestkit("split", demo.out("coco.manifest"), "--train-out", demo.out("coco.train"),
                "--test-out", demo.out("coco.test"), "--images", os.path.join(SAMPLE, "coco", "images"),
                "--s3-prefix", f"s3://{BUCKET}/coco/", env=demo.env)


def step_stage_folders(demo: Demo) -> None:
    """Upload the images, then the two manifests, to the embedded S3 (creating the bucket)."""
    manifestkit("stage", demo.out("folders.train.manifest"), demo.out("folders.test.manifest"),
                "--images", os.path.join(SAMPLE, "folders"), "--s3-prefix", f"s3://{BUCKET}/folders/",
                "--create-bucket", env=demo.env)


def step_stage_coco(demo: Demo) -> None:
    """Upload the COCO images and manifests, then show where everything went."""
    manifestkit("stage", demo.out("coco.train.manifest"), demo.out("coco.test.manifest"),
                "--images", os.path.join(SAMPLE, "coco", "images"), "--s3-prefix", f"s3://{BUCKET}/coco/",
                "--create-bucket", env=demo.env)
    list_bucket(demo)


def list_bucket(demo: Demo) -> None:
    """Print every object in the demo bucket as an ``s3://`` URI (read straight from the embedded S3)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=demo.s3, region_name="us-east-1", aws_access_key_id="manifestkit-local",
                      aws_secret_access_key="manifestkit-local")
    found = [f"s3://{BUCKET}/{o['Key']} ({o['Size']} bytes)"
             for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
             for o in page.get("Contents", [])]
    print(f"\nin the embedded S3 ({demo.s3}): {len(found)} objects", flush=True)
    for line in found:
        print(f"  {line}", flush=True)


def step_report(demo: Demo) -> None:
    """A self-contained HTML report of the COCO sample: charts, thumbnails with boxes, findings."""
    manifestkit("report", demo.out("coco.manifest"), "--images", os.path.join(SAMPLE, "coco", "images"),
                "--s3-prefix", f"s3://{BUCKET}/coco/", "-o", demo.out("report.html"), env=demo.env)
    print(f"\nHTML report: {demo.out('report.html')}", flush=True)


def step_prepare(demo: Demo) -> None:
    """All of the above in one command, then training, as a dry run: the exact Rekognition requests."""
    manifestkit("prepare", "coco", os.path.join(SAMPLE, "coco", "annotations.json"),
                "--images", os.path.join(SAMPLE, "coco", "images"), "--s3-prefix", f"s3://{BUCKET}/coco/",
                "--work-dir", demo.out("prepare"), "--creation-date", CREATION_DATE,
                "--train", "--project", "demo", "--output", f"s3://{BUCKET}/output/", "--dry-run", env=demo.env)


STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("convert the folder-per-label sample", step_convert_folders),
    ("convert the COCO sample", step_convert_coco),
    ("validate the folder manifest", step_validate_folders),
    ("validate the COCO manifest", step_validate_coco),
    ("split the folder manifest", step_split_folders),
    ("split the COCO manifest", step_split_coco),
    ("stage the folder dataset to the embedded S3", step_stage_folders),
    ("stage the COCO dataset to the embedded S3", step_stage_coco),
    ("write the HTML report of the COCO sample", step_report),
    ("prepare and train in one command (Rekognition as a dry run)", step_prepare),
]


def isolated_env(endpoint: str) -> dict[str, str]:
    """The commands' environment: the embedded S3 and fake credentials, nothing else of the user's AWS setup."""
    from manifestkit.s3local import local_s3_environ

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(local_s3_environ(endpoint))
    # No profile, config or credentials file of the user's, and no instance metadata lookups.
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def main(argv: list[str] | None = None) -> int:
    """Run every step in order."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="output folder (default: build/)")
    args = p.parse_args(argv)
    demo = Demo(build=os.path.abspath(args.build))
    os.makedirs(demo.build, exist_ok=True)
    sys.path.insert(0, ROOT)  # run from a checkout without installing: manifestkit.s3local comes from here
    from manifestkit.s3local import local_s3

    with local_s3() as endpoint:  # stopped on the way out, also when a step fails
        demo.s3 = endpoint
        demo.env = isolated_env(demo.s3)
        # The demo's own S3 listing follows the same rule as its commands: no AWS setting of the user's.
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update({k: v for k, v in demo.env.items() if k.startswith("AWS_")})
        print(f"embedded S3 (moto) listening on {demo.s3}", flush=True)
        for n, (title, step) in enumerate(STEPS, 1):
            print(f"\n== step {n}/{len(STEPS)}: {title} ==", flush=True)
            step(demo)
    print(f"\ndemo finished: outputs in {os.path.relpath(demo.build, ROOT)}/; the embedded S3 is stopped",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
