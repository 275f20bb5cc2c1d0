"""train(): project creation, both training routes, dry runs, and the polling loop (Stubber, fake clock)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.stub import Stubber
from rekstub import (  # noqa: F401
    PROJECT, PROJECT_ARN, REGION, FakeClock, Stubbed, dataset_arn, make_rekognition, rek, version_arn)

from manifestkit.errors import ManifestKitError
from manifestkit.rekognition import WaitInterrupted, WaitTimeout, check_request, default_version_name, train
from manifestkit.rekognition.train import wait_for_training

TRAIN = "s3://data-bucket/parts/train.manifest"
TEST = "s3://data-bucket/parts/test.manifest"
OUT = "s3://out-bucket/parts/output"
OUTPUT_CONFIG = {"S3Bucket": "out-bucket", "S3KeyPrefix": "parts/output/"}


def _asset(uri: str) -> dict[str, Any]:
    bucket, key = uri[5:].split("/", 1)
    return {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": key}}}


# ------------------------------------------------------------------------------------------ dry runs


def test_dry_run_sends_nothing_and_every_request_is_valid_for_botocore() -> None:
    clock = FakeClock()
    client = make_rekognition()
    with Stubber(client) as quiet:   # nothing queued: any real call would raise UnStubbedResponseError
        seen: list[dict[str, Any]] = []
        result = train(rekognition=client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
                       tags={"team": "vision"}, kms_key="alias/models", dry_run=True, on_request=seen.append,
                       clock=clock.clock())
        quiet.assert_no_pending_responses()
    assert [r["operation"] for r in result.requests] == ["DescribeProjects", "CreateProject", "CreateProjectVersion"]
    assert seen == result.requests
    cpv = result.requests[-1]["params"]
    assert cpv["VersionName"] == "v-20261127-203000"
    assert cpv["ProjectArn"] == f"arn:aws:rekognition:{REGION}:000000000000:project/{PROJECT}/0"
    assert cpv["TrainingData"] == {"Assets": [_asset(TRAIN)]}
    assert cpv["TestingData"] == {"Assets": [_asset(TEST)]}
    assert cpv["OutputConfig"] == OUTPUT_CONFIG
    assert cpv["Tags"] == {"team": "vision"} and cpv["KmsKeyId"] == "alias/models"
    # Replay each printed request through a real client's API path: botocore validates it against the
    # service model before the Stubber answers, and the Stubber checks it arrived unchanged.
    _replay(result.requests)


def _replay(requests: list[dict[str, Any]]) -> None:
    client = make_rekognition()
    canned = {"DescribeProjects": {"ProjectDescriptions": []}, "CreateProject": {"ProjectArn": PROJECT_ARN},
              "CreateDataset": {"DatasetArn": dataset_arn("train")}, "DistributeDatasetEntries": {},
              "CreateProjectVersion": {"ProjectVersionArn": version_arn("v1")}}
    with Stubber(client) as stub:
        for r in requests:
            method = re.sub(r"(?<!^)(?=[A-Z])", "_", r["operation"]).lower()
            stub.add_response(method, canned[r["operation"]], expected_params=r["params"])
            client._make_api_call(r["operation"], r["params"])
        stub.assert_no_pending_responses()


def test_dry_run_datasets_route_with_auto_split() -> None:
    result = train(rekognition=make_rekognition(), project=PROJECT, train_uri=TRAIN, auto_split=True,
                   output_uri=OUT, version="v2", use_datasets=True, dry_run=True, clock=FakeClock().clock())
    ops = [r["operation"] for r in result.requests]
    assert ops == ["DescribeProjects", "CreateProject", "CreateDataset", "CreateDataset",
                   "DistributeDatasetEntries", "CreateProjectVersion"]
    assert result.requests[2]["params"]["DatasetSource"] == _asset(TRAIN)
    assert "DatasetSource" not in result.requests[3]["params"]          # empty TEST dataset to distribute into
    assert "TrainingData" not in result.requests[-1]["params"]
    assert "TestingData" not in result.requests[-1]["params"]
    _replay(result.requests)


def test_dry_run_auto_split_without_datasets_uses_autocreate() -> None:
    result = train(rekognition=make_rekognition(), project=PROJECT, train_uri=TRAIN, auto_split=True,
                   output_uri=OUT, version="v3", dry_run=True)
    assert result.requests[-1]["params"]["TestingData"] == {"AutoCreate": True}
    _replay(result.requests)


@pytest.mark.parametrize("kwargs, message", [
    ({"test_uri": TEST, "auto_split": True}, "not both"),
    ({}, "neither"),
    ({"test_uri": TEST, "version": "has space"}, "invalid version name"),
    ({"test_uri": "s3://data-bucket/parts/"}, "is a folder"),
    ({"test_uri": TEST, "tags": {"aws:owner": "x"}}, "reserves"),
    ({"test_uri": TEST, "kms_key": "-bad key-"}, "KmsKeyId"),
])
def test_bad_requests_are_refused_before_sending(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestKitError, match=message):
        train(rekognition=make_rekognition(), project=PROJECT, train_uri=TRAIN, output_uri=OUT, dry_run=True,
              **kwargs)


def test_check_request_reports_length_and_pattern_problems() -> None:
    client = make_rekognition()
    with pytest.raises(ManifestKitError, match="VersionName"):
        check_request(client, "CreateProjectVersion", {"ProjectArn": PROJECT_ARN, "VersionName": "a" * 256,
                                                       "OutputConfig": OUTPUT_CONFIG})
    with pytest.raises(ManifestKitError, match="ProjectArn"):
        check_request(client, "CreateProjectVersion", {"ProjectArn": "arn:aws:rekognition:us-east-1:1:project/x",
                                                       "VersionName": "v", "OutputConfig": OUTPUT_CONFIG})
    check_request(client, "CreateProjectVersion", {"ProjectArn": PROJECT_ARN, "VersionName": "v",
                                                   "OutputConfig": OUTPUT_CONFIG})


def test_default_version_name_is_utc_and_valid() -> None:
    import datetime as dt

    local = dt.datetime(2026, 11, 27, 21, 30, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert default_version_name(local) == "v-20261127-203000"
    assert re.fullmatch(r"[a-zA-Z0-9_.\-]{1,255}", default_version_name(local))


# ------------------------------------------------------------------------------------------ real calls


def _cpv_params(version: str, *, test: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ProjectArn": PROJECT_ARN, "VersionName": version, "OutputConfig": OUTPUT_CONFIG,
            "TrainingData": {"Assets": [_asset(TRAIN)]},
            "TestingData": test if test is not None else {"Assets": [_asset(TEST)]}}


def test_creates_the_missing_project_then_the_version(rek: Stubbed) -> None:
    rek.project(arn=None)
    rek.add("create_project", {"ProjectArn": PROJECT_ARN}, {"ProjectName": PROJECT})
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, _cpv_params("v1"))
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
                   version="v1")
    assert result.created_project and result.project_arn == PROJECT_ARN
    assert result.version_arn == version_arn("v1")
    assert result.status_command == f"manifestkit status --project {PROJECT} --version v1 --wait"


def test_existing_project_is_reused_and_auto_split_sets_autocreate(rek: Stubbed) -> None:
    rek.project()
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")},
            _cpv_params("v1", test={"AutoCreate": True}))
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, auto_split=True, output_uri=OUT,
                   version="v1")
    assert not result.created_project


def test_describe_projects_is_paginated(rek: Stubbed) -> None:
    rek.add("describe_projects", {"ProjectDescriptions": [], "NextToken": "t1"}, {"ProjectNames": [PROJECT]})
    rek.add("describe_projects", {"ProjectDescriptions": [{"ProjectArn": PROJECT_ARN}]},
            {"ProjectNames": [PROJECT], "NextToken": "t1"})
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, _cpv_params("v1"))
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
                   version="v1")
    assert result.project_arn == PROJECT_ARN and not result.created_project


def test_a_project_with_datasets_needs_another_route(rek: Stubbed) -> None:
    rek.project(datasets=[{"DatasetType": "TRAIN", "DatasetArn": dataset_arn("train")}])
    with pytest.raises(ManifestKitError, match="has datasets"):
        train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT, version="v1")


def test_version_name_in_use_is_an_aws_error_with_a_hint(rek: Stubbed) -> None:
    rek.project()
    rek.error("create_project_version", "ResourceInUseException", _cpv_params("v1"))
    with pytest.raises(ManifestKitError, match="ResourceInUseException") as info:
        train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT, version="v1")
    assert info.value.code == "ResourceInUseException"  # type: ignore[attr-defined]


def _dataset(rek: Stubbed, kind: str, status: str, message: str = "") -> None:
    rek.add("describe_dataset", {"DatasetDescription": {"Status": status, "StatusMessage": message,
                                                        "StatusMessageCode": "SUCCESS" if not message
                                                        else "CLIENT_ERROR"}},
            {"DatasetArn": dataset_arn(kind)})


def test_datasets_route_creates_waits_then_trains_without_data(rek: Stubbed) -> None:
    rek.project()
    rek.add("create_dataset", {"DatasetArn": dataset_arn("train")},
            {"ProjectArn": PROJECT_ARN, "DatasetType": "TRAIN", "DatasetSource": _asset(TRAIN)})
    rek.add("create_dataset", {"DatasetArn": dataset_arn("test")},
            {"ProjectArn": PROJECT_ARN, "DatasetType": "TEST", "DatasetSource": _asset(TEST)})
    _dataset(rek, "train", "CREATE_IN_PROGRESS")
    rek.error("describe_dataset", "ThrottlingException", {"DatasetArn": dataset_arn("train")})
    _dataset(rek, "train", "CREATE_COMPLETE")
    _dataset(rek, "test", "CREATE_COMPLETE")
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")},
            {"ProjectArn": PROJECT_ARN, "VersionName": "v1", "OutputConfig": OUTPUT_CONFIG})
    clock = FakeClock()
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
                   version="v1", use_datasets=True, clock=clock.clock())
    assert result.version_arn == version_arn("v1")
    assert clock.sleeps == [5.0, 10.0]     # the throttled poll doubles the wait


def test_datasets_route_auto_split_distributes_entries(rek: Stubbed) -> None:
    rek.project()
    rek.add("create_dataset", {"DatasetArn": dataset_arn("train")},
            {"ProjectArn": PROJECT_ARN, "DatasetType": "TRAIN", "DatasetSource": _asset(TRAIN)})
    rek.add("create_dataset", {"DatasetArn": dataset_arn("test")}, {"ProjectArn": PROJECT_ARN, "DatasetType": "TEST"})
    _dataset(rek, "train", "CREATE_COMPLETE")
    _dataset(rek, "test", "CREATE_COMPLETE")
    rek.add("distribute_dataset_entries", {},
            {"Datasets": [{"Arn": dataset_arn("train")}, {"Arn": dataset_arn("test")}]})
    _dataset(rek, "train", "UPDATE_IN_PROGRESS")
    _dataset(rek, "train", "UPDATE_COMPLETE")
    _dataset(rek, "test", "UPDATE_COMPLETE")
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")},
            {"ProjectArn": PROJECT_ARN, "VersionName": "v1", "OutputConfig": OUTPUT_CONFIG})
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, auto_split=True, output_uri=OUT,
                   version="v1", use_datasets=True, clock=FakeClock().clock())
    # The stubber checked every request's parameters; the fixture checks none is left over.
    assert result.version_arn == version_arn("v1") and not result.created_project


def test_dataset_creation_failure_reports_rekognition_message(rek: Stubbed) -> None:
    rek.project()
    rek.add("create_dataset", {"DatasetArn": dataset_arn("train")},
            {"ProjectArn": PROJECT_ARN, "DatasetType": "TRAIN", "DatasetSource": _asset(TRAIN)})
    rek.add("create_dataset", {"DatasetArn": dataset_arn("test")},
            {"ProjectArn": PROJECT_ARN, "DatasetType": "TEST", "DatasetSource": _asset(TEST)})
    _dataset(rek, "train", "CREATE_FAILED", "The manifest file contains too many invalid rows.")
    with pytest.raises(ManifestKitError, match="too many invalid rows.*manifestkit validate"):
        train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
              version="v1", use_datasets=True, clock=FakeClock().clock())


# ------------------------------------------------------------------------------------------ waiting


def test_wait_polls_backs_off_on_throttling_and_reports_status(rek: Stubbed) -> None:
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.error("describe_project_versions", "ThrottlingException",
              {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    rek.error("describe_project_versions", "ProvisionedThroughputExceededException",
              {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.version("v1", "TRAINING_COMPLETED", EvaluationResult={"F1Score": 0.91})
    clock = FakeClock()
    updates: list[Any] = []
    desc = wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1", interval=60,
                             on_status=updates.append, clock=clock.clock())
    assert desc["Status"] == "TRAINING_COMPLETED"
    assert clock.sleeps == [60, 120, 240, 60]
    assert [(u.status, u.throttled) for u in updates] == [
        ("TRAINING_IN_PROGRESS", False), ("TRAINING_IN_PROGRESS", True), ("TRAINING_IN_PROGRESS", True),
        ("TRAINING_IN_PROGRESS", False), ("TRAINING_COMPLETED", False)]
    assert [u.elapsed for u in updates] == [0, 60, 180, 420, 480]


def test_throttling_backoff_is_capped(rek: Stubbed) -> None:
    for _ in range(6):
        rek.error("describe_project_versions", "ThrottlingException",
                  {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    rek.version("v1", "TRAINING_FAILED", StatusMessage="bad manifest")
    clock = FakeClock()
    desc = wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1", interval=60,
                             timeout=10 * 3600, clock=clock.clock())
    assert desc["Status"] == "TRAINING_FAILED"
    assert clock.sleeps == [120, 240, 480, 900, 900, 900]


def test_other_aws_errors_while_waiting_are_raised(rek: Stubbed) -> None:
    rek.error("describe_project_versions", "AccessDeniedException",
              {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    with pytest.raises(ManifestKitError, match="AccessDeniedException"):
        wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1",
                          clock=FakeClock().clock())


def test_timeout_leaves_training_running_and_says_how_to_resume(rek: Stubbed) -> None:
    for _ in range(3):
        rek.version("v1", "TRAINING_IN_PROGRESS")
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1", interval=60,
                          timeout=100, clock=clock.clock())
    assert clock.sleeps == [60, 40]          # never sleeps past the timeout
    assert info.value.resume == f"manifestkit status --project {PROJECT} --version v1 --wait"
    assert "goes on in AWS" in str(info.value)
    assert info.value.last is not None and info.value.last["Status"] == "TRAINING_IN_PROGRESS"


def test_ctrl_c_while_waiting_leaves_training_running(rek: Stubbed) -> None:
    rek.version("v1", "TRAINING_IN_PROGRESS")
    rek.version("v1", "TRAINING_IN_PROGRESS")

    def interrupt(n: int) -> None:
        if n == 2:
            raise KeyboardInterrupt

    clock = FakeClock(on_sleep=interrupt)
    # The stubber has nothing else queued: a StopProjectVersion (or any call) would fail the test.
    with pytest.raises(WaitInterrupted) as info:
        wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1", interval=30,
                          clock=clock.clock())
    assert "goes on in AWS" in str(info.value)
    assert info.value.resume in str(info.value)
    assert info.value.resume == f"manifestkit status --project {PROJECT} --version v1 --wait"


def test_train_and_wait_without_s3_returns_the_description(rek: Stubbed) -> None:
    rek.project()
    rek.add("create_project_version", {"ProjectVersionArn": version_arn("v1")}, _cpv_params("v1"))
    rek.version("v1", "TRAINING_COMPLETED", EvaluationResult={"F1Score": 0.5})
    result = train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
                   version="v1", wait=True, clock=FakeClock().clock())
    assert result.description is not None and result.description["EvaluationResult"]["F1Score"] == 0.5
    assert result.report is None


def test_a_version_not_listed_yet_is_polled_again(rek: Stubbed) -> None:
    rek.add("describe_project_versions", {"ProjectVersionDescriptions": []},
            {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    rek.version("v1", "TRAINING_COMPLETED")
    clock = FakeClock()
    desc = wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1", interval=60,
                             clock=clock.clock())
    assert desc["Status"] == "TRAINING_COMPLETED" and clock.sleeps == [60]


def test_a_version_that_never_appears_is_an_error(rek: Stubbed) -> None:
    for _ in range(3):
        rek.add("describe_project_versions", {"ProjectVersionDescriptions": []},
                {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]})
    with pytest.raises(ManifestKitError, match="no version 'v1'"):
        wait_for_training(rek.client, project_arn=PROJECT_ARN, project=PROJECT, version="v1",
                          clock=FakeClock().clock())


def test_an_invalid_version_request_fails_before_the_project_is_created(rek: Stubbed) -> None:
    # Nothing is queued: creating the project first would fail the test with an unstubbed call.
    with pytest.raises(ManifestKitError, match="KmsKeyId"):
        train(rekognition=rek.client, project=PROJECT, train_uri=TRAIN, test_uri=TEST, output_uri=OUT,
              version="v1", kms_key="not a key")
