"""The only module that creates boto3 clients, and the edge where botocore errors become AwsError.

Clients follow the AWS CLI's rules: the standard credential chain, ``--profile``, ``--region``, and the
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables (handled by botocore itself). Every other
module receives clients as parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import AwsError

__all__ = ["Clients", "aws_errors", "make_clients", "make_session"]

_HINTS = {
    "AccessDenied": "the credentials in use lack a permission for this call; 'manifestkit policy' prints "
                    "the policy needed",
    "AccessDeniedException": "the credentials in use lack a permission for this call",
    "NoSuchBucket": "the bucket does not exist; check its name, or create it",
    "NoSuchKey": "the object does not exist",
    "InvalidAccessKeyId": "the access key is not valid; check your AWS profile or environment",
    "SignatureDoesNotMatch": "the secret key does not match the access key; check your credentials",
    "ExpiredToken": "the session token has expired; log in again (for example 'aws sso login')",
    "ExpiredTokenException": "the session token has expired; log in again (for example 'aws sso login')",
    "ThrottlingException": "AWS is throttling requests; wait a moment and retry",
    "ProvisionedThroughputExceededException": "AWS is throttling requests; wait a moment and retry",
    "LimitExceededException": "an account limit was reached (for example running models); stop or delete "
                               "something, or ask AWS for a higher quota",
    "ResourceNotFoundException": "the project or model version does not exist in this region",
    "ResourceInUseException": "the resource is busy (being created, trained, started or stopped); wait",
    "ResourceNotReadyException": "the model is not running; start it with 'manifestkit start'",
    "InvalidS3ObjectException": "Rekognition cannot read that S3 object; check the key and permissions",
    "PermanentRedirect": "the bucket is in another region; pass that region with --region",
    "AuthorizationHeaderMalformed": "the bucket is in another region; pass that region with --region",
}


class Clients:
    """Lazily created clients of one session: ``clients.s3``, ``clients.rekognition``."""

    def __init__(self, session: Any, region: str | None = None) -> None:
        self.session = session
        self.region = region or session.region_name
        self._cache: dict[tuple[str, str | None], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._cache:
            from botocore.config import Config

            cfg = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=64)
            self._cache[key] = self.session.client(service, region_name=key[1], config=cfg)
        return self._cache[key]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def rekognition(self) -> Any:
        return self.client("rekognition")


def make_session(profile: str | None = None, region: str | None = None) -> Any:
    """A boto3 session for ``profile`` and ``region`` (None: the standard chain and configuration)."""
    import boto3
    import botocore.exceptions

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise AwsError(f"the AWS profile {profile!r} was not found",
                       hint="check ~/.aws/config or the AWS_PROFILE variable") from None


def make_clients(profile: str | None = None, region: str | None = None) -> Clients:
    """The clients of a session. Region falls back to the profile's, then ``us-east-1``."""
    session = make_session(profile, region)
    return Clients(session, region or session.region_name or "us-east-1")


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into :class:`AwsError` (``what`` says the action).

    Messages never contain credentials: only the operation, the error code, the service's message and
    a hint.
    """
    import botocore.exceptions as bex

    try:
        yield
    except bex.ClientError as e:
        error = e.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        msg = error.get("Message") or code
        op = getattr(e, "operation_name", None)
        raise AwsError(f"{what} failed: {code}: {msg}", operation=op, code=code, hint=_HINTS.get(code)) from e
    except bex.NoCredentialsError:
        raise AwsError(f"{what} failed: no AWS credentials found",
                       hint="configure a profile ('aws configure'), pass --profile, or set AWS_ACCESS_KEY_ID "
                            "and AWS_SECRET_ACCESS_KEY") from None
    except bex.NoRegionError:
        raise AwsError(f"{what} failed: no AWS region", hint="pass --region or set AWS_DEFAULT_REGION") from None
    except bex.EndpointConnectionError as e:
        raise AwsError(f"{what} failed: cannot reach {e.kwargs.get('endpoint_url', 'the endpoint')}",
                       hint="check the network, the region and any AWS_ENDPOINT_URL setting") from None
    except bex.BotoCoreError as e:
        raise AwsError(f"{what} failed: {e}") from None
