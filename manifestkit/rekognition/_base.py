"""What the Rekognition lifecycle modules share: names, lookups, request checks, throttling, clocks.

Every function takes its ``rekognition`` (and ``s3``) client as a parameter; botocore errors are
translated with :func:`manifestkit.aws.aws_errors`.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..aws import aws_errors
from ..errors import AwsError, ManifestKitError
from ..uris import parse_s3_uri

__all__ = [
    "Clock",
    "ModelNotFound",
    "PLACEHOLDER_ACCOUNT",
    "THROTTLING_CODES",
    "WaitInterrupted",
    "WaitTimeout",
    "check_name",
    "check_request",
    "default_version_name",
    "describe_version",
    "find_project",
    "is_throttling",
    "iter_versions",
    "placeholder_project_arn",
    "project_arn",
    "read_s3_json",
    "read_s3_lines",
    "s3_object_uri",
    "version_name",
]

# Both codes mean "slow down": Rekognition uses the second for its per-account TPS quotas.
THROTTLING_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException",
                              "TooManyRequestsException", "RequestLimitExceeded"})
# An account id no real account has: a dry-run ARN must never be mistaken for a real resource.
PLACEHOLDER_ACCOUNT = "000000000000"
_NAME = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")


class ModelNotFound(AwsError):
    """The project or the model version does not exist (in this region)."""


class WaitTimeout(ManifestKitError):
    """Waiting gave up after the timeout; the work goes on in AWS. ``resume`` is the command to resume."""

    def __init__(self, message: str, *, resume: str, last: dict[str, Any] | None = None) -> None:
        self.resume = resume
        self.last = last
        super().__init__(f"{message}; it goes on in AWS. Watch it again with: {resume}")


class WaitInterrupted(ManifestKitError):
    """Ctrl-C while waiting: nothing was stopped in AWS. ``resume`` is the command to watch again."""

    def __init__(self, message: str, *, resume: str) -> None:
        self.resume = resume
        super().__init__(f"{message}. Watch it again with: {resume}")


@dataclass
class Clock:
    """Time as the waiting loops see it; tests pass fakes. ``monotonic`` measures, ``now`` names things."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], _dt.datetime] = field(default=lambda: _dt.datetime.now(_dt.timezone.utc))


def check_name(value: str, what: str) -> str:
    """Check a project or version name against Rekognition's pattern (1..255 of ``[a-zA-Z0-9_.-]``)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ManifestKitError(f"invalid {what} {value!r}: use 1 to 255 letters, digits, '_', '.' or '-'")
    return value


def default_version_name(now: _dt.datetime) -> str:
    """A version name from the time, in UTC: ``v-20261127-203000``."""
    if now.tzinfo is not None:
        now = now.astimezone(_dt.timezone.utc)
    return now.strftime("v-%Y%m%d-%H%M%S")


def placeholder_project_arn(region: str, project: str) -> str:
    """A clearly fake project ARN (account 000000000000, id 0) for dry runs, valid against the ARN pattern."""
    return f"arn:aws:rekognition:{region}:{PLACEHOLDER_ACCOUNT}:project/{project}/0"


def is_throttling(exc: BaseException) -> bool:
    """True for a botocore ClientError (or our AwsError) that asks us to slow down."""
    code = getattr(exc, "code", None)
    if code is None:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
    return code in THROTTLING_CODES


def check_request(client: Any, operation: str, params: dict[str, Any]) -> None:
    """Validate ``params`` for ``operation`` against the client's service model, as botocore would.

    botocore checks types, required members and minimum lengths; it checks neither maximum lengths nor
    string patterns, so those (names, ARNs, key ids) are checked here too. Raises ManifestKitError listing
    every problem.
    """
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    op = client.meta.service_model.operation_model(operation)
    problems: list[str] = []
    try:
        validate_parameters(params, op.input_shape)
    except ParamValidationError as e:
        problems.append(str(e.kwargs.get("report", e)))
    _check_patterns(op.input_shape, params, operation, problems)
    if problems:
        raise ManifestKitError(f"the {operation} request would be refused: " + "; ".join(problems))


def _check_patterns(shape: Any, value: Any, where: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _check_patterns(member, value[name], f"{where}.{name}", problems)
    elif kind == "list" and isinstance(value, list):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            problems.append(f"{where} has {len(value)} items, more than {shape.metadata['max']}")
        for i, v in enumerate(value):
            _check_patterns(shape.member, v, f"{where}[{i}]", problems)
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _check_patterns(shape.key, k, f"{where} key", problems)
            _check_patterns(shape.value, v, f"{where}[{k!r}]", problems)
    elif kind == "string" and isinstance(value, str):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            problems.append(f"{where} is {len(value)} characters long, more than {shape.metadata['max']}")
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                ok = re.fullmatch(pattern, value) is not None
            except re.error:
                ok = True  # a Java-only construct: leave that check to the service
            if not ok:
                problems.append(f"{where}={value!r} does not match {pattern}")


def find_project(rekognition: Any, project: str) -> dict[str, Any] | None:
    """The DescribeProjects description of ``project``, or None when it does not exist."""
    check_name(project, "project name")
    with aws_errors(f"looking up project {project!r}"):
        pages = rekognition.get_paginator("describe_projects").paginate(ProjectNames=[project])
        for page in pages:
            for desc in page.get("ProjectDescriptions", []):
                # The filter matches exactly, but the ARN is the ground truth: .../project/<name>/<id>.
                if desc.get("ProjectArn", "").split("/")[1:2] == [project]:
                    return dict(desc)
    return None


def project_arn(rekognition: Any, project: str) -> str:
    """The ARN of an existing project; ModelNotFound if there is none."""
    desc = find_project(rekognition, project)
    if desc is None:
        region = rekognition.meta.region_name
        raise ModelNotFound(f"there is no project {project!r} in {region}",
                            hint="check the name and --region; 'manifestkit train' creates projects")
    return str(desc["ProjectArn"])


def iter_versions(rekognition: Any, arn: str, versions: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every ProjectVersionDescription of a project (newest first), optionally only ``versions``."""
    kwargs: dict[str, Any] = {"ProjectArn": arn}
    if versions:
        kwargs["VersionNames"] = versions
    with aws_errors("listing model versions"):
        for page in rekognition.get_paginator("describe_project_versions").paginate(**kwargs):
            yield from page.get("ProjectVersionDescriptions", [])


def describe_version(rekognition: Any, arn: str, version: str) -> dict[str, Any]:
    """The description of one version of the project ``arn``; ModelNotFound if it does not exist."""
    with aws_errors(f"describing version {version!r}"):
        resp = rekognition.describe_project_versions(ProjectArn=arn, VersionNames=[version])
    for desc in resp.get("ProjectVersionDescriptions", []):
        if version_name(desc) == version:
            return dict(desc)
    raise ModelNotFound(f"the project has no version {version!r}",
                        hint="'manifestkit status --project NAME' lists the versions")


def version_name(desc: dict[str, Any]) -> str:
    """The version name inside a ProjectVersionArn (``.../project/P/version/<name>/<id>``)."""
    parts = str(desc.get("ProjectVersionArn", "")).split("/")
    return parts[3] if len(parts) >= 5 else ""


def s3_object_uri(obj: dict[str, Any] | None) -> str | None:
    """``s3://Bucket/Name`` of an S3Object shape, or None."""
    if not obj or "Bucket" not in obj or "Name" not in obj:
        return None
    return f"s3://{obj['Bucket']}/{obj['Name']}"


def read_s3_lines(s3: Any, uri: str) -> Iterator[bytes]:
    """Stream the lines of an S3 object (memory stays flat for big manifests)."""
    bucket, key = parse_s3_uri(uri)
    with aws_errors(f"reading {uri}"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            for raw in body.iter_lines(keepends=True):
                yield raw
        finally:
            body.close()


def read_s3_json(s3: Any, uri: str) -> Any:
    """Download and decode a (small) JSON object."""
    import json

    bucket, key = parse_s3_uri(uri)
    with aws_errors(f"reading {uri}"):
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return json.loads(data)
    except ValueError as e:
        raise ManifestKitError(f"{uri} is not valid JSON ({e})") from None
