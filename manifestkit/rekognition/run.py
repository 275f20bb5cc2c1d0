"""Model versions at a glance, and starting and stopping them (a running model is billed by the hour)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from typing import Any

from ..aws import aws_errors
from ..errors import ManifestKitError
from ._base import Clock, WaitInterrupted, describe_version, iter_versions, project_arn, version_name
from .train import TRANSITIONAL, StatusCallback, poll_version

__all__ = ["StartResult", "VersionInfo", "list_versions", "request_start", "request_stop", "start_model", "stop_model",
           "version_status", "wait_until_running"]

# States a model can be started from; the others are either busy or cannot serve.
_STARTABLE = frozenset({"TRAINING_COMPLETED", "STOPPED", "FAILED", "COPYING_COMPLETED"})
STOP_POLL_SECONDS = 10.0


@dataclass
class VersionInfo:
    """One model version as ``manifestkit status`` shows it."""

    name: str
    arn: str
    status: str
    status_message: str | None = None
    f1: float | None = None
    created: str | None = None
    training_end: str | None = None
    billable_seconds: int | None = None
    min_units: int | None = None
    max_units: int | None = None

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> VersionInfo:
        """Build from a ProjectVersionDescription."""
        return cls(
            name=version_name(desc),
            arn=str(desc.get("ProjectVersionArn", "")),
            status=str(desc.get("Status", "UNKNOWN")),
            status_message=desc.get("StatusMessage"),
            f1=(desc.get("EvaluationResult") or {}).get("F1Score"),
            created=_iso(desc.get("CreationTimestamp")),
            training_end=_iso(desc.get("TrainingEndTimestamp")),
            billable_seconds=desc.get("BillableTrainingTimeInSeconds"),
            min_units=desc.get("MinInferenceUnits"),
            max_units=desc.get("MaxInferenceUnits"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: Any) -> str | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None if value is None else str(value)


def list_versions(*, rekognition: Any, project: str, version: str | None = None) -> list[VersionInfo]:
    """Every version of ``project`` (newest first), or only ``version``."""
    arn = project_arn(rekognition, project)
    if version is not None:
        return [VersionInfo.from_description(describe_version(rekognition, arn, version))]
    return [VersionInfo.from_description(d) for d in iter_versions(rekognition, arn)]


def version_status(*, rekognition: Any, project: str, version: str | None = None, wait: bool = False,
                   timeout: float = 24 * 3600.0, interval: float = 60.0, on_status: StatusCallback | None = None,
                   clock: Clock | None = None) -> list[VersionInfo]:
    """``manifestkit status``: the versions; with ``wait`` (one version) first wait until it is not busy."""
    if not wait:
        return list_versions(rekognition=rekognition, project=project, version=version)
    if version is None:
        raise ManifestKitError("--wait needs --version: name the version to watch")
    arn = project_arn(rekognition, project)
    desc = poll_version(rekognition, project_arn=arn, project=project, version=version,
                        until=lambda s: s not in TRANSITIONAL, timeout=timeout, interval=interval,
                        on_status=on_status, clock=clock, what="the work")
    return [VersionInfo.from_description(desc)]


@dataclass
class StartResult:
    """What :func:`start_model` found and did. ``started`` is False when the model already ran."""

    version: VersionInfo
    started: bool


def start_model(*, rekognition: Any, project: str, version: str, min_units: int = 1,
                max_units: int | None = None, wait: bool = False, delay: int = 30, max_attempts: int = 40,
                ) -> StartResult:
    """Start a trained model (StartProjectVersion); with ``wait``, wait for RUNNING with the botocore waiter.

    A model that already runs, or is starting, is not started again (``started`` False) - so a caller
    that stops "what it started" never stops someone else's model.
    """
    arn = project_arn(rekognition, project)
    desc = describe_version(rekognition, arn, version)
    desc, started = request_start(rekognition, desc, project=project, version=version, min_units=min_units,
                                  max_units=max_units)
    if wait and desc.get("Status") != "RUNNING":
        desc = wait_until_running(rekognition, arn, project=project, version=version, delay=delay,
                                  max_attempts=max_attempts)
    return StartResult(VersionInfo.from_description(desc), started)


def request_start(rekognition: Any, desc: dict[str, Any], *, project: str, version: str, min_units: int = 1,
                  max_units: int | None = None) -> tuple[dict[str, Any], bool]:
    """Send StartProjectVersion for the version ``desc`` unless it runs or starts; (new desc, started)."""
    if min_units < 1 or (max_units is not None and max_units < min_units):
        raise ManifestKitError("inference units: need 1 <= --units <= --max-units")
    status = desc.get("Status")
    if status in ("RUNNING", "STARTING"):
        return desc, False
    if status not in _STARTABLE:
        hint = ": wait with 'manifestkit status --wait'" if status in ("TRAINING_IN_PROGRESS", "STOPPING") else ""
        raise ManifestKitError(f"{project}/{version} cannot be started while it is {status}{hint}")
    params: dict[str, Any] = {"ProjectVersionArn": desc["ProjectVersionArn"], "MinInferenceUnits": min_units}
    if max_units is not None:
        params["MaxInferenceUnits"] = max_units
    with aws_errors("StartProjectVersion"):
        resp = rekognition.start_project_version(**params)
    return {**desc, "Status": resp.get("Status", "STARTING")}, True


def wait_until_running(rekognition: Any, arn: str, *, project: str, version: str, delay: int = 30,
                       max_attempts: int = 40) -> dict[str, Any]:
    """Wait with botocore's ``project_version_running`` waiter; return the version's description."""
    from botocore.exceptions import WaiterError

    waiter = rekognition.get_waiter("project_version_running")
    try:
        # WaiterError is a botocore error too: catch it first, inside the translation of the others.
        with aws_errors("waiting for the model to run"):
            try:
                waiter.wait(ProjectArn=arn, VersionNames=[version],
                            WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts})
            except WaiterError as e:
                last = (e.last_response or {}).get("ProjectVersionDescriptions") or [{}]
                raise ManifestKitError(
                    f"{project}/{version} did not reach RUNNING: status {last[0].get('Status', 'unknown')}"
                    + (f" ({last[0]['StatusMessage']})" if last[0].get("StatusMessage") else "")
                    + f"; check with 'manifestkit status --project {project} --version {version}' and stop it "
                      "if it runs, as a running model is billed") from None
    except KeyboardInterrupt:
        raise WaitInterrupted(
            f"stopped waiting for {project}/{version} to start; it keeps starting in AWS and is billed while it "
            f"runs (stop it with 'manifestkit stop --project {project} --version {version}')",
            resume=f"manifestkit status --project {project} --version {version} --wait") from None
    return describe_version(rekognition, arn, version)


def request_stop(rekognition: Any, version_arn: str) -> str:
    """Send StopProjectVersion; return the status it reports (normally STOPPING)."""
    with aws_errors("StopProjectVersion"):
        resp = rekognition.stop_project_version(ProjectVersionArn=version_arn)
    return str(resp.get("Status", "STOPPING"))


def stop_model(*, rekognition: Any, project: str, version: str, wait: bool = False,
               timeout: float = 3600.0, interval: float = STOP_POLL_SECONDS, on_status: StatusCallback | None = None,
               clock: Clock | None = None) -> VersionInfo:
    """Stop a running model (StopProjectVersion); with ``wait``, poll until STOPPED (there is no waiter)."""
    arn = project_arn(rekognition, project)
    desc = describe_version(rekognition, arn, version)
    status = desc.get("Status")
    if status in ("RUNNING", "STARTING"):
        desc = {**desc, "Status": request_stop(rekognition, desc["ProjectVersionArn"])}
    elif status != "STOPPING":
        # Nothing runs: stopping is a no-op, and saying so is better than an AWS error.
        return VersionInfo.from_description(desc)
    if wait:
        desc = poll_version(rekognition, project_arn=arn, project=project, version=version,
                            until=lambda s: s not in ("STOPPING", "RUNNING", "STARTING"), timeout=timeout,
                            interval=interval, on_status=on_status, clock=clock, what="stopping")
    return VersionInfo.from_description(desc)
