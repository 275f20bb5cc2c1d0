"""Optional live checks against real AWS: read-only and free. Run with MANIFESTKIT_LIVE_AWS=1 (and AWS
credentials in the environment or a profile); conftest deselects them otherwise."""

from __future__ import annotations

import os
import uuid

import pytest

from manifestkit.aws import make_clients
from manifestkit.rekognition import ModelNotFound, list_versions, train

# The autouse fixture in conftest replaces credentials with fakes; keep the real ones from import time.
_REAL = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


@pytest.fixture()
def live(monkeypatch: pytest.MonkeyPatch) -> object:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        if key in _REAL:
            monkeypatch.setenv(key, _REAL[key])
        else:
            monkeypatch.delenv(key, raising=False)
    return make_clients(os.environ.get("AWS_PROFILE"), os.environ.get("AWS_REGION") or "us-east-1")


@pytest.mark.aws
def test_live_unknown_project_is_reported(live: object) -> None:
    name = f"manifestkit-absent-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ModelNotFound, match=name):
        list_versions(rekognition=live.rekognition, project=name)  # type: ignore[attr-defined]


@pytest.mark.aws
def test_live_dry_run_sends_nothing_and_validates(live: object) -> None:
    result = train(rekognition=live.rekognition, project="manifestkit-live", dry_run=True,  # type: ignore[attr-defined]
                   train_uri="s3://example-bucket/train.manifest", auto_split=True,
                   output_uri="s3://example-bucket/out/")
    assert [r["operation"] for r in result.requests][-1] == "CreateProjectVersion"
