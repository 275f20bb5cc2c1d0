"""manifestkit.s3local: the embedded S3 the demo stages to, driven the way the demo drives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from manifestkit.errors import ManifestKitError
from manifestkit.s3local import local_s3, local_s3_environ
from s3server import make_s3_client
from test_stage import keys, make_dataset


def test_local_s3_serves_on_loopback_and_stops() -> None:
    with local_s3() as url:
        assert url.startswith("http://127.0.0.1:")
        client = make_s3_client(url)
        client.create_bucket(Bucket="mk-local-check")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]].count("mk-local-check") == 1
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    stopped = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                           config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        stopped.list_buckets()


def test_local_s3_without_moto_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)  # makes the import fail as if not installed
    with pytest.raises(ManifestKitError, match=r"pip install 'moto\[server\]'"):
        with local_s3():
            pass


def test_cli_in_a_child_process_stages_to_the_embedded_s3(tmp_path: Path) -> None:
    with local_s3() as url:
        env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"} | local_s3_environ(url)
        client = make_s3_client(url)
        img, train, test = make_dataset(tmp_path, "mk-demo-bucket", n_train=4, n_test=2)
        cmd = [sys.executable, "-m", "manifestkit", "stage", str(train), str(test), "--images", str(img),
               "--s3-prefix", "s3://mk-demo-bucket/flowers/", "--create-bucket"]
        # The manifests were made for ds/; rewrite them for this prefix as a user would convert for it.
        for m in (train, test):
            m.write_text(m.read_text().replace("s3://mk-demo-bucket/ds/", "s3://mk-demo-bucket/flowers/"))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["s3://mk-demo-bucket/flowers/manifests/train.manifest",
                                       "s3://mk-demo-bucket/flowers/manifests/test.manifest"]
        assert "bucket mk-demo-bucket: us-east-1 (created)" in proc.stderr
        assert len(keys(client, "mk-demo-bucket")) == 8
