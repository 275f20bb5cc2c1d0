from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber

from manifestkit.aws import aws_errors, make_clients
from manifestkit.errors import AwsError


def test_client_error_becomes_aws_error_with_hint() -> None:
    clients = make_clients(region="us-east-1")
    s3 = clients.s3
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", service_error_code="NoSuchBucket", service_message="Not Found",
                              http_status_code=404, expected_params={"Bucket": "nope-bucket"})
        with pytest.raises(AwsError) as ei:
            with aws_errors("checking bucket nope-bucket"):
                s3.head_bucket(Bucket="nope-bucket")
    err = ei.value
    assert err.code == "NoSuchBucket" and err.operation == "HeadBucket"
    assert "checking bucket nope-bucket failed" in str(err) and "does not exist" in str(err)
    assert isinstance(err.__cause__, ClientError)


def test_no_credentials_says_what_to_do() -> None:
    with pytest.raises(AwsError, match="--profile"):
        with aws_errors("listing"):
            raise NoCredentialsError()


def test_messages_never_carry_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SUPERSECRETVALUE")
    clients = make_clients(region="us-east-1")
    with Stubber(clients.s3) as stub:
        stub.add_client_error("list_buckets", service_error_code="AccessDenied", service_message="denied")
        with pytest.raises(AwsError) as ei:
            with aws_errors("listing buckets"):
                clients.s3.list_buckets()
    assert "SUPERSECRETVALUE" not in str(ei.value) and "testing" not in str(ei.value)


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(AwsError, match="profile 'no-such-profile' was not found"):
        make_clients(profile="no-such-profile")


def test_endpoint_url_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8")
    clients = make_clients(region="eu-west-1")
    assert clients.s3.meta.endpoint_url == "http://127.0.0.1:9"
    assert clients.rekognition.meta.endpoint_url == "http://127.0.0.1:8"
    assert clients.rekognition.meta.region_name == "eu-west-1"


def test_clients_are_cached_per_region() -> None:
    clients = make_clients(region="us-east-1")
    assert clients.s3 is clients.s3
    assert clients.client("s3", "eu-west-1") is not clients.s3
