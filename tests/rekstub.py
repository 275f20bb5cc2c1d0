"""Rekognition test helpers: a real botocore client wrapped in a Stubber, canned shapes, a fake clock.

Use from a test module with ``from rekstub import rek  # noqa: F401`` and the helpers below. Every call
is queued with ``expected_params``; the Stubber checks each request against the real service model and
the fixture ends with ``assert_no_pending_responses()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from manifestkit.rekognition import Clock

REGION = "us-east-1"
ACCOUNT = "123456789012"
PROJECT = "parts"
PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{PROJECT}/1700000000000"
T0 = dt.datetime(2026, 11, 27, 20, 30, 0, tzinfo=dt.timezone.utc)


def version_arn(version: str, project_arn: str = PROJECT_ARN) -> str:
    return f"{project_arn.rsplit('/', 1)[0]}/version/{version}/1700000000001"


def dataset_arn(kind: str, project_arn: str = PROJECT_ARN) -> str:
    return f"{project_arn.rsplit('/', 1)[0]}/dataset/{kind}/1700000000002"


def make_rekognition() -> Any:
    """A real Rekognition client with fake credentials; it would fail if it ever reached the network."""
    return boto3.client("rekognition", region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", aws_session_token="testing")


class Stubbed:
    """A client and its Stubber, with helpers that queue whole Rekognition exchanges."""

    def __init__(self) -> None:
        self.client = make_rekognition()
        self.stub = Stubber(self.client)

    def add(self, method: str, response: dict[str, Any], params: dict[str, Any]) -> None:
        self.stub.add_response(method, response, expected_params=params)

    def error(self, method: str, code: str, params: dict[str, Any], status: int = 400) -> None:
        self.stub.add_client_error(method, service_error_code=code, service_message=f"stubbed {code}",
                                   http_status_code=status, expected_params=params)

    def project(self, name: str = PROJECT, arn: str | None = PROJECT_ARN, datasets: list[dict[str, Any]] | None
                = None) -> None:
        """DescribeProjects(ProjectNames=[name]) finding ``arn`` (None: no such project)."""
        descs = [] if arn is None else [{"ProjectArn": arn, "CreationTimestamp": T0, "Status": "CREATED",
                                         "Datasets": datasets or []}]
        self.add("describe_projects", {"ProjectDescriptions": descs}, {"ProjectNames": [name]})

    def version(self, version: str, status: str, project_arn: str = PROJECT_ARN, **extra: Any) -> None:
        """DescribeProjectVersions(VersionNames=[version]) answering ``status`` (plus any fields)."""
        desc = {"ProjectVersionArn": version_arn(version, project_arn), "CreationTimestamp": T0,
                "Status": status, **extra}
        self.add("describe_project_versions", {"ProjectVersionDescriptions": [desc]},
                 {"ProjectArn": project_arn, "VersionNames": [version]})


@pytest.fixture()
def rek() -> Iterator[Stubbed]:
    """A stubbed Rekognition client; fails the test if a queued response was not used."""
    s = Stubbed()
    s.stub.activate()
    yield s
    s.stub.assert_no_pending_responses()
    s.stub.deactivate()


@dataclass
class FakeClock:
    """A clock that advances only when slept on; ``on_sleep`` can raise (e.g. KeyboardInterrupt)."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], None] | None = None

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))
        self.t += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep, now=lambda: T0)
