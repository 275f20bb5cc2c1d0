"""The README is part of the contract: its commands exist and its Python example runs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from manifestkit.cli import app
from s3server import s3_client, s3_endpoint  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_shows_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README


def test_every_command_in_the_tour_exists() -> None:
    runner = CliRunner()
    seen = set(re.findall(r"^\$ manifestkit ([a-z]+(?: (?:coco|folders|voc|yolo|csv|groundtruth|entries|auto))?)",
                          README, re.M))
    assert {"convert folders", "convert coco", "validate", "split", "stage", "train", "prepare coco",
            "stats", "report"} <= seen
    for cmd in seen:
        result = runner.invoke(app, [*cmd.split(), "--help"])
        assert result.exit_code == 0, cmd


def test_every_validation_code_is_in_the_readme() -> None:
    from manifestkit.validation.findings import CODES

    codes = set(CODES)
    assert len(codes) > 30
    missing = sorted(c for c in codes if f"`{c}`" not in README)
    assert not missing, f"codes missing from the README table: {missing}"


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str,  # noqa: F811
                             s3_client: Any) -> None:  # noqa: F811
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    code = block.group(1).replace("my-bucket", "readme-bucket")
    s3_client.create_bucket(Bucket="readme-bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    shutil.copy(ROOT / "sample_data" / "coco" / "annotations.json", tmp_path / "annotations.json")
    shutil.copytree(ROOT / "sample_data" / "coco" / "images", tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("builtins.print", lambda *a, **k: None)
    exec(compile(code, "README.md", "exec"), {})
    for name in ("coco.manifest", "all.manifest", "train.manifest", "test.manifest"):
        assert (tmp_path / name).stat().st_size > 0
    listed = s3_client.list_objects_v2(Bucket="readme-bucket")
    keys = {o["Key"] for o in listed.get("Contents", [])}
    assert "parts/manifests/train.manifest" in keys and "parts/img_0001.jpg" in keys
    assert os.listdir(tmp_path / "images")
