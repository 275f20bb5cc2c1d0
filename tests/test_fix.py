"""``fix``: every repairable problem repaired, reported by line, originals untouched; the result validates clean."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from imaging import write_image
from PIL import Image
from typer.testing import CliRunner

from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.fix import fix_manifest
from manifestkit.images import probe_file
from manifestkit.validation import validate

PREFIX = "s3://my-bucket/photos/"
DATE = "2024-05-01T12:00:00"


def _cls_line(key: str, label: str, cid: int = 0) -> dict:  # type: ignore[type-arg]
    return {"source-ref": PREFIX + key, "label": cid,
            "label-metadata": {"class-name": label, "confidence": 1, "type": "groundtruth/image-classification",
                               "human-annotated": "yes", "creation-date": DATE, "job-name": "x"}}


def _det_line(key: str, size: tuple[int, int], boxes: list[tuple[float, float, float, float]]) -> dict:  # type: ignore
    return {"source-ref": PREFIX + key,
            "bounding-box": {"image_size": [{"width": size[0], "height": size[1], "depth": 3}],
                             "annotations": [{"class_id": 0, "left": x, "top": y, "width": w, "height": h}
                                             for x, y, w, h in boxes]},
            "bounding-box-metadata": {"objects": [{"confidence": 1} for _ in boxes], "class-map": {"0": "part"},
                                      "type": "groundtruth/object-detection", "human-annotated": "yes",
                                      "creation-date": DATE, "job-name": "x"}}


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    write_image(root / "cats" / "a.webp", 100, 80)
    Image.new("CMYK", (100, 80), (10, 20, 30, 40)).save(root / "cats" / "b.jpg", "JPEG")
    write_image(root / "dogs" / "c.png", 100, 80, mode="I;16", color=(40000, 0, 0))
    write_image(root / "dogs" / "g.bmp", 100, 80)
    write_image(root / "dogs" / "h.jpg", 100, 100)
    write_image(root / "parts" / "big.jpg", 5000, 3000)
    write_image(root / "parts" / "turned.jpg", 80, 64, orientation=6)
    write_image(root / "parts" / "plain.jpg", 200, 100)
    return root


def _manifests(tmp_path: Path) -> tuple[Path, Path]:
    cls = _write(tmp_path / "cls.manifest", [
        _cls_line("cats/a.webp", "cat"), _cls_line("cats/b.jpg", "cat"), _cls_line("dogs/c.png", "dog", 1),
        _cls_line("dogs/g.bmp", "dog", 1), "{broken",
        {"source-ref": PREFIX + "dogs/h.jpg", "ml": [0, 1],
         "ml-metadata": {"class-map": {"0": "cat", "1": "dog"}, "type": "groundtruth/image-classification-multilabel",
                         "human-annotated": "yes", "creation-date": DATE, "job-name": "x"}}])
    det = _write(tmp_path / "det.manifest", [
        _det_line("parts/big.jpg", (5000, 3000), [(1000, 500, 2000, 1000)]),
        _det_line("parts/turned.jpg", (64, 80), [(10, 10, 20, 30)]),
        _det_line("parts/plain.jpg", (210, 100), [(10.4, 10.6, 50.2, 40), (180, 50, 40, 30), (5, 5, 1, 1)])])
    return cls, det


def _overlay(photos: Path, out: Path, dest: Path) -> Path:
    """What S3 holds after uploading the originals, then the repaired copies over them."""
    shutil.copytree(photos, dest)
    shutil.copytree(out, dest, dirs_exist_ok=True)
    return dest


def test_fixed_manifests_validate_clean(tmp_path: Path, photos: Path) -> None:
    cls, det = _manifests(tmp_path)
    before = _hashes(photos), cls.read_bytes(), det.read_bytes()
    assert validate(cls, images=photos, s3_prefix=PREFIX).verdict != "clean"
    assert validate(det, images=photos, s3_prefix=PREFIX).verdict != "clean"
    out = tmp_path / "fixed-photos"
    r1 = fix_manifest(cls, tmp_path / "cls-fixed", images=photos, s3_prefix=PREFIX, images_out=out,
                      creation_date_value=DATE)
    r2 = fix_manifest(det, tmp_path / "det-fixed", images=photos, s3_prefix=PREFIX, images_out=out,
                      creation_date_value=DATE, report=tmp_path / "det-report.json")
    assert (_hashes(photos), cls.read_bytes(), det.read_bytes()) == before  # originals untouched
    merged = _overlay(photos, out, tmp_path / "s3")
    for fixed in (tmp_path / "cls-fixed.manifest", tmp_path / "det-fixed.manifest"):
        report = validate(fixed, images=merged, s3_prefix=PREFIX)
        assert report.verdict == "clean", [(f.code, f.message) for f in report.findings]
    assert not r1.unfixed and not r2.unfixed
    assert r1.lines == 6 and r1.written == 5 and r1.images_written == 4
    assert r2.images_written == 2
    saved = json.loads((tmp_path / "det-report.json").read_text())
    assert saved["counts"] == r2.counts() and len(saved["changes"]) == len(r2.changes)


def test_each_repair_is_reported_by_line(tmp_path: Path, photos: Path) -> None:
    cls, det = _manifests(tmp_path)
    out = tmp_path / "o"
    r = fix_manifest(cls, tmp_path / "c", images=photos, s3_prefix=PREFIX, images_out=out, creation_date_value=DATE)
    by_line = {(c.line, c.code) for c in r.changes}
    assert (1, "MK_IMAGE_REWRITTEN") in by_line and (1, "MK_SOURCE_REF_CHANGED") in by_line
    assert (5, "ERROR_INVALID_JSON_LINE") in by_line and (6, "ERROR_UNSUPPORTED_USE_CASE_TYPE") in by_line
    lines = [json.loads(x) for x in (tmp_path / "c.manifest").read_text().splitlines()]
    assert [x["source-ref"][len(PREFIX):] for x in lines] == ["cats/a.jpg", "cats/b.jpg", "dogs/c.png",
                                                              "dogs/g.png", "dogs/h.jpg"]
    assert [k for k in lines[4] if k.endswith("-metadata")] == ["label-metadata", "label-1-metadata"]
    assert probe_file(out / "cats" / "a.jpg").format == "JPEG"
    assert probe_file(out / "cats" / "b.jpg").channels == 3  # CMYK -> RGB, same name
    c = probe_file(out / "dogs" / "c.png")
    assert (c.format, c.bits) == ("PNG", 8)
    with Image.open(out / "dogs" / "c.png") as im:
        assert im.getpixel((0, 0)) == 40000 // 256  # 16-bit values scaled, not clipped
    assert probe_file(out / "dogs" / "g.png").format == "PNG"  # BMP is lossless: PNG

    fix_manifest(det, tmp_path / "d", images=photos, s3_prefix=PREFIX, images_out=out, creation_date_value=DATE)
    lines = [json.loads(x) for x in (tmp_path / "d.manifest").read_text().splitlines()]
    big, turned, plain = (x["bounding-box"] for x in lines)
    assert big["image_size"][0]["width"] == 4096 and big["image_size"][0]["height"] == 2458
    # Edges scaled by 4096/5000 then rounded: 819.2 -> 819, 2457.6 -> 2458.
    assert big["annotations"][0] == {"class_id": 0, "left": 819, "top": 410, "width": 1639, "height": 819}
    assert probe_file(out / "parts" / "big.jpg").width == 4096
    t = probe_file(out / "parts" / "turned.jpg")
    assert (t.width, t.height, t.orientation) == (64, 80, 1)
    assert turned["annotations"][0] == {"class_id": 0, "left": 10, "top": 10, "width": 20, "height": 30}
    assert plain["image_size"][0]["width"] == 200
    assert plain["annotations"] == [{"class_id": 0, "left": 10, "top": 11, "width": 51, "height": 40},
                                    {"class_id": 0, "left": 180, "top": 50, "width": 20, "height": 30}]


def test_without_images_out_nothing_is_written_and_it_says_so(tmp_path: Path, photos: Path) -> None:
    cls, _ = _manifests(tmp_path)
    r = fix_manifest(cls, tmp_path / "c", images=photos, s3_prefix=PREFIX, creation_date_value=DATE)
    assert r.images_written == 0
    assert {c.code for c in r.unfixed} == {"MK_NEEDS_IMAGES_OUT"}
    with pytest.raises(ManifestKitError, match="another folder"):
        fix_manifest(cls, tmp_path / "c", images=photos, images_out=photos)
    with pytest.raises(ManifestKitError, match="new file"):
        fix_manifest(cls, cls, images=photos, images_out=tmp_path / "x")


def test_missing_image_is_reported_not_fixed(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    m = _write(tmp_path / "m.manifest", [_det_line("nowhere.jpg", (100, 100), [(10.5, 10, 30, 30)])])
    r = fix_manifest(m, tmp_path / "o", images=tmp_path / "img", s3_prefix=PREFIX, creation_date_value=DATE)
    assert [(c.code, c.fixed) for c in r.changes] == [("MK_IMAGE_NOT_FOUND", False),
                                                       ("MK_NON_INTEGER_COORDINATES", True)]


def test_cli(tmp_path: Path, photos: Path) -> None:
    _, det = _manifests(tmp_path)
    res = CliRunner().invoke(app, ["fix", str(det), "--images", str(photos), "--s3-prefix", PREFIX, "--images-out",
                                   str(tmp_path / "out"), "-o", str(tmp_path / "f"), "--report",
                                   str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "3 of 3 lines, 2 images rewritten" in res.output
    assert "line 3: ERROR_BOUNDING_BOX_TOO_SMALL" in res.output
    assert json.loads((tmp_path / "r.json").read_text())["written"] == 3
