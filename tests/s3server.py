"""A real HTTP S3 endpoint for tests: moto's server on 127.0.0.1 (see manifestkit.s3local).

Use it from a test module with ``from s3server import s3_endpoint, s3_client  # noqa: F401``:

- ``s3_endpoint`` (session scope): the server's URL, e.g. ``http://127.0.0.1:41234``.
- ``s3_client``: a boto3 S3 client bound to that endpoint (us-east-1, fake credentials) with a fresh,
  empty bucket per test, named in ``s3_client.test_bucket``.
- ``make_s3_client(endpoint, region)``: a client for another region (buckets with a LocationConstraint);
  ``new_bucket(client, region)`` makes a uniquely named bucket.
- ``inject_error(client, "PutObject", code=..., match=..., times=...)``: S3 refuses chosen calls (a
  denied permission, a 503), through botocore's normal error path; ``record_calls`` records params.
"""

from __future__ import annotations

import atexit
import itertools
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config

from manifestkit.s3local import local_s3

__all__ = ["inject_error", "make_s3_client", "new_bucket", "record_calls", "s3_client", "s3_endpoint"]

_counter = itertools.count()


def make_s3_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A boto3 S3 client for the local server, with fake credentials."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            aws_session_token="testing", region_name=region)
    return session.client("s3", endpoint_url=endpoint,
                          config=Config(retries={"mode": "standard", "max_attempts": 3},
                                        max_pool_connections=64))


def new_bucket(client: Any, region: str | None = None) -> str:
    """Create a uniquely named bucket (in ``region`` when given) and return its name."""
    name = f"mk-test-{next(_counter)}-{uuid.uuid4().hex[:8]}"
    if region and region != "us-east-1":
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    else:
        client.create_bucket(Bucket=name)
    return name


_shared: dict[str, str] = {}


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto's S3 server on 127.0.0.1, one for the whole session.

    Each test module imports this fixture, and pytest would keep one instance per importing module;
    the server is therefore started once per process and stopped when the process exits.
    """
    if "url" not in _shared:
        server = local_s3()
        _shared["url"] = server.__enter__()
        atexit.register(server.__exit__, None, None, None)
    return _shared["url"]


@pytest.fixture()
def s3_client(s3_endpoint: str) -> Any:
    """An S3 client on the local server, with a fresh bucket in ``s3_client.test_bucket``."""
    client = make_s3_client(s3_endpoint)
    client.test_bucket = new_bucket(client)
    return client


def inject_error(client: Any, operation: str, *, code: str = "AccessDenied", status: int = 403,
                 match: Any = None, times: int | None = None) -> list[str]:
    """Make ``operation`` (e.g. "PutObject") on ``client`` answer an S3 error without reaching the server.

    ``match(params) -> bool`` picks the calls (API params, e.g. ``params["Key"]``); ``times`` limits how
    many calls fail. Returns a list that records the keys (or buckets) of the calls that were failed.
    The error travels botocore's normal path (a parsed response with an HTTP status), so the code under
    test sees exactly what a real S3 refusal looks like.
    """
    from botocore.awsrequest import AWSResponse

    hits: list[str] = []

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["mk_params"] = dict(params)

    def answer(context: dict[str, Any], **_: Any) -> Any:
        params = context.get("mk_params", {})
        if match is not None and not match(params):
            return None
        if times is not None and len(hits) >= times:
            return None
        hits.append(str(params.get("Key", params.get("Bucket", ""))))
        http = AWSResponse("http://127.0.0.1/", status, {}, None)
        parsed = {"Error": {"Code": code, "Message": f"injected {code}"},
                  "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
        return http, parsed

    client.meta.events.register(f"before-parameter-build.s3.{operation}", remember)
    client.meta.events.register(f"before-call.s3.{operation}", answer)
    return hits


def record_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the API params of every ``operation`` call made through ``client`` (a thread-safe append)."""
    calls: list[dict[str, Any]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        calls.append({k: v for k, v in params.items() if k != "Body"})

    client.meta.events.register(f"before-parameter-build.s3.{operation}", note)
    return calls
