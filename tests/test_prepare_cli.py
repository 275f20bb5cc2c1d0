"""``manifestkit prepare coco|folders`` on the command line: exit codes, stdout/stderr, dry-run JSON lines.

S3 is moto's server on 127.0.0.1; Rekognition a real client in a Stubber (nothing queued = nothing sent).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore import xform_name
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from rekstub import PROJECT, PROJECT_ARN, Stubbed, make_rekognition, rek, version_arn  # noqa: F401
from s3server import s3_client, s3_endpoint  # noqa: F401
from test_prepare import DATE, SAMPLE, keys, make_folders, refs
from typer.testing import CliRunner

from manifestkit import aws, convert_folders, split
from manifestkit.cli import app

runner = CliRunner()


def use_clients(monkeypatch: pytest.MonkeyPatch, s3: Any, rekognition: Any) -> list[tuple[Any, Any]]:
    """Make the CLI's aws.make_clients hand out these clients; returns the (profile, region) it was asked for."""
    asked: list[tuple[Any, Any]] = []

    def make(profile: Any = None, region: Any = None) -> Any:
        asked.append((profile, region))
        return SimpleNamespace(s3=s3, rekognition=rekognition, region=region or "us-east-1",
                               client=lambda service, r=None: s3 if service == "s3" else rekognition)

    monkeypatch.setattr(aws, "make_clients", make)
    return asked


def test_train_failure_is_traced_to_the_users_train_manifest_line(tmp_path: Path, s3_client: Any, rek: Stubbed,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_client.test_bucket
    root = make_folders(tmp_path / "photos", {"daisy": 5, "rose": 5})
    prefix = f"s3://{bucket}/flowers/"
    # The same data split the same way outside prepare tells which line of train.manifest to blame.
    convert_folders(root, tmp_path / "all.manifest", s3_prefix=prefix, creation_date=DATE)
    split(tmp_path / "all.manifest", tmp_path / "t", tmp_path / "v", images=root, s3_prefix=prefix)
    train_lines = (tmp_path / "t.manifest").read_text().splitlines()
    blamed = json.loads(train_lines[2])
    blamed["errors"] = [{"code": "ERROR_INVALID_IMAGE", "message": "The image is not valid."}]
    validation = "\n".join(train_lines[:2] + [json.dumps(blamed)] + train_lines[3:]) + "\n"
    s3_client.put_object(Bucket=bucket, Key="out/v1/training_manifest_with_validation.json", Body=validation.encode())

    use_clients(monkeypatch, s3_client, rek.client)
    rek.project(PROJECT, arn=None)
    rek.add("create_project", {"ProjectArn": PROJECT_ARN}, {"ProjectName": PROJECT})
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1", "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "out/"},
        "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {
            "Bucket": bucket, "Name": "flowers/manifests/train.manifest"}}}]},
        "TestingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {
            "Bucket": bucket, "Name": "flowers/manifests/test.manifest"}}}]}})
    rek.version("v1", "TRAINING_FAILED", StatusMessage="The manifest file contains too many invalid data objects.",
                TrainingDataResult={"Validation": {"Assets": [{"GroundTruthManifest": {"S3Object": {
                    "Bucket": bucket, "Name": "out/v1/training_manifest_with_validation.json"}}}]}})

    work = tmp_path / "work"
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", prefix, "--work-dir", str(work),
                            "--train", "--project", PROJECT, "--output", f"s3://{bucket}/out/", "--version", "v1",
                            "--creation-date", DATE])
    assert r.exit_code == 1, r.output
    assert r.stdout.splitlines() == [f"{prefix}manifests/train.manifest", f"{prefix}manifests/test.manifest",
                                     version_arn("v1")]
    err = r.stderr
    for step in ("convert", "validate", "split", "check", "stage", "train"):
        assert f"== {step} ==" in err
    assert "v1: TRAINING_FAILED" in err and "too many invalid data objects" in err
    assert f"{work / 'train.manifest'}:3: error: ERROR_INVALID_IMAGE" in err
    assert refs(work / "train.manifest")[2] == blamed["source-ref"]


def test_dry_run_prints_valid_requests_and_sends_nothing(tmp_path: Path, s3_client: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_client.test_bucket
    quiet = make_rekognition()
    use_clients(monkeypatch, s3_client, quiet)
    with Stubber(quiet) as stub:  # nothing queued: any request reaching Rekognition would fail the run
        r = runner.invoke(app, ["prepare", "coco", str(SAMPLE / "coco" / "annotations.json"),
                                "--images", str(SAMPLE / "coco" / "images"), "--s3-prefix", f"s3://{bucket}/coco/",
                                "--work-dir", str(tmp_path / "work"), "--train", "--project", "demo",
                                "--output", f"s3://{bucket}/output/", "--dry-run"])
        stub.assert_no_pending_responses()
    assert r.exit_code == 0, r.output
    assert keys(s3_client, bucket) == set()
    requests = [json.loads(line) for line in r.stdout.splitlines()]
    assert [q["operation"] for q in requests] == ["DescribeProjects", "CreateProject", "CreateProjectVersion"]
    assert all(set(q) == {"operation", "params"} for q in requests)
    cpv = requests[-1]["params"]
    assert cpv["TrainingData"]["Assets"][0]["GroundTruthManifest"]["S3Object"] == {
        "Bucket": bucket, "Name": "coco/manifests/train.manifest"}
    assert cpv["OutputConfig"] == {"S3Bucket": bucket, "S3KeyPrefix": "output/"}
    # Each line is a valid request for botocore's service model...
    model = make_rekognition().meta.service_model
    for q in requests:
        validate_parameters(q["params"], model.operation_model(q["operation"]).input_shape)
    # ...and goes through a real client's API path unchanged (the Stubber compares what arrives).
    replay = make_rekognition()
    canned = {"DescribeProjects": {"ProjectDescriptions": []}, "CreateProject": {"ProjectArn": PROJECT_ARN},
              "CreateProjectVersion": {"ProjectVersionArn": version_arn("v1")}}
    with Stubber(replay) as check:
        for q in requests:
            method = xform_name(q["operation"])
            check.add_response(method, canned[q["operation"]], expected_params=q["params"])
            getattr(replay, method)(**q["params"])
        check.assert_no_pending_responses()
    assert "would upload" in r.stderr and "dry run: nothing was uploaded and nothing was sent" in r.stderr
    assert (tmp_path / "work" / "train.manifest").is_file()


def test_dry_run_without_train_needs_no_rekognition(tmp_path: Path, s3_client: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_client.test_bucket
    use_clients(monkeypatch, s3_client, None)
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 5})
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", f"s3://{bucket}/p/",
                            "--work-dir", str(tmp_path / "work"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and keys(s3_client, bucket) == set()
    assert "images: 10 named, 10 would upload" in r.stderr and "dry run: nothing was uploaded" in r.stderr


def test_would_fail_exits_1_with_the_findings_and_uploads_nothing(tmp_path: Path, s3_client: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_client.test_bucket
    quiet = make_rekognition()
    use_clients(monkeypatch, s3_client, quiet)
    root = make_folders(tmp_path / "photos", {"cat": 6})
    with Stubber(quiet) as stub:
        r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", f"s3://{bucket}/cats/",
                                "--work-dir", str(tmp_path / "work"), "--train", "--project", PROJECT,
                                "--output", f"s3://{bucket}/out/"])
        stub.assert_no_pending_responses()
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "error ERROR_MANIFEST_TOO_FEW_LABELS: 1 finding(s)" in r.stderr  # the validator's own report
    assert "verdict: would fail: ERROR_MANIFEST_TOO_FEW_LABELS" in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: validation of the dataset predicts that Rekognition would fail "
                           "(ERROR_MANIFEST_TOO_FEW_LABELS): nothing was uploaded")
    assert "Traceback" not in r.output
    assert keys(s3_client, bucket) == set()


def test_missing_bucket_is_an_error_naming_it(tmp_path: Path, s3_client: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    asked = use_clients(monkeypatch, s3_client, None)
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 5})
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", "s3://no-such-bucket-here/p/",
                            "--work-dir", str(tmp_path / "work"), "--region", "us-east-1", "--profile", "dev"])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: the bucket no-such-bucket-here does not exist")
    assert asked == [("dev", "us-east-1")]


@pytest.mark.parametrize("args, message", [
    (["--train"], "--train needs --project NAME and --output"),
    (["--train", "--project", "p"], "--train needs --project NAME and --output"),
    (["--project", "p"], "only mean something with --train"),
    (["--output", "s3://bucket-x/o/"], "only mean something with --train"),
    (["--test-fraction", "1.5"], "strictly between 0 and 1"),
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = use_clients(monkeypatch, None, None)
    root = make_folders(tmp_path / "photos", {"a": 1})
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", "s3://bucket-x/p/",
                            "--work-dir", str(tmp_path / "work"), *args])
    assert r.exit_code == 2
    assert message in " ".join(r.stderr.replace("│", " ").split())
    assert asked == [] and not (tmp_path / "work").exists()


def test_coco_needs_its_images_folder(tmp_path: Path) -> None:
    r = runner.invoke(app, ["prepare", "coco", str(SAMPLE / "coco" / "annotations.json"),
                            "--s3-prefix", "s3://bucket-x/p/", "--work-dir", str(tmp_path / "work")])
    assert r.exit_code == 2 and "--images" in r.stderr


@pytest.mark.parametrize("sub", ["coco", "folders"])
def test_help_shows_the_shared_options(sub: str) -> None:
    r = runner.invoke(app, ["prepare", sub, "--help"])
    assert r.exit_code == 0
    for option in ("--s3-prefix", "--test-fraction", "--seed", "--work-dir", "--train", "--project", "--output",
                   "--dry-run", "--profile", "--region", "--creation-date"):
        assert option in r.stdout


def _wrap_prepare(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
    """Call the real library function with some keyword arguments replaced (a progress hook, a fake clock)."""
    import manifestkit.cli.prepare as cli_prepare

    real = cli_prepare.run_prepare

    def wrapped(**kwargs: Any) -> Any:
        for name, make in overrides.items():
            kwargs[name] = make(kwargs.get(name))
        return real(**kwargs)

    monkeypatch.setattr(cli_prepare, "run_prepare", wrapped)


def test_ctrl_c_while_staging_says_how_to_resume(tmp_path: Path, s3_client: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    use_clients(monkeypatch, s3_client, None)

    def interrupting(progress: Any) -> Any:
        def hook(step: str, n: int) -> None:
            if step == "stage":
                raise KeyboardInterrupt
            progress(step, n)
        return hook

    _wrap_prepare(monkeypatch, progress=interrupting)
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 5})
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", f"s3://{s3_client.test_bucket}/p/",
                            "--work-dir", str(tmp_path / "work")])
    assert r.exit_code == 130
    assert "run the same command again to resume; objects already in S3 are skipped" in r.stderr
    assert not any(k.endswith(".manifest") for k in keys(s3_client, s3_client.test_bucket))


def test_ctrl_c_while_waiting_leaves_the_training_running(tmp_path: Path, s3_client: Any, rek: Stubbed,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rekstub import FakeClock

    bucket = s3_client.test_bucket
    use_clients(monkeypatch, s3_client, rek.client)

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    clock = FakeClock(on_sleep=interrupt)
    _wrap_prepare(monkeypatch, clock=lambda _: clock.clock())
    rek.project(PROJECT, arn=PROJECT_ARN)
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1", "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "out/"},
        "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": bucket,
                                                                          "Name": "p/manifests/train.manifest"}}}]},
        "TestingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": bucket,
                                                                         "Name": "p/manifests/test.manifest"}}}]}})
    rek.version("v1", "TRAINING_IN_PROGRESS")  # then Ctrl-C during the sleep before the next poll
    root = make_folders(tmp_path / "photos", {"a": 5, "b": 5})
    r = runner.invoke(app, ["prepare", "folders", str(root), "--s3-prefix", f"s3://{bucket}/p/",
                            "--work-dir", str(tmp_path / "work"), "--train", "--project", PROJECT,
                            "--output", f"s3://{bucket}/out/", "--version", "v1"])
    assert r.exit_code == 130, r.output
    assert "Watch it again with: manifestkit status --project parts --version v1 --wait" in r.stderr
    assert clock.sleeps == [60.0]


def test_converter_options_reach_the_converter(tmp_path: Path, s3_client: Any, rek: Stubbed,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """--crowd keep, --keep-empty and --label-attribute change the dataset manifest prepare writes."""
    use_clients(monkeypatch, s3_client, rek.client)
    prefix = f"s3://{s3_client.test_bucket}/coco/"
    base = ["prepare", "coco", str(SAMPLE / "coco" / "annotations.json"), "--images", str(SAMPLE / "coco" / "images"),
            "--s3-prefix", prefix, "--dry-run", "--creation-date", DATE]
    plain = runner.invoke(app, [*base, "--work-dir", str(tmp_path / "a")])
    tuned = runner.invoke(app, [*base, "--work-dir", str(tmp_path / "b"), "--crowd", "keep", "--keep-empty",
                                "--label-attribute", "parts"])
    assert plain.exit_code == 0 and tuned.exit_code == 0, (plain.output, tuned.output)
    a = [json.loads(x) for x in (tmp_path / "a" / "dataset.manifest").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "b" / "dataset.manifest").read_text().splitlines()]
    assert len(b) == len(a) + 1  # the image without boxes is kept
    boxes = lambda lines, attr: sum(len(x[attr]["annotations"]) for x in lines)  # noqa: E731
    assert boxes(b, "parts") == boxes(a, "bounding-box") + 1  # the crowd annotation is kept
    assert "MK_CROWD_SKIPPED" in plain.stderr and "MK_CROWD_SKIPPED" not in tuned.stderr


def test_folder_options_reach_the_converter(tmp_path: Path, s3_client: Any, rek: Stubbed,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    use_clients(monkeypatch, s3_client, rek.client)
    root = make_folders(tmp_path / "photos", {"daisy": 5, "rose": 5})
    (root / "rose" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    args = ["prepare", "folders", str(root), "--s3-prefix", f"s3://{s3_client.test_bucket}/f/", "--dry-run",
            "--creation-date", DATE]
    failed = runner.invoke(app, [*args, "--work-dir", str(tmp_path / "a")])
    assert failed.exit_code == 1 and "broken.jpg" in failed.stderr
    ok = runner.invoke(app, [*args, "--work-dir", str(tmp_path / "b"), "--skip-invalid", "--label-attribute", "kind"])
    assert ok.exit_code == 0, ok.output
    first = json.loads((tmp_path / "b" / "dataset.manifest").read_text().splitlines()[0])
    assert "kind-metadata" in first
