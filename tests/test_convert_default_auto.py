"""``manifestkit convert SOURCE`` with no format detects it (issue 7), as ``convert auto`` does."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from manifestkit.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_bare_source_is_detected_and_converted(tmp_path: Path) -> None:
    out = tmp_path / "coco.manifest"
    r = _run("convert", str(SAMPLE / "coco" / "annotations.json"), "--images", str(SAMPLE / "coco" / "images"),
             "--s3-prefix", "s3://bkt/x/", "-o", str(out), "--creation-date", "2024-05-01")
    assert r.exit_code == 0, r.output
    assert "detected coco" in r.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 19 and json.loads(lines[0])["source-ref"].startswith("s3://bkt/x/")


def test_bare_folder_and_explicit_format_agree(tmp_path: Path) -> None:
    args = ["--s3-prefix", "s3://bkt/f/", "--creation-date", "2024-05-01"]
    a = _run("convert", str(SAMPLE / "folders"), "-o", str(tmp_path / "a.manifest"), *args)
    b = _run("convert", "folders", str(SAMPLE / "folders"), "-o", str(tmp_path / "b.manifest"), *args)
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert (tmp_path / "a.manifest").read_bytes() == (tmp_path / "b.manifest").read_bytes()


def test_images_refused_where_it_does_not_apply(tmp_path: Path) -> None:
    r = _run("convert", str(SAMPLE / "folders"), "--images", str(SAMPLE), "--s3-prefix", "s3://bkt/f/",
             "-o", str(tmp_path / "a.manifest"))
    assert r.exit_code == 1 and "error: --images does not apply to folders" in r.stderr
    assert not (tmp_path / "a.manifest").exists()


def test_missing_source_and_unknown_option() -> None:
    r = _run("convert", "/no/such/dataset", "--s3-prefix", "s3://bkt/f/", "-o", "x.manifest")
    assert r.exit_code == 1 and "error:" in r.stderr
    assert _run("convert", "--bogus").exit_code == 2
