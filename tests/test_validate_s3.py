"""Image checks in S3 (ranged GETs of headers, in parallel) against moto's server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from imaging import image_bytes
from manifestkit import validate
from manifestkit.cli import app
from manifestkit.errors import AwsError
from manifestkit.validation.imagecheck import DENIED, NOT_FOUND, probe_s3
from s3server import s3_client, s3_endpoint  # noqa: F401
from validate_helpers import codes, det_line, write_lines


def big_exif_jpeg(width: int, height: int) -> bytes:
    """A JPEG whose frame header sits beyond the first 64 KiB (two large APP2 segments after SOI)."""
    data = image_bytes(width, height)
    pad = (b"\xff\xe2" + (65002).to_bytes(2, "big") + b"\0" * 65000) * 2
    return data[:2] + pad + data[2:]


def test_s3_image_checks(tmp_path: Path, s3_client: Any) -> None:  # noqa: F811
    b = s3_client.test_bucket
    put = s3_client.put_object
    put(Bucket=b, Key="img/good.jpg", Body=image_bytes(640, 480))
    put(Bucket=b, Key="img/small.png", Body=image_bytes(32, 480, "PNG"))
    put(Bucket=b, Key="img/text.jpg", Body=b"hello, not an image")
    put(Bucket=b, Key="img/empty.jpg", Body=b"")
    put(Bucket=b, Key="img/exif.jpg", Body=big_exif_jpeg(640, 480))
    put(Bucket=b, Key="img/wrong.jpg", Body=image_bytes(800, 600))
    lines = [det_line(f"s3://{b}/img/good.jpg"), det_line(f"s3://{b}/img/small.png"),
             det_line(f"s3://{b}/img/text.jpg"), det_line(f"s3://{b}/img/missing.jpg"),
             det_line(f"s3://{b}/img/empty.jpg"), det_line(f"s3://{b}/img/exif.jpg"),
             det_line(f"s3://{b}/img/wrong.jpg")]
    lines += [det_line(f"s3://{b}/img/good.jpg".replace("good", f"good{i}")) for i in range(20)]
    for i in range(20):
        put(Bucket=b, Key=f"img/good{i}.jpg", Body=image_bytes(640, 480))
    m = write_lines(tmp_path / "m.manifest", lines)
    r = validate(m, s3_client=s3_client, workers=8)
    assert codes(r, 1) == []
    assert codes(r, 2) == ["ERROR_INVALID_IMAGE_DIMENSION", "MK_IMAGE_SIZE_MISMATCH"]
    assert codes(r, 3) == ["ERROR_INVALID_IMAGE"]
    assert codes(r, 4) == ["ERROR_INVALID_IMAGE"] and "not found" in [f for f in r.findings if f.line == 4][0].message
    assert codes(r, 5) == ["ERROR_INVALID_IMAGE"]
    assert codes(r, 6) == []  # found the frame header after reading more
    assert codes(r, 7) == ["MK_IMAGE_SIZE_MISMATCH"]
    assert all(codes(r, n) == [] for n in range(8, 28))
    # findings are in line order although the probes ran in parallel
    lines_seen = [f.line for f in r.findings if f.line is not None]
    assert lines_seen == sorted(lines_seen)
    assert r.manifests[0].invalid_lines == 4 and r.verdict == "would_train"


def test_s3_denied_and_other_errors_with_stubber() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        assert probe_s3(client, "bkt", "a.jpg") == DENIED
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        assert probe_s3(client, "bkt", "a.jpg") == NOT_FOUND
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(AwsError, match="SlowDown"):
            probe_s3(client, "bkt", "a.jpg")
        stub.assert_no_pending_responses()


def test_denied_images_fail_the_manifest(tmp_path: Path) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    m = write_lines(tmp_path / "m.manifest", [det_line("s3://bkt/a.jpg")])
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403,
                              expected_params={"Bucket": "bkt", "Key": "a.jpg", "Range": "bytes=0-65535"})
        r = validate(m, s3_client=client, workers=1)
    assert "ERROR_INVALID_PERMISSIONS_IMAGES_S3_BUCKET" in r.terminal and r.exit_code() == 1


def test_cli_s3_uses_the_endpoint(tmp_path: Path, s3_client: Any, s3_endpoint: str,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    b = s3_client.test_bucket
    s3_client.put_object(Bucket=b, Key="a.jpg", Body=image_bytes(640, 480))
    m = write_lines(tmp_path / "m.manifest", [det_line(f"s3://{b}/a.jpg"), det_line(f"s3://{b}/gone.jpg")])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    result = CliRunner().invoke(app, ["validate", str(m), "--s3", "--region", "us-east-1", "--format", "json"])
    assert result.exit_code == 1, result.output  # 1 of 2 lines invalid: over the 20 % budget
    assert '"ERROR_INVALID_IMAGE"' in result.stdout and '"line":2' in result.stdout
