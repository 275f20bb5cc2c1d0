"""The whole lifecycle through the CLI: train, status --wait, evaluate, start --wait, detect, stop --wait.

Rekognition is a botocore Stubber (every request checked against the service model and the expected
parameters); S3 is moto's server on 127.0.0.1. Each status answer is the one Rekognition would give at
that step, so no command has to sleep.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from imaging import write_image
from rekstub import PROJECT, PROJECT_ARN, FakeClock, Stubbed, rek, version_arn  # noqa: F401
from s3server import s3_client, s3_endpoint  # noqa: F401
from test_evaluate import SUMMARY_DOC, _classification_line
from typer.testing import CliRunner

from manifestkit import aws
from manifestkit.cli import app

ARN = version_arn("v1")


def test_train_watch_evaluate_start_detect_stop(rek: Stubbed, s3_client: Any, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket = s3_client, s3_client.test_bucket
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=s3))
    run = CliRunner().invoke
    asset = {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": "flowers/train.manifest"}}}
    test_asset = {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": "flowers/test.manifest"}}}

    # 1. train --no-wait: the project is created, the version requested.
    rek.project(arn=None)
    rek.add("create_project", {"ProjectArn": PROJECT_ARN}, {"ProjectName": PROJECT})
    rek.add("create_project_version", {"ProjectVersionArn": ARN}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1",
        "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "flowers/output/"},
        "TrainingData": {"Assets": [asset]}, "TestingData": {"Assets": [test_asset]}, "Tags": {"team": "garden"}})
    r = run(app, ["train", "--project", PROJECT, "--train", f"s3://{bucket}/flowers/train.manifest",
                  "--test", f"s3://{bucket}/flowers/test.manifest", "--output", f"s3://{bucket}/flowers/output/",
                  "--version", "v1", "--tag", "team=garden", "--no-wait"])
    assert r.exit_code == 0, r.output
    assert r.stdout == ARN + "\n"
    assert "watch it with: manifestkit status --project parts --version v1 --wait" in r.stderr

    # 2. status --wait: training has finished by the first poll.
    with open(SUMMARY_DOC, "rb") as fp:
        s3.put_object(Bucket=bucket, Key="flowers/output/summary.json", Body=fp.read())
    snapshot = json.dumps(_classification_line("s3://b/x.jpg", "CAP", "WATCH", 0.9, fp=True, fn=False))
    s3.put_object(Bucket=bucket, Key="flowers/output/test-snapshot.manifest", Body=snapshot.encode())
    trained = {"EvaluationResult": {"F1Score": 0.97, "Summary": {"S3Object": {
                   "Bucket": bucket, "Name": "flowers/output/summary.json"}}},
               "TestingDataResult": {"Output": {"Assets": [{"GroundTruthManifest": {"S3Object": {
                   "Bucket": bucket, "Name": "flowers/output/test-snapshot.manifest"}}}]}},
               "BillableTrainingTimeInSeconds": 2710}
    rek.project()
    rek.version("v1", "TRAINING_COMPLETED", **trained)
    r = run(app, ["status", "--project", PROJECT, "--version", "v1", "--wait"])
    assert r.exit_code == 0, r.output
    assert "v1       TRAINING_COMPLETED  0.970" in r.stdout and "45m10s" in r.stdout

    # 3. evaluate.
    rek.project()
    rek.version("v1", "TRAINING_COMPLETED", **trained)
    r = run(app, ["evaluate", "--project", PROJECT, "--version", "v1"])
    assert r.exit_code == 0, r.output
    assert "F1 0.970" in r.stdout and "s3://b/x.jpg: 1 false positive(s) WATCH" in r.stdout

    # 4. start --wait (the botocore waiter sees RUNNING at once).
    rek.project()
    rek.version("v1", "TRAINING_COMPLETED")
    rek.add("start_project_version", {"Status": "STARTING"}, {"ProjectVersionArn": ARN, "MinInferenceUnits": 1})
    rek.version("v1", "RUNNING")
    rek.version("v1", "RUNNING", MinInferenceUnits=1)
    r = run(app, ["start", "--project", PROJECT, "--version", "v1", "--wait"])
    assert r.exit_code == 0, r.output
    assert r.stdout == "parts/v1: RUNNING\n"

    # 5. detect with results and a predictions manifest.
    img = write_image(tmp_path / "photos" / "rose.jpg", 120, 90)
    rek.project()
    rek.version("v1", "RUNNING")
    rek.add("detect_custom_labels", {"CustomLabels": [{"Name": "rose", "Confidence": 97.25}]},
            {"ProjectVersionArn": ARN, "Image": {"Bytes": img.read_bytes()}})
    out = tmp_path / "results.jsonl"
    r = run(app, ["detect", "--project", PROJECT, "--version", "v1", "-o", str(out),
                  "--s3-prefix", f"s3://{bucket}/photos/", str(img)])
    assert r.exit_code == 0, r.output
    [line] = [json.loads(x) for x in (tmp_path / "results.manifest").read_text().splitlines()]
    assert line["source-ref"] == f"s3://{bucket}/photos/rose.jpg"
    assert line["prediction-metadata"]["confidence"] == 0.9725

    # 6. stop --wait.
    rek.project()
    rek.version("v1", "RUNNING")
    rek.add("stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": ARN})
    rek.version("v1", "STOPPED")
    r = run(app, ["stop", "--project", PROJECT, "--version", "v1", "--wait"])
    assert r.exit_code == 0, r.output
    assert r.stdout == "parts/v1: STOPPED\n"


def test_cli_ctrl_c_while_watching_exits_130_with_resume_hint(rek: Stubbed,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=None))

    def ctrl_c(n: int) -> None:
        raise KeyboardInterrupt

    # The CLI polls with the default clock: swap in one whose sleep is where Ctrl-C arrives.
    train_module = importlib.import_module("manifestkit.rekognition.train")  # the package exports train()
    monkeypatch.setattr(train_module, "Clock", FakeClock(on_sleep=ctrl_c).clock)
    rek.project()
    rek.version("v1", "TRAINING_IN_PROGRESS")
    r = CliRunner().invoke(app, ["status", "--project", PROJECT, "--version", "v1", "--wait"])
    assert r.exit_code == 130
    assert "the work goes on in AWS" in r.stderr
    assert "Watch it again with: manifestkit status --project parts --version v1 --wait" in r.stderr


def test_cli_train_dry_run_prints_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    r = CliRunner().invoke(app, ["train", "--project", PROJECT, "--train", "s3://b-1/t.manifest", "--auto-split",
                                 "--output", "s3://b-1/out/", "--version", "v9", "--dry-run", "--region", "eu-west-1"])
    assert r.exit_code == 0, r.output
    requests = [json.loads(x) for x in r.stdout.splitlines()]
    assert [q["operation"] for q in requests] == ["DescribeProjects", "CreateProject", "CreateProjectVersion"]
    assert requests[-1]["params"]["ProjectArn"] == "arn:aws:rekognition:eu-west-1:000000000000:project/parts/0"
    assert "placeholder ARN" in r.stderr and "nothing was sent" in r.stderr


def test_cli_bad_tag_is_a_usage_error() -> None:
    r = CliRunner().invoke(app, ["train", "--project", PROJECT, "--train", "s3://b-1/t.manifest", "--auto-split",
                                 "--output", "s3://b-1/out/", "--tag", "novalue", "--dry-run"])
    assert r.exit_code == 2 and "KEY=VALUE" in r.output


def test_cli_train_wait_success_json(rek: Stubbed, s3_client: Any,  # noqa: F811
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket = s3_client, s3_client.test_bucket
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=s3))
    summary = {"errors": [], "statistics": {"training": {"use_case": "IMAGE_LEVEL_LABELS", "total_json_lines": 2,
                                                         "valid_json_lines": 2, "invalid_json_lines": 0,
                                                         "ignored_json_lines": 0, "error_json_line_indices": [],
                                                         "errors": []}}}
    s3.put_object(Bucket=bucket, Key="out/manifest_summary.json", Body=json.dumps(summary).encode())
    rek.project()
    rek.add("create_project_version", {"ProjectVersionArn": ARN}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1", "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "out/"},
        "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": "t.manifest"}}}]},
        "TestingData": {"AutoCreate": True}})
    rek.version("v1", "TRAINING_COMPLETED", EvaluationResult={"F1Score": 0.93}, BillableTrainingTimeInSeconds=1800,
                ManifestSummary={"S3Object": {"Bucket": bucket, "Name": "out/manifest_summary.json"}})
    r = CliRunner().invoke(app, ["train", "--project", PROJECT, "--train", f"s3://{bucket}/t.manifest", "--auto-split",
                                 "--output", f"s3://{bucket}/out/", "--version", "v1", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["succeeded"] and report["f1"] == 0.93 and report["billable_seconds"] == 1800
    assert report["statistics"]["training"]["valid_json_lines"] == 2 and report["issues"] == []


def test_cli_status_of_a_project_without_versions(rek: Stubbed, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=None))
    rek.project()
    rek.add("describe_project_versions", {"ProjectVersionDescriptions": []}, {"ProjectArn": PROJECT_ARN})
    r = CliRunner().invoke(app, ["status", "--project", PROJECT])
    assert r.exit_code == 0 and r.stdout == "" and "project parts has no model versions yet" in r.stderr
