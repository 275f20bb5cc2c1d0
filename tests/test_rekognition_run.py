"""status, start and stop: version listing, the running waiter, polling for STOPPED, and their CLI."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from rekstub import PROJECT, PROJECT_ARN, T0, FakeClock, Stubbed, rek, version_arn  # noqa: F401
from typer.testing import CliRunner

from manifestkit import aws
from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.rekognition import WaitInterrupted, list_versions, start_model, stop_model, version_status

VERSIONS = {"ProjectArn": PROJECT_ARN, "VersionNames": ["v1"]}


@pytest.fixture()
def cli(rek: Stubbed, monkeypatch: pytest.MonkeyPatch) -> CliRunner:  # noqa: F811
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=None))
    return CliRunner()


def test_list_versions_pages_and_fields(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    trained = {"ProjectVersionArn": version_arn("v2"), "CreationTimestamp": T0, "Status": "TRAINING_COMPLETED",
               "EvaluationResult": {"F1Score": 0.875}, "BillableTrainingTimeInSeconds": 3725,
               "TrainingEndTimestamp": T0 + dt.timedelta(hours=1, minutes=2)}
    running = {"ProjectVersionArn": version_arn("v1"), "CreationTimestamp": T0, "Status": "RUNNING",
               "MinInferenceUnits": 1, "MaxInferenceUnits": 3, "StatusMessage": "The model is running."}
    rek.add("describe_project_versions", {"ProjectVersionDescriptions": [trained], "NextToken": "n"},
            {"ProjectArn": PROJECT_ARN})
    rek.add("describe_project_versions", {"ProjectVersionDescriptions": [running]},
            {"ProjectArn": PROJECT_ARN, "NextToken": "n"})
    versions = list_versions(rekognition=rek.client, project=PROJECT)
    assert [(v.name, v.status, v.f1, v.billable_seconds) for v in versions] == [
        ("v2", "TRAINING_COMPLETED", 0.875, 3725), ("v1", "RUNNING", None, None)]
    assert versions[0].created == "2026-11-27T20:30:00Z" and versions[0].training_end == "2026-11-27T21:32:00Z"
    assert (versions[1].min_units, versions[1].max_units) == (1, 3)


def test_status_wait_needs_a_version(rek: Stubbed) -> None:  # noqa: F811
    with pytest.raises(ManifestKitError, match="--wait needs --version"):
        version_status(rekognition=rek.client, project=PROJECT, wait=True)


def test_status_wait_polls_until_not_busy(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STARTING")
    rek.version("v1", "RUNNING")
    clock = FakeClock()
    [info] = version_status(rekognition=rek.client, project=PROJECT, version="v1", wait=True, interval=20,
                            clock=clock.clock())
    assert info.status == "RUNNING" and clock.sleeps == [20]


def test_start_waits_with_the_running_waiter(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "TRAINING_COMPLETED")
    rek.add("start_project_version", {"Status": "STARTING"},
            {"ProjectVersionArn": version_arn("v1"), "MinInferenceUnits": 2, "MaxInferenceUnits": 4})
    rek.version("v1", "STARTING")      # the waiter's polls
    rek.version("v1", "RUNNING")
    rek.version("v1", "RUNNING", MinInferenceUnits=2, MaxInferenceUnits=4)   # the final description
    res = start_model(rekognition=rek.client, project=PROJECT, version="v1", min_units=2, max_units=4, wait=True,
                      delay=0)
    assert res.started and res.version.status == "RUNNING" and res.version.max_units == 4


def test_start_does_not_restart_a_running_model(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "RUNNING")
    res = start_model(rekognition=rek.client, project=PROJECT, version="v1", wait=True)
    assert not res.started and res.version.status == "RUNNING"


def test_start_failure_reported_with_status_message(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STOPPED")
    rek.add("start_project_version", {"Status": "STARTING"}, {"ProjectVersionArn": version_arn("v1"),
                                                              "MinInferenceUnits": 1})
    rek.version("v1", "FAILED", StatusMessage="Not enough capacity.")
    with pytest.raises(ManifestKitError, match="did not reach RUNNING: status FAILED \\(Not enough capacity.\\)"):
        start_model(rekognition=rek.client, project=PROJECT, version="v1", wait=True, delay=0)


@pytest.mark.parametrize("status", ["TRAINING_IN_PROGRESS", "TRAINING_FAILED", "DEPRECATED"])
def test_start_refuses_versions_that_cannot_run(rek: Stubbed, status: str) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", status)
    with pytest.raises(ManifestKitError, match=f"cannot be started while it is {status}"):
        start_model(rekognition=rek.client, project=PROJECT, version="v1")


def test_bad_units_are_refused(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STOPPED")
    with pytest.raises(ManifestKitError, match="inference units"):
        start_model(rekognition=rek.client, project=PROJECT, version="v1", min_units=3, max_units=2)


def test_stop_polls_until_stopped(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "RUNNING")
    rek.add("stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": version_arn("v1")})
    rek.version("v1", "STOPPING")
    rek.error("describe_project_versions", "ThrottlingException", VERSIONS)
    rek.version("v1", "STOPPED")
    clock = FakeClock()
    info = stop_model(rekognition=rek.client, project=PROJECT, version="v1", wait=True, interval=10,
                      clock=clock.clock())
    assert info.status == "STOPPED" and clock.sleeps == [10, 20]


def test_stop_of_a_stopped_model_sends_nothing(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STOPPED")
    assert stop_model(rekognition=rek.client, project=PROJECT, version="v1", wait=True).status == "STOPPED"


def test_ctrl_c_while_waiting_for_stop(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STOPPING")
    rek.version("v1", "STOPPING")

    def interrupt(n: int) -> None:
        if n == 1:
            raise KeyboardInterrupt

    with pytest.raises(WaitInterrupted, match="manifestkit status --project parts --version v1 --wait"):
        stop_model(rekognition=rek.client, project=PROJECT, version="v1", wait=True,
                   clock=FakeClock(on_sleep=interrupt).clock())


def test_unknown_version(rek: Stubbed) -> None:  # noqa: F811
    rek.project()
    rek.add("describe_project_versions", {"ProjectVersionDescriptions": []}, VERSIONS)
    with pytest.raises(ManifestKitError, match="no version 'v1'.*manifestkit status --project NAME"):
        stop_model(rekognition=rek.client, project=PROJECT, version="v1")


def test_cli_status_table_and_json(rek: Stubbed, cli: CliRunner) -> None:  # noqa: F811
    for _ in range(2):
        rek.project()
        rek.version("v1", "TRAINING_COMPLETED", EvaluationResult={"F1Score": 0.9}, BillableTrainingTimeInSeconds=95,
                    StatusMessage="The model is ready to run.")
    result = cli.invoke(app, ["status", "--project", PROJECT, "--version", "v1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "STATUS", "F1", "CREATED", "TRAINING", "END", "BILLED", "UNITS"]
    assert lines[1].split() == ["v1", "TRAINING_COMPLETED", "0.900", "2026-11-27T20:30:00Z", "-", "1m35s", "-"]
    assert lines[2] == "v1: The model is ready to run."
    result = cli.invoke(app, ["status", "--project", PROJECT, "--version", "v1", "--json"])
    assert json.loads(result.stdout)[0]["billable_seconds"] == 95


def test_cli_start_and_stop(rek: Stubbed, cli: CliRunner) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "STOPPED")
    rek.add("start_project_version", {"Status": "STARTING"}, {"ProjectVersionArn": version_arn("v1"),
                                                              "MinInferenceUnits": 1})
    result = cli.invoke(app, ["start", "--project", PROJECT, "--version", "v1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "parts/v1: STARTING\n"
    assert "manifestkit stop --project parts --version v1" in result.stderr
    rek.project()
    rek.version("v1", "RUNNING")
    rek.add("stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": version_arn("v1")})
    result = cli.invoke(app, ["stop", "--project", PROJECT, "--version", "v1"])
    assert result.exit_code == 0 and result.stdout == "parts/v1: STOPPING\n"


def test_cli_aws_error_is_one_line_and_exit_1(rek: Stubbed, cli: CliRunner) -> None:  # noqa: F811
    rek.error("describe_projects", "AccessDeniedException", {"ProjectNames": [PROJECT]})
    result = cli.invoke(app, ["status", "--project", PROJECT])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: looking up project 'parts' failed: AccessDeniedException")
    assert "Traceback" not in result.output
