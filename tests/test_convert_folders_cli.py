"""``manifestkit convert folders`` through Typer's CliRunner: exit codes, stderr, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from imaging import write_image
from typer.testing import CliRunner

from manifestkit.cli import app

REPO = Path(__file__).resolve().parent.parent
DATE = "2024-05-01T12:00:00"


def _run(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(app, ["convert", "folders", *args], env=env)


def _tree(root: Path) -> Path:
    write_image(root / "dog" / "d1.jpg")
    write_image(root / "cat" / "c1.png")
    write_image(root / "cat" / "inner" / "c2.jpg", orientation=6)
    write_image(root / "loose.jpg")
    (root / "cat" / ".DS_Store").write_bytes(b"\0" * 8)
    return root


def test_convert_writes_manifest_report_and_summary(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos")
    res = _run(str(root), "--s3-prefix", "s3://my-bucket/photos/", "-o", str(tmp_path / "pets"),
               "--report", str(tmp_path / "report.json"), "--creation-date", DATE)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    lines = (tmp_path / "pets.manifest").read_text(encoding="utf-8").splitlines()
    assert [json.loads(ln)["source-ref"] for ln in lines] == [
        "s3://my-bucket/photos/cat/c1.png", "s3://my-bucket/photos/cat/inner/c2.jpg",
        "s3://my-bucket/photos/dog/d1.jpg"]
    assert [json.loads(ln)["label-metadata"]["class-name"] for ln in lines] == ["cat", "cat", "dog"]
    stderr = res.stderr  # type: ignore[attr-defined]
    assert f"wrote {tmp_path / 'pets.manifest'}: 3 images, 2 labels" in stderr
    assert "warning: MK_UNLABELLED_IMAGE: 1 x" in stderr and "(e.g. loose.jpg)" in stderr
    assert "warning: MK_EXIF_ROTATED: 1 x" in stderr
    assert "info: MK_SKIPPED_HIDDEN: 1 x" in stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["images"] == 3 and report["labels"] == {"cat": 2, "dog": 1}
    assert {n["code"] for n in report["notes"]} == {"MK_UNLABELLED_IMAGE", "MK_EXIF_ROTATED", "MK_SKIPPED_HIDDEN"}


def test_corrupt_images_exit_1_listing_all_and_write_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos")
    (root / "dog" / "bad.jpg").write_bytes(b"nope")
    (root / "cat" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out.manifest"
    res = _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", str(out), "--report",
               str(tmp_path / "r.json"))
    assert res.exit_code == 1
    stderr = res.stderr  # type: ignore[attr-defined]
    assert stderr.startswith(f"error: {root}: 2 file(s) cannot be used")
    assert "cat/bad.png:" in stderr and "dog/bad.jpg:" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() and not (tmp_path / "r.json").exists()
    assert list(tmp_path.glob(".*tmp")) == []

    res = _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", str(out), "--skip-invalid")
    assert res.exit_code == 0
    assert "error: MK_CORRUPT_IMAGE: 2 x" in res.stderr  # type: ignore[attr-defined]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_missing_root_is_exit_1(tmp_path: Path) -> None:
    res = _run(str(tmp_path / "nope"), "--s3-prefix", "s3://my-bucket/p/", "-o", str(tmp_path / "o"))
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and "folder not found" in res.stderr  # type: ignore[attr-defined]


def test_symlink_loop_is_exit_1(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos")
    (root / "cat" / "loop").symlink_to(root)
    res = _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", str(tmp_path / "o"))
    assert res.exit_code == 1
    assert "symbolic link loop" in res.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [
    ["ROOT", "-o", "OUT"],                                   # --s3-prefix missing
    ["ROOT", "--s3-prefix", "s3://my-bucket/p/"],            # -o missing
    ["FILE", "--s3-prefix", "s3://my-bucket/p/", "-o", "OUT"],  # root is a file
    ["ROOT", "--s3-prefix", "s3://my-bucket/p/", "-o", "OUT", "--no-such-flag"],
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    root = _tree(tmp_path / "photos")
    subst = {"ROOT": str(root), "OUT": str(tmp_path / "o"), "FILE": str(root / "dog" / "d1.jpg")}
    res = _run(*[subst.get(a, a) for a in args])
    assert res.exit_code == 2
    assert not (tmp_path / "o.manifest").exists()


def test_bad_s3_prefix_is_exit_1(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos")
    res = _run(str(root), "--s3-prefix", "https://example.com/x", "-o", str(tmp_path / "o"))
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ")  # type: ignore[attr-defined]


def test_output_is_byte_identical_with_date_or_source_date_epoch(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos")
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    assert _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", a, "--creation-date", DATE).exit_code == 0
    assert _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", b, "--creation-date",
                "2024-05-01T14:00:00+02:00").exit_code == 0
    assert _run(str(root), "--s3-prefix", "s3://my-bucket/p/", "-o", c,
                env={"SOURCE_DATE_EPOCH": "1714564800"}).exit_code == 0
    first = Path(a + ".manifest").read_bytes()
    assert first == Path(b + ".manifest").read_bytes() == Path(c + ".manifest").read_bytes()
    assert b'"creation-date":"2024-05-01T12:00:00.000000"' in first


def test_committed_sample_data_converts(tmp_path: Path) -> None:
    res = _run(str(REPO / "sample_data" / "folders"), "--s3-prefix", "s3://my-bucket/folders/", "-o",
               str(tmp_path / "folders"), "--creation-date", DATE)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "30 images, 3 labels" in res.stderr  # type: ignore[attr-defined]
    lines = (tmp_path / "folders.manifest").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30
    assert json.loads(lines[0])["source-ref"] == "s3://my-bucket/folders/circle/circle_01.jpg"
