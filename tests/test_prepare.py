"""prepare(): convert -> validate -> split -> check -> stage -> train, end to end.

S3 is moto's server on 127.0.0.1 (tests/s3server.py); Rekognition is a real botocore client in a Stubber
with ``expected_params`` for every call (tests/rekstub.py), so each request is checked against the
service model and must be exactly the one expected.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging import write_image
from rekstub import PROJECT, PROJECT_ARN, FakeClock, Stubbed, make_rekognition, rek, version_arn  # noqa: F401
from s3server import inject_error, s3_client, s3_endpoint  # noqa: F401

from manifestkit import PrepareStopped, convert_folders, prepare, split
from manifestkit.errors import ManifestKitError
from manifestkit.pipeline import STEPS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
DATE = "2024-05-01T12:00:00"


def make_folders(root: Path, labels: dict[str, int], size: tuple[int, int] = (80, 64)) -> Path:
    """A folder-per-label dataset of tiny real images; each label gets its own colour."""
    for n, (label, count) in enumerate(sorted(labels.items())):
        for i in range(count):
            ext = "png" if i % 3 == 2 else "jpg"
            write_image(root / label / f"{label}_{i:02d}.{ext}", *size, color=(40 * n, 10 * i, 200 - 30 * n))
    return root


def keys(s3: Any, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def body(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def refs(path: str | os.PathLike[str]) -> list[str]:
    with open(path, encoding="utf-8") as fp:
        return [json.loads(line)["source-ref"] for line in fp if line.strip()]


def asset(bucket: str, key: str) -> dict[str, Any]:
    return {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": key}}}


# ------------------------------------------------------------------------------------------ prepare + train


def test_folders_prepare_and_train_end_to_end(tmp_path: Path, s3_client: Any, rek: Stubbed) -> None:
    bucket = s3_client.test_bucket
    root = make_folders(tmp_path / "photos", {"daisy": 6, "rose": 6, "tulip": 5})
    prefix = f"s3://{bucket}/flowers/"
    out_key = "flowers/output/"
    # What Rekognition writes after training, in the output location (rekognition.md 2.6).
    summary = {"version": 1, "statistics": {"training": {"use_case": "IMAGE_LEVEL_LABELS", "total_json_lines": 13,
                                                          "valid_json_lines": 13, "invalid_json_lines": 0,
                                                          "ignored_json_lines": 0}},
               "errors": []}
    s3_client.put_object(Bucket=bucket, Key=out_key + "manifest_summary.json", Body=json.dumps(summary).encode())

    # Every Rekognition call, in order, with the exact request expected.
    rek.project(PROJECT, arn=None)  # DescribeProjects: no such project yet
    rek.add("create_project", {"ProjectArn": PROJECT_ARN}, {"ProjectName": PROJECT})
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1",
        "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": out_key},
        "TrainingData": {"Assets": [asset(bucket, "flowers/manifests/train.manifest")]},
        "TestingData": {"Assets": [asset(bucket, "flowers/manifests/test.manifest")]}})
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.version("v1", "TRAINING_COMPLETED", StatusMessage="The model is ready to run.",
                EvaluationResult={"F1Score": 0.93}, BillableTrainingTimeInSeconds=3600,
                ManifestSummary={"S3Object": {"Bucket": bucket, "Name": out_key + "manifest_summary.json"}})

    clock = FakeClock()
    steps: list[str] = []
    ticks: dict[str, int] = {}
    statuses: list[str] = []
    result = prepare(folders=root, s3_prefix=prefix, work_dir=tmp_path / "work", s3=s3_client,
                     rekognition=rek.client, project=PROJECT, output_uri=f"s3://{bucket}/{out_key}", version="v1",
                     creation_date=DATE, interval=60, clock=clock.clock(),
                     progress=lambda step, n: ticks.__setitem__(step, ticks.get(step, 0) + n),
                     on_step=lambda step, value: steps.append(step),
                     on_status=lambda u: statuses.append(u.status))

    assert steps == list(STEPS)
    assert ticks["stage"] == 17 and ticks["split"] >= 17 and ticks["validate"] == 17
    assert statuses == ["TRAINING_IN_PROGRESS", "TRAINING_IN_PROGRESS", "TRAINING_COMPLETED"]
    assert clock.sleeps == [60, 60]

    # Each step's own result is there.
    assert result.conversion is not None and result.conversion.images == 17
    assert result.validation is not None and result.validation.verdict == "clean"
    assert result.split is not None and result.split.train_lines + result.split.test_lines == 17
    assert result.check is not None and result.check.verdict == "clean"
    assert result.stage is not None and result.stage.ok and result.stage.uploaded == 17
    assert result.training is not None and result.training.created_project
    assert result.training.version_arn == version_arn("v1")
    report = result.training.report
    assert report is not None and report.succeeded and report.f1 == 0.93
    assert report.statistics["training"]["valid_json_lines"] == 13

    # S3 holds every image at its source-ref and both manifests, byte for byte.
    train_uri, test_uri = result.train_uri, result.test_uri
    assert (train_uri, test_uri) == (f"{prefix}manifests/train.manifest", f"{prefix}manifests/test.manifest")
    stored = keys(s3_client, bucket)
    images = {r.split("/", 3)[3] for r in refs(result.train_manifest) + refs(result.test_manifest)}
    assert len(images) == 17
    assert stored == images | {"flowers/manifests/train.manifest", "flowers/manifests/test.manifest",
                               out_key + "manifest_summary.json"}
    for rel in images:
        local = root / rel.removeprefix("flowers/")
        assert body(s3_client, bucket, rel) == local.read_bytes()
    assert body(s3_client, bucket, "flowers/manifests/train.manifest") == Path(result.train_manifest).read_bytes()
    assert body(s3_client, bucket, "flowers/manifests/test.manifest") == Path(result.test_manifest).read_bytes()


def test_coco_sample_prepare_with_an_existing_project_trains_into_it(tmp_path: Path, s3_client: Any,
                                                                    rek: Stubbed) -> None:
    bucket = s3_client.test_bucket
    prefix = f"s3://{bucket}/coco/"
    rek.project(PROJECT, arn=PROJECT_ARN)  # the project exists: no CreateProject
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v2")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v2",
        "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "out/"},
        "TrainingData": {"Assets": [asset(bucket, "coco/manifests/train.manifest")]},
        "TestingData": {"Assets": [asset(bucket, "coco/manifests/test.manifest")]}})
    result = prepare(coco=SAMPLE / "coco" / "annotations.json", images=SAMPLE / "coco" / "images",
                     s3_prefix=prefix, work_dir=tmp_path / "work", s3=s3_client, rekognition=rek.client,
                     project=PROJECT, output_uri=f"s3://{bucket}/out", version="v2", wait=False,
                     creation_date=DATE)
    assert result.training is not None and not result.training.created_project
    assert result.training.report is None  # not waited for
    assert result.conversion is not None and result.conversion.task == "detection"
    staged = keys(s3_client, bucket)
    for ref in refs(result.train_manifest) + refs(result.test_manifest):
        assert ref.startswith(prefix) and ref.removeprefix(f"s3://{bucket}/") in staged
    # Exactly the images the lines name (the conversion left the image without boxes out), plus 2 manifests.
    assert len(staged) == result.conversion.images + 2


def test_outputs_match_running_the_commands_one_by_one(tmp_path: Path, s3_client: Any) -> None:
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 7, "c": 6})
    prefix = f"s3://{s3_client.test_bucket}/ds/"
    result = prepare(folders=root, s3_prefix=prefix, work_dir=tmp_path / "work", s3=s3_client, seed=3,
                     test_fraction=0.3, creation_date=DATE)
    convert_folders(root, tmp_path / "alone.manifest", s3_prefix=prefix, creation_date=DATE)
    split(tmp_path / "alone.manifest", tmp_path / "t", tmp_path / "v", seed=3, test_fraction=0.3, images=root,
          s3_prefix=prefix)
    assert Path(result.dataset_manifest).read_bytes() == (tmp_path / "alone.manifest").read_bytes()
    assert Path(result.train_manifest).read_bytes() == (tmp_path / "t.manifest").read_bytes()
    assert Path(result.test_manifest).read_bytes() == (tmp_path / "v.manifest").read_bytes()
    assert result.training is None and result.stage is not None and result.stage.uploaded == 18

    # Run again: everything is already in S3 and skipped.
    again = prepare(folders=root, s3_prefix=prefix, work_dir=tmp_path / "work", s3=s3_client, seed=3,
                    test_fraction=0.3, creation_date=DATE)
    assert again.stage is not None and again.stage.uploaded == 0 and again.stage.skipped == 18
    assert {m.status for m in again.stage.manifests} == {"unchanged"}


# ------------------------------------------------------------------------------------------ stops


def test_would_fail_stops_before_anything_is_uploaded(tmp_path: Path, s3_client: Any) -> None:
    root = make_folders(tmp_path / "photos", {"cat": 6})  # one label: classification needs two
    quiet = make_rekognition()
    with Stubber(quiet) as stub:  # nothing queued: any Rekognition call would raise
        with pytest.raises(PrepareStopped) as info:
            prepare(folders=root, s3_prefix=f"s3://{s3_client.test_bucket}/cats/", work_dir=tmp_path / "work",
                    s3=s3_client, rekognition=quiet, project=PROJECT,
                    output_uri=f"s3://{s3_client.test_bucket}/out/")
        stub.assert_no_pending_responses()
    stop = info.value
    assert stop.step == "validate"
    assert stop.report is not None and stop.report.terminal == ["ERROR_MANIFEST_TOO_FEW_LABELS"]
    assert "ERROR_MANIFEST_TOO_FEW_LABELS" in str(stop) and "nothing was uploaded" in str(stop)
    assert stop.result.conversion is not None and stop.result.split is None and stop.result.stage is None
    assert keys(s3_client, s3_client.test_bucket) == set()
    assert not (tmp_path / "work" / "train.manifest").exists()


def test_strict_stops_on_dropped_lines_and_lenient_goes_on(tmp_path: Path, s3_client: Any) -> None:
    root = make_folders(tmp_path / "photos", {"cat": 5, "dog": 5})
    write_image(root / "dog" / "tiny.jpg", 20, 20)  # below 64 px: Rekognition drops the line
    prefix = f"s3://{s3_client.test_bucket}/pets/"
    with pytest.raises(PrepareStopped) as info:
        prepare(folders=root, s3_prefix=prefix, work_dir=tmp_path / "w1", s3=s3_client, strict=True)
    assert info.value.step == "validate" and "strict" in str(info.value)
    assert keys(s3_client, s3_client.test_bucket) == set()
    result = prepare(folders=root, s3_prefix=prefix, work_dir=tmp_path / "w2", s3=s3_client)
    assert result.validation is not None and result.validation.verdict == "would_train"
    assert result.stage is not None and result.stage.ok


def test_incomplete_staging_stops_before_training(tmp_path: Path, s3_client: Any) -> None:
    root = make_folders(tmp_path / "photos", {"cat": 5, "dog": 5})
    refused = inject_error(s3_client, "PutObject", match=lambda p: p["Key"].endswith("dog_01.jpg"))
    quiet = make_rekognition()
    with Stubber(quiet) as stub:
        with pytest.raises(PrepareStopped) as info:
            prepare(folders=root, s3_prefix=f"s3://{s3_client.test_bucket}/pets/", work_dir=tmp_path / "work",
                    s3=s3_client, rekognition=quiet, project=PROJECT,
                    output_uri=f"s3://{s3_client.test_bucket}/out/")
        stub.assert_no_pending_responses()
    assert refused and info.value.step == "stage" and "nothing was trained" in str(info.value)
    staged = info.value.result.stage
    assert staged is not None and len(staged.failed) == 1
    # Only the manifest naming the refused image is held back; the other one is complete and goes up.
    status = {os.path.basename(m.path): m.status for m in staged.manifests}
    holder = "train.manifest" if any(r.endswith("dog_01.jpg") for r in refs(tmp_path / "work" / "train.manifest")) \
        else "test.manifest"
    other = ({"train.manifest", "test.manifest"} - {holder}).pop()
    assert status == {holder: "withheld", other: "uploaded"}
    assert f"pets/manifests/{holder}" in str(info.value)
    stored = keys(s3_client, s3_client.test_bucket)
    assert sorted(k for k in stored if k.endswith(".manifest")) == [f"pets/manifests/{other}"]
    assert len(stored) == 9 + 1


@pytest.mark.parametrize("kwargs, message", [
    ({}, "either a COCO file"),
    ({"coco": "x.json", "folders": "y"}, "either a COCO file"),
    ({"coco": "x.json"}, "needs images="),
    ({"folders": "PHOTOS", "images": "PHOTOS"}, "images= goes with coco="),
    ({"folders": "PHOTOS", "project": "p"}, "needs a rekognition client"),
    ({"folders": "PHOTOS", "output_uri": "s3://bucket-x/out/"}, "give project= too"),
    ({"folders": "MISSING"}, "does not exist"),
    ({"folders": "PHOTOS", "work_dir": "PHOTOS/cat/work"}, "inside the images folder"),
])
def test_bad_arguments_are_refused_before_any_work(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    root = make_folders(tmp_path / "photos", {"cat": 1})
    fixed = {k: (str(v).replace("PHOTOS", str(root)).replace("MISSING", str(tmp_path / "nope"))
                 if isinstance(v, str) else v) for k, v in kwargs.items()}
    fixed.setdefault("work_dir", tmp_path / "work")
    with pytest.raises(ManifestKitError, match=message):
        prepare(s3_prefix="s3://bucket-x/p/", s3=None, **fixed)
    assert not (tmp_path / "work").exists()
    assert sorted(p.name for p in (root / "cat").iterdir()) == ["cat_00.jpg"]  # the input is untouched


# ------------------------------------------------------------------------------------------ dry run


def test_dry_run_uploads_nothing_and_sends_nothing(tmp_path: Path, s3_client: Any) -> None:
    bucket = s3_client.test_bucket
    root = make_folders(tmp_path / "photos", {"cat": 5, "dog": 5})
    quiet = make_rekognition()
    seen: list[dict[str, Any]] = []
    with Stubber(quiet) as stub:  # nothing queued: proves no request reaches Rekognition
        result = prepare(folders=root, s3_prefix=f"s3://{bucket}/pets/", work_dir=tmp_path / "work", s3=s3_client,
                         rekognition=quiet, project=PROJECT, output_uri=f"s3://{bucket}/out/", version="v9",
                         dry_run=True, on_request=seen.append)
        stub.assert_no_pending_responses()
    assert keys(s3_client, bucket) == set()
    assert result.dry_run and result.stage is not None and result.stage.dry_run
    assert result.stage.uploaded == 10 and {m.status for m in result.stage.manifests} == {"planned"}
    assert result.training is not None and result.training.requests == seen
    assert [r["operation"] for r in seen] == ["DescribeProjects", "CreateProject", "CreateProjectVersion"]
    cpv = seen[-1]["params"]
    assert cpv["TrainingData"] == {"Assets": [asset(bucket, "pets/manifests/train.manifest")]}
    assert cpv["TestingData"] == {"Assets": [asset(bucket, "pets/manifests/test.manifest")]}
    assert cpv["OutputConfig"] == {"S3Bucket": bucket, "S3KeyPrefix": "out/"}
    # The local outputs exist: a dry run only stops short of S3 and Rekognition.
    assert os.path.getsize(result.train_manifest) > 0 and os.path.getsize(result.test_manifest) > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"project": "my project"}, "invalid project name"),
    ({"version": "v 1"}, "invalid version name"),
    ({"output_uri": "https://bucket-x/out/"}, "s3://"),
])
def test_a_request_rekognition_would_refuse_fails_before_any_work(tmp_path: Path, kwargs: dict[str, Any],
                                                                  message: str) -> None:
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 5})
    quiet = make_rekognition()
    args: dict[str, Any] = {"project": PROJECT, "output_uri": "s3://bucket-x/out/", **kwargs}
    with Stubber(quiet) as stub:
        with pytest.raises(ManifestKitError, match=message):
            prepare(folders=root, s3_prefix="s3://bucket-x/p/", work_dir=tmp_path / "work", s3=None,
                    rekognition=quiet, **args)
        stub.assert_no_pending_responses()
    assert not (tmp_path / "work").exists()  # nothing converted, nothing uploaded (s3=None would fail)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), fraction=st.sampled_from([0.1, 0.2, 0.25, 0.5]),
       counts=st.lists(st.integers(2, 6), min_size=2, max_size=3))
def test_dry_run_plan_covers_exactly_the_split_for_any_seed(s3_client: Any, seed: int, fraction: float,
                                                            counts: list[int]) -> None:
    bucket = s3_client.test_bucket
    with tempfile.TemporaryDirectory() as tmp:
        root = make_folders(Path(tmp) / "photos", {f"label{i}": n for i, n in enumerate(counts)})
        quiet = make_rekognition()
        with Stubber(quiet):
            result = prepare(folders=root, s3_prefix=f"s3://{bucket}/p/", work_dir=Path(tmp) / "work", s3=s3_client,
                             seed=seed, test_fraction=fraction, rekognition=quiet, project=PROJECT,
                             output_uri=f"s3://{bucket}/out/", dry_run=True)
        dataset = Path(result.dataset_manifest).read_text().splitlines()
        train = Path(result.train_manifest).read_text().splitlines()
        test = Path(result.test_manifest).read_text().splitlines()
    # The split is a partition of the converted lines, and the staging plan is exactly its images.
    assert sorted(train + test) == sorted(dataset) and len(dataset) == sum(counts)
    assert not set(train) & set(test)
    assert result.stage is not None and result.stage.images == sum(counts) and not result.stage.failed
    assert keys(s3_client, bucket) == set()
    assert result.training is not None
    cpv = result.training.requests[-1]["params"]
    assert cpv["TrainingData"] == {"Assets": [asset(bucket, "p/manifests/train.manifest")]}
    assert cpv["TestingData"] == {"Assets": [asset(bucket, "p/manifests/test.manifest")]}
