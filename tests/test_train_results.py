"""A whole failed training: Rekognition (Stubber) says TRAINING_FAILED, its validation files are served by
moto's S3 server on 127.0.0.1, and every finding is traced back to the user's own manifest lines."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import CONFORMANCE
from rekstub import PROJECT, PROJECT_ARN, FakeClock, Stubbed, rek, version_arn  # noqa: F401
from s3server import s3_client, s3_endpoint  # noqa: F401
from typer.testing import CliRunner

from manifestkit import aws
from manifestkit.cli import app
from manifestkit.rekognition import train, training_report
from manifestkit.rekognition.results import issues_in_line

DOC_LINES = os.path.join(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide", "derived",
                         "doc-validation-result-lines.jsonl")
INVALID_JSON = {"errors": [{"code": "ERROR_INVALID_JSON_LINE", "message": "The JSON Line has an invalid format."}]}


def _line(ref: str) -> str:
    return json.dumps({"source-ref": ref, "label": 0, "label-metadata": {
        "class-name": "x", "confidence": 1, "type": "groundtruth/image-classification", "human-annotated": "yes",
        "creation-date": "2026-11-27T00:00:00.000000"}})


def _put(s3: Any, key: str, body: str | bytes) -> dict[str, str]:
    s3.put_object(Bucket=s3.test_bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return {"Bucket": s3.test_bucket, "Name": key}


@pytest.fixture()
def failed_training(s3_client: Any, tmp_path: Path) -> dict[str, Any]:  # noqa: F811
    """The user's manifests and Rekognition's validation files for a failed training."""
    s3 = s3_client
    doc_lines = Path(DOC_LINES).read_text().splitlines()
    # Rekognition's copy of the training manifest: the guide's own validation lines, plus a line it
    # could not parse (replaced by an error-only line) at position 5.
    validation = doc_lines + [json.dumps(INVALID_JSON)]
    # The user's training manifest, in another order than the copy, with the broken line at line 5.
    user_train = [_line("s3://bucket/Manifests/images/199940-1791.jpg"), _line("s3://bucket/test_normal_8.jpg"),
                  _line("s3://bucket/ok.jpg"), _line("s3://bucket/images/IMG_1186.png"),
                  '{"source-ref": "s3://bucket/broken.jpg", "label": ']
    train_uri = f"s3://{s3.test_bucket}/parts/train.manifest"
    _put(s3, "parts/train.manifest", "\n".join(user_train) + "\n")
    test_file = tmp_path / "test.manifest"
    test_file.write_text("\n".join([_line("s3://bucket/t1.jpg"), _line("s3://bucket/t2.jpg"),
                                    _line("s3://bucket/t3.jpg")]) + "\n")
    test_validation = [_line("s3://bucket/t1.jpg"),
                       json.dumps({**json.loads(_line("s3://bucket/t3.jpg")), "errors": [
                           {"code": "ERROR_INVALID_IMAGE",
                            "message": "The image is invalid. Check S3 path and/or image properties."}]})]
    summary = {"errors": [], "statistics": {
        "training": {"use_case": "NOT_DETERMINED", "total_json_lines": 5, "valid_json_lines": 1,
                     "invalid_json_lines": 3, "ignored_json_lines": 1, "error_json_line_indices": [3, 4, 5],
                     "errors": [{"code": "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST",
                                 "message": "The manifest file contains too many invalid rows."}]},
        "testing": {"use_case": "NOT_DETERMINED", "total_json_lines": 3, "valid_json_lines": 2,
                    "invalid_json_lines": 1, "ignored_json_lines": 0, "error_json_line_indices": [2],
                    "errors": []}}}
    description = {
        "Status": "TRAINING_FAILED",
        "StatusMessage": "The manifest file contains too many invalid rows.",
        "OutputConfig": {"S3Bucket": s3.test_bucket, "S3KeyPrefix": "parts/output/"},
        "ManifestSummary": {"S3Object": _put(s3, "parts/output/manifest_summary.json", json.dumps(summary))},
        "TrainingDataResult": {"Validation": {"Assets": [{"GroundTruthManifest": {"S3Object": _put(
            s3, "parts/output/training_manifest_with_validation.json", "\n".join(validation) + "\n")}}]}},
        "TestingDataResult": {"Validation": {"Assets": [{"GroundTruthManifest": {"S3Object": _put(
            s3, "parts/output/testing_manifest_with_validation.json", "\n".join(test_validation) + "\n")}}]}},
    }
    return {"s3": s3, "train_uri": train_uri, "test_file": str(test_file), "description": description,
            "test_uri": f"s3://{s3.test_bucket}/parts/test.manifest"}


def _expected_locations(train_uri: str, test_file: str) -> set[tuple[str, str, int | None, str | None]]:
    return {
        ("WARNING_UNANNOTATED_RECORD", "line", 4, train_uri),
        ("WARNING_NO_ATTRIBUTE_ANNOTATIONS", "attribute 'bounding-box'", 4, train_uri),
        ("WARNING_NO_ANNOTATIONS", "line", 4, train_uri),
        ("ERROR_UNSUPPORTED_USE_CASE_TYPE", "metadata of 'BB'", 2, train_uri),
        ("ERROR_NO_VALID_LABEL_ATTRIBUTES", "line", 2, train_uri),
        ("ERROR_BOUNDING_BOX_TOO_SMALL", "annotation 0 of 'bounding-box'", 1, train_uri),
        ("ERROR_INVALID_JSON_LINE", "line", 5, train_uri),
        ("ERROR_INVALID_IMAGE", "line", 3, test_file),
    }


def test_whole_failed_training_traces_findings_to_user_lines(rek: Stubbed, failed_training: dict[str, Any]) -> None:
    ft = failed_training
    rek.project(arn=None)
    rek.add("create_project", {"ProjectArn": PROJECT_ARN}, {"ProjectName": PROJECT})
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1",
        "OutputConfig": {"S3Bucket": ft["s3"].test_bucket, "S3KeyPrefix": "parts/output/"},
        "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": ft["s3"].test_bucket,
                                                                           "Name": "parts/train.manifest"}}}]},
        "TestingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": ft["s3"].test_bucket,
                                                                          "Name": "parts/test.manifest"}}}]}})
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.version("v1", "TRAINING_FAILED", **ft["description"])
    clock = FakeClock()
    result = train(rekognition=rek.client, s3=ft["s3"], project=PROJECT, train_uri=ft["train_uri"],
                   test_uri=ft["test_uri"], output_uri=f"s3://{ft['s3'].test_bucket}/parts/output/", version="v1",
                   wait=True, interval=60, test_file=ft["test_file"], clock=clock.clock())
    report = result.report
    assert report is not None and not report.succeeded
    assert report.status == "TRAINING_FAILED" and "too many invalid rows" in (report.status_message or "")
    assert report.f1 is None
    assert clock.sleeps == [60]
    assert report.errors == [{"dataset": "training", "code": "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST",
                              "message": "The manifest file contains too many invalid rows."}]
    assert report.statistics["testing"]["invalid_json_lines"] == 1
    got = {(i.code, i.scope, i.line, i.manifest) for i in report.issues}
    assert got == _expected_locations(ft["train_uri"], ft["test_file"])
    by_code = {i.code: i for i in report.issues}
    assert by_code["ERROR_INVALID_JSON_LINE"].matched_by == "position"
    assert by_code["ERROR_BOUNDING_BOX_TOO_SMALL"].matched_by == "source-ref"
    assert by_code["ERROR_BOUNDING_BOX_TOO_SMALL"].validation_line == 4   # the copy's order differs
    assert by_code["ERROR_INVALID_IMAGE"].where() == f"{ft['test_file']}:3"
    json.dumps(report.to_dict())  # serialisable for --json


def test_auto_split_test_findings_are_found_in_the_training_manifest(failed_training: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    ft = failed_training
    local_train = tmp_path / "train.manifest"
    local_train.write_text(_line("s3://bucket/a.jpg") + "\n" + _line("s3://bucket/t3.jpg") + "\n")
    desc = dict(ft["description"])
    desc.pop("TrainingDataResult")
    report = training_report(desc, s3=ft["s3"], train_manifest=str(local_train), test_manifest=None)
    assert [(i.code, i.line, i.manifest) for i in report.issues] == [("ERROR_INVALID_IMAGE", 2, str(local_train))]


def test_no_validation_files_is_a_note_not_a_crash(failed_training: dict[str, Any]) -> None:
    desc = {"ProjectVersionArn": version_arn("v1"), "Status": "TRAINING_FAILED",
            "StatusMessage": "The manifest file extension or contents are invalid."}
    report = training_report(desc, s3=failed_training["s3"], train_manifest=failed_training["train_uri"])
    assert report.version == "v1" and report.issues == [] and report.summary_uri is None
    assert report.notes and "terminal manifest-file error" in report.notes[0]


def test_issues_in_line_reads_every_documented_place() -> None:
    lines = [json.loads(x) for x in Path(DOC_LINES).read_text().splitlines()]
    found = [(i.code, i.severity, i.scope) for n, obj in enumerate(lines, 1)
             for i in issues_in_line(obj, dataset="training", validation_line=n)]
    assert ("ERROR_BOUNDING_BOX_TOO_SMALL", "error", "annotation 0 of 'bounding-box'") in found
    assert ("ERROR_UNSUPPORTED_USE_CASE_TYPE", "error", "metadata of 'BB'") in found
    assert ("WARNING_NO_ATTRIBUTE_ANNOTATIONS", "warning", "attribute 'bounding-box'") in found
    assert len(found) == 6


def test_cli_train_wait_prints_the_located_findings_and_exits_1(rek: Stubbed, failed_training: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ft = failed_training
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=ft["s3"]))
    rek.project()
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, {
        "ProjectArn": PROJECT_ARN, "VersionName": "v1",
        "OutputConfig": {"S3Bucket": ft["s3"].test_bucket, "S3KeyPrefix": "out/"},
        "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": ft["s3"].test_bucket,
                                                                           "Name": "parts/train.manifest"}}}]},
        "TestingData": {"AutoCreate": True}})
    rek.version("v1", "TRAINING_FAILED", **ft["description"])
    result = CliRunner().invoke(app, ["train", "--project", PROJECT, "--train", ft["train_uri"], "--auto-split",
                                      "--output", f"s3://{ft['s3'].test_bucket}/out", "--version", "v1"])
    assert result.exit_code == 1, result.output
    assert "v1: TRAINING_FAILED" in result.stderr
    assert "error: training: ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST" in result.stderr
    assert f"{ft['train_uri']}:1: error: ERROR_BOUNDING_BOX_TOO_SMALL (annotation 0 of 'bounding-box')" \
        in result.stderr
    assert f"{ft['train_uri']}:5: error: ERROR_INVALID_JSON_LINE" in result.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 30), st.data())
def test_every_finding_lands_on_the_line_with_its_source_ref(s3_client: Any, n: int,  # noqa: F811
                                                              data: st.DataObject) -> None:
    refs = [f"s3://bucket/img-{i}.jpg" for i in range(n)]
    order = data.draw(st.permutations(range(n)))          # Rekognition's copy may be in any order
    flagged = data.draw(st.sets(st.integers(0, n - 1)))
    key = f"v/{uuid.uuid4().hex}.json"
    copy = []
    for i in order:
        line = json.loads(_line(refs[i]))
        if i in flagged:
            line["errors"] = [{"code": "ERROR_INVALID_IMAGE", "message": "m"}]
        copy.append(json.dumps(line))
    s3_client.put_object(Bucket=s3_client.test_bucket, Key=key, Body=("\n".join(copy) + "\n").encode())
    user = f"s3://{s3_client.test_bucket}/u/{uuid.uuid4().hex}.manifest"
    s3_client.put_object(Bucket=s3_client.test_bucket, Key=user[len(f"s3://{s3_client.test_bucket}/"):],
                         Body=("\n".join(_line(r) for r in refs) + "\n").encode())
    desc = {"Status": "TRAINING_FAILED", "TrainingDataResult": {"Validation": {"Assets": [
        {"GroundTruthManifest": {"S3Object": {"Bucket": s3_client.test_bucket, "Name": key}}}]}}}
    report = training_report(desc, s3=s3_client, train_manifest=user)
    assert sorted((i.line, i.source_ref) for i in report.issues) == sorted((k + 1, refs[k]) for k in flagged)
    assert [i.line for i in report.issues] == sorted(i.line for i in report.issues)  # listed in the user's order


def test_files_are_found_by_listing_when_their_locations_are_not_returned(s3_client: Any) -> None:  # noqa: F811
    import datetime as dt

    s3, bucket = s3_client, s3_client.test_bucket
    bad = json.loads(_line("s3://bucket/t1.jpg"))
    bad["errors"] = [{"code": "ERROR_INVALID_IMAGE", "message": "m"}]
    s3.put_object(Bucket=bucket, Key="out/job-1/training_manifest_with_validation.json",
                  Body=(json.dumps(bad) + "\n").encode())
    s3.put_object(Bucket=bucket, Key="out/job-1/manifest_summary.json", Body=b'{"errors": [], "statistics": {}}')
    s3.put_object(Bucket=bucket, Key="out/job-1/unrelated.json", Body=b"{}")
    desc = {"ProjectVersionArn": version_arn("v1"), "Status": "TRAINING_FAILED",
            "StatusMessage": "An internal service error occurred.",
            "CreationTimestamp": dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1),
            "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "out/"}}
    report = training_report(desc, s3=s3, train_manifest=None)
    assert report.summary_uri == f"s3://{bucket}/out/job-1/manifest_summary.json"
    assert [(i.code, i.source_ref) for i in report.issues] == [("ERROR_INVALID_IMAGE", "s3://bucket/t1.jpg")]
    assert "found them by listing" in report.notes[0]
    # Files older than the version belong to an earlier training: they are not taken.
    desc["CreationTimestamp"] = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    report = training_report(desc, s3=s3, train_manifest=None)
    assert report.summary_uri is None and report.issues == []
    assert "Rekognition wrote no validation files" in report.notes[0]
