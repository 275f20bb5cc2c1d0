"""Image checks against a local folder: Rekognition's limits from headers, and our MK_ checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imaging import write_image
from manifestkit import validate
from manifestkit.errors import ManifestKitError
from manifestkit.validation.imagecheck import local_image_path
from validate_helpers import cls_line, codes, det_line, write_lines

PREFIX = "s3://bkt/data/"


def setup(tmp_path: Path, lines: list[Any]) -> Path:
    return write_lines(tmp_path / "m.manifest", lines)


def test_good_images_are_clean(tmp_path: Path) -> None:
    img = tmp_path / "img"
    write_image(img / "a.jpg", 640, 480)
    write_image(img / "sub" / "b.png", 640, 480)
    m = setup(tmp_path, [det_line(PREFIX + "a.jpg"), det_line(PREFIX + "sub/b.png", [(1, 0, 0, 64, 64)])])
    r = validate(m, images=img, s3_prefix=PREFIX)
    assert r.verdict == "clean" and r.findings == []


def test_without_prefix_the_whole_key_is_the_path(tmp_path: Path) -> None:
    img = tmp_path / "img"
    write_image(img / "data" / "a.jpg", 640, 480)
    r = validate(setup(tmp_path, [det_line(PREFIX + "a.jpg")]), images=img)
    assert r.verdict == "clean"


@pytest.mark.parametrize("make, code", [
    (lambda p: None, "ERROR_INVALID_IMAGE"),                                       # missing
    (lambda p: p.write_bytes(b"not an image at all"), "ERROR_INVALID_IMAGE"),      # not an image
    (lambda p: write_image(p, 640, 480, fmt="GIF"), "ERROR_INVALID_IMAGE"),       # GIF named .jpg
    (lambda p: write_image(p, 640, 480, fmt="BMP"), "ERROR_INVALID_IMAGE"),
    (lambda p: write_image(p, 1400, 64), "ERROR_INVALID_IMAGE"),                   # 21.9:1
    (lambda p: write_image(p, 63, 480), "ERROR_INVALID_IMAGE_DIMENSION"),          # too narrow (boxes)
    (lambda p: write_image(p, 4097, 480), "ERROR_INVALID_IMAGE_DIMENSION"),
])
def test_invalid_images_drop_the_line(tmp_path: Path, make: Any, code: str) -> None:
    img = tmp_path / "img"
    img.mkdir()
    make(img / "a.jpg")
    m = setup(tmp_path, [det_line(PREFIX + "a.jpg", [(0, 0, 0, 10, 10)], width=640, height=480),
                         *[det_line(f"{PREFIX}ok{i}.jpg") for i in range(4)]])
    for i in range(4):
        write_image(img / f"ok{i}.jpg", 640, 480)
    r = validate(m, images=img, s3_prefix=PREFIX)
    line1 = [f for f in r.findings if f.line == 1]
    assert [f.code for f in line1 if f.code.startswith("ERROR")] == [code]
    assert r.manifests[0].invalid_lines == 1 and r.verdict == "would_train"


def test_bounds_are_inclusive(tmp_path: Path) -> None:
    img = tmp_path / "img"
    write_image(img / "a.jpg", 64, 64)
    write_image(img / "b.png", 1280, 64)  # exactly 20:1
    m = setup(tmp_path, [det_line(PREFIX + "a.jpg", [(0, 0, 0, 10, 10)], width=64, height=64),
                         det_line(PREFIX + "b.png", [(0, 0, 0, 100, 10)], width=1280, height=64)])
    assert validate(m, images=img, s3_prefix=PREFIX).verdict == "clean"


def test_image_level_lines_report_dimension_as_invalid_image(tmp_path: Path) -> None:
    img = tmp_path / "img"
    write_image(img / "a.jpg", 32, 32)
    write_image(img / "b.jpg", 100, 100)
    m = setup(tmp_path, [cls_line(PREFIX + "a.jpg", "x"), cls_line(PREFIX + "b.jpg", "y")])
    r = validate(m, images=img, s3_prefix=PREFIX)
    assert codes(r, 1) == ["ERROR_INVALID_IMAGE"] and "32x32" in r.findings[0].message


def test_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import manifestkit.validation.imagecheck as ic

    monkeypatch.setattr(ic, "MAX_IMAGE_BYTES", 100)
    img = tmp_path / "img"
    write_image(img / "a.jpg", 640, 480)
    r = validate(setup(tmp_path, [det_line(PREFIX + "a.jpg")]), images=img, s3_prefix=PREFIX)
    assert codes(r, 1) == ["ERROR_INVALID_IMAGE"] and "15 MiB" in r.findings[0].message


def test_size_mismatch_and_exif_rotation(tmp_path: Path) -> None:
    img = tmp_path / "img"
    write_image(img / "wrong.jpg", 640, 480)
    write_image(img / "rot.jpg", 640, 480, orientation=6)     # displayed 480x640
    write_image(img / "rot2.jpg", 640, 480, orientation=6)
    write_image(img / "cls.jpg", 640, 480, orientation=8)
    m = setup(tmp_path, [
        det_line(PREFIX + "wrong.jpg", width=800, height=600),
        det_line(PREFIX + "rot.jpg", width=480, height=640),    # image_size = displayed size
        det_line(PREFIX + "rot2.jpg", width=640, height=480),   # image_size = stored size
        cls_line(PREFIX + "cls.jpg", "x"),
    ])
    r = validate(m, images=img, s3_prefix=PREFIX)
    assert codes(r, 1) == ["MK_IMAGE_SIZE_MISMATCH"]
    assert codes(r, 2) == ["MK_EXIF_ROTATED"] and "displayed size" in r.findings[1].message
    assert codes(r, 3) == ["MK_EXIF_ROTATED"]
    (f4,) = [f for f in r.findings if f.line == 4]
    assert f4.code == "MK_EXIF_ROTATED" and f4.severity == "info"


def test_truncated_image_is_a_warning(tmp_path: Path) -> None:
    img = tmp_path / "img"
    p = write_image(img / "a.jpg", 640, 480)
    p.write_bytes(p.read_bytes()[:-200])
    r = validate(setup(tmp_path, [det_line(PREFIX + "a.jpg")]), images=img, s3_prefix=PREFIX)
    assert codes(r) == ["MK_IMAGE_TRUNCATED"]


def test_keys_escaping_the_folder_are_refused(tmp_path: Path) -> None:
    img = tmp_path / "img"
    img.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    m = setup(tmp_path, [det_line(PREFIX + "../secret.jpg"), det_line("s3://bkt/elsewhere/a.jpg")])
    r = validate(m, images=img, s3_prefix=PREFIX)
    assert codes(r) == ["MK_IMAGE_NOT_CHECKED", "MK_IMAGE_NOT_CHECKED"]
    assert "leave the images folder" in r.findings[0].message and "outside --s3-prefix" in r.findings[1].message
    assert local_image_path("/r", "/etc/passwd") is None
    assert local_image_path("/r", "a/../../b") is None
    assert local_image_path("/r", "C:/x") is None
    assert local_image_path("/r", "a//b.jpg") == "/r/a/b.jpg"


def test_bad_options(tmp_path: Path) -> None:
    m = setup(tmp_path, [det_line()])
    with pytest.raises(ManifestKitError, match="does not exist"):
        validate(m, images=tmp_path / "nope")
    with pytest.raises(ManifestKitError, match="--images"):
        validate(m, s3_prefix=PREFIX)
    with pytest.raises(ManifestKitError, match="not both"):
        validate(m, images=tmp_path, s3_client=object())
