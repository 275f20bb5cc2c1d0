"""Train a model version: create the project if needed, send CreateProjectVersion, watch the training.

Two routes (rekognition.md 4): manifests given straight to CreateProjectVersion as ``TrainingData`` /
``TestingData`` assets (projects without datasets), or ``use_datasets``: CreateDataset from each manifest,
wait until created, then CreateProjectVersion without data. A dry run sends nothing and returns each
request it would send, checked against botocore's service model.

Waiting is our own polling of DescribeProjectVersions (decisions.md "Training and polling"): the botocore
waiter stops after 12 hours, training can take 24.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..aws import aws_errors
from ..errors import ManifestKitError
from ..uris import normalize_prefix, parse_s3_uri
from ._base import (
    Clock,
    ModelNotFound,
    WaitInterrupted,
    WaitTimeout,
    check_name,
    check_request,
    default_version_name,
    describe_version,
    find_project,
    is_throttling,
    placeholder_project_arn,
)
from .results import TrainingReport, training_report

__all__ = [
    "DATASET_POLL_SECONDS",
    "StatusUpdate",
    "TrainResult",
    "poll_version",
    "train",
    "wait_for_training",
]

DATASET_POLL_SECONDS = 5.0  # what AWS's own examples use for DescribeDataset
MAX_BACKOFF_SECONDS = 900.0
TRANSITIONAL = frozenset({"TRAINING_IN_PROGRESS", "STARTING", "STOPPING", "COPYING_IN_PROGRESS", "DELETING"})
# Service-side hiccups the guide says to retry (rekognition.md 2.5 (a)), handled like throttling.
_RETRYABLE = frozenset({"InternalServerError", "ServiceUnavailableException"})

_MAX_MISSES = 2
Request = dict[str, Any]


@dataclass
class StatusUpdate:
    """One poll's news, for a live status line: the status, the time waited, throttling if any."""

    version: str
    status: str
    elapsed: float
    message: str | None = None
    throttled: bool = False


StatusCallback = Callable[[StatusUpdate], None]


@dataclass
class TrainResult:
    """What :func:`train` did. ``requests`` are the requests sent (or, in a dry run, that would be sent)."""

    project: str
    version: str
    project_arn: str
    version_arn: str | None = None
    created_project: bool = False
    dry_run: bool = False
    requests: list[Request] = field(default_factory=list)
    description: dict[str, Any] | None = None
    report: TrainingReport | None = None

    @property
    def status_command(self) -> str:
        return f"manifestkit status --project {self.project} --version {self.version} --wait"


def _asset(uri: str) -> dict[str, Any]:
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise ManifestKitError(f"{uri} is a folder; give the manifest's own S3 URI (…/train.manifest)")
    return {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": key}}}


def _parse_tags(tags: dict[str, str] | None) -> dict[str, str] | None:
    if not tags:
        return None
    for k in tags:
        if k.lower().startswith("aws:"):
            raise ManifestKitError(f"tag key {k!r} starts with 'aws:', which AWS reserves")
    return dict(tags)


def train(*, rekognition: Any, s3: Any = None, project: str, train_uri: str, output_uri: str,
          test_uri: str | None = None, auto_split: bool = False, version: str | None = None,
          tags: dict[str, str] | None = None, kms_key: str | None = None, use_datasets: bool = False,
          dry_run: bool = False, wait: bool = False, timeout: float = 24 * 3600.0, interval: float = 60.0,
          train_file: str | os.PathLike[str] | None = None, test_file: str | os.PathLike[str] | None = None,
          on_request: Callable[[Request], None] | None = None, on_status: StatusCallback | None = None,
          clock: Clock | None = None) -> TrainResult:
    """Start training version ``version`` (default: from the time) of ``project``; optionally wait.

    Args:
        train_uri, test_uri: the manifests' S3 URIs; give ``test_uri`` or ``auto_split`` (Rekognition
            splits the training manifest), not both.
        output_uri: ``s3://BUCKET/PREFIX/`` for the model's outputs and validation files.
        use_datasets: create the project's TRAIN/TEST datasets from the manifests, then train from them.
        dry_run: send nothing; ``on_request`` gets each request that would be sent.
        wait: poll until training ends (``timeout`` seconds, every ``interval``), then fetch the
            validation results and trace each finding to the user's manifest lines (``train_file`` /
            ``test_file`` if local copies are given, else the manifests in S3).

    Raises:
        WaitTimeout, WaitInterrupted: the training goes on in AWS; the error says how to watch it again.
    """
    clock = clock or Clock()
    check_name(project, "project name")
    if (test_uri is None) == (not auto_split):
        raise ManifestKitError("give either a test manifest (--test) or --auto-split, not both or neither")
    version = check_name(version or default_version_name(clock.now()), "version name")
    train_asset = _asset(train_uri)
    test_asset = _asset(test_uri) if test_uri else None
    out_bucket, out_prefix = parse_s3_uri(normalize_prefix(output_uri))
    tag_map = _parse_tags(tags)
    region = rekognition.meta.region_name
    result = TrainResult(project=project, version=version, project_arn="", dry_run=dry_run)

    def send(operation: str, params: Request, call: Callable[..., Any] | None) -> Any:
        check_request(rekognition, operation, params)
        request = {"operation": operation, "params": params}
        result.requests.append(request)
        if on_request is not None:
            on_request(request)
        if call is None:
            return None
        with aws_errors(operation):
            return call(**params)

    # The version's request is built first and checked with a placeholder ARN, so that a request AWS would
    # refuse (a bad KMS key id, a long tag) fails before anything is created.
    params: Request = {"ProjectArn": placeholder_project_arn(region, project), "VersionName": version,
                       "OutputConfig": {"S3Bucket": out_bucket, "S3KeyPrefix": out_prefix}}
    if not use_datasets:
        params["TrainingData"] = {"Assets": [train_asset]}
        params["TestingData"] = {"Assets": [test_asset]} if test_asset else {"AutoCreate": True}
    if tag_map:
        params["Tags"] = tag_map
    if kms_key:
        params["KmsKeyId"] = kms_key
    check_request(rekognition, "CreateProjectVersion", params)

    # 1. The project.
    if dry_run:
        send("DescribeProjects", {"ProjectNames": [project]}, None)
        send("CreateProject", {"ProjectName": project}, None)
        result.project_arn = placeholder_project_arn(region, project)
    else:
        desc = find_project(rekognition, project)
        if desc is None:
            resp = send("CreateProject", {"ProjectName": project}, rekognition.create_project)
            result.project_arn = resp["ProjectArn"]
            result.created_project = True
        else:
            result.project_arn = desc["ProjectArn"]
            existing = {d.get("DatasetType") for d in desc.get("Datasets") or []}
            if existing and not use_datasets:
                raise ManifestKitError(
                    f"project {project!r} has datasets ({', '.join(sorted(map(str, existing)))}), so "
                    "CreateProjectVersion does not accept manifests for it: train into a new project, or "
                    "use --use-datasets with a project that has no datasets yet")
            if existing and use_datasets:
                raise ManifestKitError(
                    f"project {project!r} already has datasets ({', '.join(sorted(map(str, existing)))}); "
                    "--use-datasets creates them from the manifests, so use a new project")

    # 2. Datasets, when asked for.
    params["ProjectArn"] = result.project_arn
    if use_datasets:
        _create_datasets(send, rekognition, result, train_asset, test_asset, dry_run=dry_run, clock=clock,
                         timeout=timeout)

    # 3. The version.
    if dry_run:
        send("CreateProjectVersion", params, None)
        return result
    resp = send("CreateProjectVersion", params, rekognition.create_project_version)
    result.version_arn = resp["ProjectVersionArn"]
    if not wait:
        return result
    result.description = wait_for_training(rekognition, project_arn=result.project_arn, project=project,
                                           version=version, timeout=timeout, interval=interval,
                                           on_status=on_status, clock=clock)
    if s3 is not None:
        result.report = training_report(
            result.description, s3=s3,
            train_manifest=os.fspath(train_file) if train_file else train_uri,
            test_manifest=os.fspath(test_file) if test_file else test_uri)
    return result


def _create_datasets(send: Callable[[str, Request, Any], Any], rekognition: Any, result: TrainResult,
                     train_asset: dict[str, Any], test_asset: dict[str, Any] | None, *, dry_run: bool,
                     clock: Clock, timeout: float) -> None:
    """CreateDataset TRAIN (and TEST, or an empty TEST + DistributeDatasetEntries), then wait for them."""
    base = {"ProjectArn": result.project_arn}
    call = None if dry_run else rekognition.create_dataset
    train_resp = send("CreateDataset", {**base, "DatasetType": "TRAIN", "DatasetSource": train_asset}, call)
    test_params: Request = {**base, "DatasetType": "TEST"}
    if test_asset:
        test_params["DatasetSource"] = test_asset
    test_resp = send("CreateDataset", test_params, call)
    if dry_run:
        prefix = result.project_arn.rsplit("/", 1)[0]
        train_arn, test_arn = f"{prefix}/dataset/train/0", f"{prefix}/dataset/test/0"
    else:
        train_arn, test_arn = train_resp["DatasetArn"], test_resp["DatasetArn"]
        for arn in (train_arn, test_arn):
            wait_for_dataset(rekognition, arn, done="CREATE_COMPLETE", failed="CREATE_FAILED", clock=clock,
                             timeout=timeout)
    if test_asset is None:
        send("DistributeDatasetEntries", {"Datasets": [{"Arn": train_arn}, {"Arn": test_arn}]},
             None if dry_run else rekognition.distribute_dataset_entries)
        if not dry_run:
            for arn in (train_arn, test_arn):
                wait_for_dataset(rekognition, arn, done="UPDATE_COMPLETE", failed="UPDATE_FAILED", clock=clock,
                                 timeout=timeout)


def wait_for_dataset(rekognition: Any, arn: str, *, done: str, failed: str, clock: Clock, timeout: float,
                     interval: float = DATASET_POLL_SECONDS) -> dict[str, Any]:
    """Poll DescribeDataset until ``done``; ``failed`` raises with Rekognition's status message."""
    start = clock.monotonic()
    throttles = 0
    while True:
        try:
            with aws_errors("DescribeDataset"):
                desc = rekognition.describe_dataset(DatasetArn=arn)["DatasetDescription"]
            throttles = 0
        except ManifestKitError as e:
            if not is_throttling(e):
                raise
            throttles += 1
            desc = None
        if desc is not None:
            status = desc.get("Status")
            if status == done:
                return dict(desc)
            if status == failed:
                raise ManifestKitError(
                    f"dataset {arn.split('/dataset/')[-1]} failed: {desc.get('StatusMessageCode', '')} "
                    f"{desc.get('StatusMessage', '')}".rstrip()
                    + "; run 'manifestkit validate' on the manifest to find the cause")
        if clock.monotonic() - start >= timeout:
            raise ManifestKitError(f"dataset {arn} was not ready after {timeout:.0f} s")
        clock.sleep(min(MAX_BACKOFF_SECONDS, interval * 2 ** throttles))


def poll_version(rekognition: Any, *, project_arn: str, project: str, version: str,
                 until: Callable[[str], bool], timeout: float, interval: float,
                 on_status: StatusCallback | None = None, clock: Clock | None = None,
                 what: str = "the training") -> dict[str, Any]:
    """Poll DescribeProjectVersions for ``version`` until ``until(status)``; return its description.

    Throttling (and Rekognition's retryable service errors) doubles the wait, up to 15 minutes, without
    counting as failure. Ctrl-C raises :class:`WaitInterrupted`, running out of time
    :class:`WaitTimeout`; neither touches the model in AWS.
    """
    clock = clock or Clock()
    resume = f"manifestkit status --project {project} --version {version} --wait"
    start = clock.monotonic()
    throttles = misses = 0
    last: dict[str, Any] | None = None
    try:
        while True:
            try:
                last = describe_version(rekognition, project_arn, version)
                throttles = 0
            except ModelNotFound:
                # A version just created may not be listed yet (eventual consistency): allow a few polls.
                misses += 1
                if last is not None or misses > _MAX_MISSES:
                    raise
            except ManifestKitError as e:
                if not (is_throttling(e) or getattr(e, "code", None) in _RETRYABLE):
                    raise
                throttles += 1
            elapsed = clock.monotonic() - start
            status = str(last.get("Status")) if last else "UNKNOWN"
            if on_status is not None:
                on_status(StatusUpdate(version, status, elapsed, last.get("StatusMessage") if last else None,
                                       throttled=throttles > 0))
            if last is not None and throttles == 0 and until(status):
                return last
            if elapsed >= timeout:
                raise WaitTimeout(f"{what} of {project}/{version} has not finished after "
                                  f"{_duration(timeout)} (status {status})", resume=resume, last=last)
            delay = min(MAX_BACKOFF_SECONDS, interval * 2 ** throttles)
            clock.sleep(min(delay, timeout - elapsed))
    except KeyboardInterrupt:
        raise WaitInterrupted(f"stopped watching {project}/{version}; {what} goes on in AWS",
                              resume=resume) from None


def wait_for_training(rekognition: Any, *, project_arn: str, project: str, version: str,
                      timeout: float = 24 * 3600.0, interval: float = 60.0,
                      on_status: StatusCallback | None = None, clock: Clock | None = None) -> dict[str, Any]:
    """Wait until the version leaves TRAINING_IN_PROGRESS; return its last description."""
    return poll_version(rekognition, project_arn=project_arn, project=project, version=version,
                        until=lambda s: s not in TRANSITIONAL, timeout=timeout, interval=interval,
                        on_status=on_status, clock=clock)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
