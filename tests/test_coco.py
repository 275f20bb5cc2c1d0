"""The COCO reader: policies, bad input, a round-trip property, the conformance fixtures, and AWS's oracle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE
from imaging import image_bytes, write_image
from manifestkit.errors import ImageError, SourceError
from manifestkit.manifest import read_manifest, write_manifest
from manifestkit.model import Dataset, ImageItem, box_too_small, normalize_box
from manifestkit.sources import coco as coco_mod
from manifestkit.sources.coco import read_coco

DATE = "2024-05-01T12:00:00"
CATS = [{"id": 1, "name": "cat"}, {"id": 7, "name": "dog"}]


def write_coco(path: Path, images: list[dict[str, Any]], annotations: list[dict[str, Any]],
               categories: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
    doc: dict[str, Any] = {"images": images, "annotations": annotations,
                           "categories": CATS if categories is None else categories}
    doc.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def img(ident: int, name: str, w: int | None = 200, h: int | None = 100) -> dict[str, Any]:
    d: dict[str, Any] = {"id": ident, "file_name": name}
    if w is not None:
        d["width"] = w
    if h is not None:
        d["height"] = h
    return d


def ann(ident: int, image_id: int, bbox: list[float] | None, cat: int = 1, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"id": ident, "image_id": image_id, "category_id": cat, "iscrowd": 0}
    if bbox is not None:
        d["bbox"] = bbox
    d.update(kw)
    return d


def load_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fp:
        return json.load(fp)


def items_of(ds: Dataset) -> list[ImageItem]:
    return list(ds.items)


def note_count(ds: Dataset, code: str) -> int:
    n = ds.summary.notes.get(code)
    return n.count if n else 0


@pytest.fixture
def simple(tmp_path: Path) -> tuple[Path, Path]:
    """Two real JPEGs (200x100 and 120x90), three boxes, COCO ids out of order."""
    images = tmp_path / "images"
    write_image(images / "sub" / "b.jpg", 200, 100)
    write_image(images / "a.jpg", 120, 90)
    coco = write_coco(tmp_path / "ann.json",
                      [img(42, "sub/b.jpg", 200, 100), img(3, "a.jpg", 120, 90)],
                      [ann(10, 3, [10, 10, 50, 40], 7), ann(11, 42, [0, 0, 100, 50], 1),
                       ann(12, 42, [20.4, 30.6, 60.2, 20.2], 7)])
    return coco, images


# ------------------------------------------------------------------------------------------ basics


def test_reads_items_in_coco_order_with_real_sizes_and_category_ids(simple: tuple[Path, Path]) -> None:
    coco, images = simple
    ds = read_coco(coco, images)
    assert ds.task.value == "detection"
    assert ds.classes == {"cat": 1, "dog": 7}
    items = items_of(ds)
    assert [i.path for i in items] == ["sub/b.jpg", "a.jpg"]
    assert [i.source_id for i in items] == ["42", "3"]
    first = items[0]
    assert (first.width, first.height, first.format, first.depth, first.orientation) == (200, 100, "JPEG", 3, 1)
    assert [(b.label, b.class_id, b.left, b.top, b.width, b.height) for b in first.boxes] == [
        ("cat", 1, 0, 0, 100, 50), ("dog", 7, 20, 31, 61, 20)]
    assert [(b.label, b.class_id) for b in items[1].boxes] == [("dog", 7)]
    # 20.4 -> 20, 30.6 -> 31, right 80.6 -> 81, bottom 50.8 -> 51: one rounded box.
    assert note_count(ds, "MK_NON_INTEGER_COORDINATES") == 1
    assert ds.summary.notes["MK_NON_INTEGER_COORDINATES"].severity == "info"


def test_items_can_be_iterated_twice_without_counting_notes_twice(simple: tuple[Path, Path]) -> None:
    coco, images = simple
    ds = read_coco(coco, images)
    first = items_of(ds)
    second = items_of(ds)
    assert first == second
    assert note_count(ds, "MK_NON_INTEGER_COORDINATES") == 1


def test_default_images_folder_is_the_json_folder(tmp_path: Path) -> None:
    # Roboflow exports put the images next to _annotations.coco.json.
    write_image(tmp_path / "x.jpg", 100, 80)
    coco = write_coco(tmp_path / "_annotations.coco.json", [img(1, "x.jpg", 100, 80)],
                      [ann(1, 1, [5, 5, 20, 20])])
    [item] = items_of(read_coco(coco))
    assert (item.path, item.width, item.height) == ("x.jpg", 100, 80)


def test_png_and_greyscale_depths(tmp_path: Path) -> None:
    images = tmp_path / "im"
    write_image(images / "rgba.png", 90, 70, mode="RGBA")
    write_image(images / "grey.jpg", 90, 70, mode="L")
    coco = write_coco(tmp_path / "c.json", [img(1, "rgba.png", 90, 70), img(2, "grey.jpg", 90, 70)],
                      [ann(1, 1, [1, 1, 30, 30]), ann(2, 2, [1, 1, 30, 30])])
    a, b = items_of(read_coco(coco, images))
    assert (a.format, a.depth) == ("PNG", 4)
    assert (b.format, b.depth) == ("JPEG", 1)


def test_non_jpeg_png_image_is_reported(tmp_path: Path) -> None:
    images = tmp_path / "im"
    write_image(images / "x.gif", 90, 70)
    coco = write_coco(tmp_path / "c.json", [img(1, "x.gif", 90, 70)], [ann(1, 1, [1, 1, 30, 30])])
    ds = read_coco(coco, images)
    [item] = items_of(ds)
    assert item.format == "GIF"
    note = ds.summary.notes["MK_UNSUPPORTED_IMAGE_FORMAT"]
    assert note.severity == "error" and note.count == 1 and "GIF" in note.examples[0]


def test_backslash_file_names_are_folder_separators(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "sub" / "a.jpg", 90, 70)
    coco = write_coco(tmp_path / "c.json", [img(1, "sub\\a.jpg", 90, 70)], [ann(1, 1, [1, 1, 30, 30])])
    [item] = items_of(read_coco(coco, tmp_path / "im"))
    assert item.path == "sub/a.jpg"


def test_invalid_policy_values_are_refused(simple: tuple[Path, Path]) -> None:
    coco, images = simple
    with pytest.raises(ValueError, match="crowd"):
        read_coco(coco, images, crowd="maybe")
    with pytest.raises(ValueError, match="bad_boxes"):
        read_coco(coco, images, bad_boxes="fix")


def test_progress_is_called_with_the_items_produced(simple: tuple[Path, Path]) -> None:
    coco, images = simple
    calls: list[int] = []
    items_of(read_coco(coco, images, progress=calls.append))
    assert sum(calls) == 2


# ------------------------------------------------------------------------------------ size and EXIF


def test_declared_size_mismatch_uses_the_real_size(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "a.jpg", 100, 80)
    coco = write_coco(tmp_path / "c.json", [img(5, "a.jpg", 300, 200)], [ann(1, 5, [50, 40, 200, 100])])
    ds = read_coco(coco, tmp_path / "im")
    [item] = items_of(ds)
    assert (item.width, item.height) == (100, 80)
    # The box drawn on the declared 300x200 canvas runs off the real image and is clipped.
    assert [(b.left, b.top, b.width, b.height) for b in item.boxes] == [(50, 40, 50, 40)]
    note = ds.summary.notes["MK_IMAGE_SIZE_MISMATCH"]
    assert note.count == 1 and "COCO 300x200, file 100x80" in note.examples[0]
    assert "image id 5" in note.examples[0]
    assert note_count(ds, "MK_BOX_CLIPPED") == 1


def test_exif_rotated_image_with_displayed_size_keeps_the_displayed_size(tmp_path: Path) -> None:
    # Stored 120x80, orientation 6: displayed 80x120. The annotator saw (and declared) 80x120.
    write_image(tmp_path / "im" / "r.jpg", 120, 80, orientation=6)
    coco = write_coco(tmp_path / "c.json", [img(1, "r.jpg", 80, 120)], [ann(1, 1, [10, 60, 50, 50])])
    ds = read_coco(coco, tmp_path / "im")
    [item] = items_of(ds)
    assert (item.width, item.height, item.orientation) == (80, 120, 6)
    assert [(b.left, b.top, b.width, b.height) for b in item.boxes] == [(10, 60, 50, 50)]
    assert note_count(ds, "MK_EXIF_ROTATED") == 1
    assert "MK_IMAGE_SIZE_MISMATCH" not in ds.summary.notes
    assert "displayed" in ds.summary.notes["MK_EXIF_ROTATED"].message


def test_exif_rotated_image_with_stored_size_uses_the_stored_size(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "r.jpg", 120, 80, orientation=6)
    coco = write_coco(tmp_path / "c.json", [img(1, "r.jpg", 120, 80), img(2, "s.jpg", None, None)],
                      [ann(1, 1, [10, 10, 50, 50]), ann(2, 2, [10, 10, 50, 50])])
    write_image(tmp_path / "im" / "s.jpg", 120, 80, orientation=8)
    ds = read_coco(coco, tmp_path / "im")
    a, b = items_of(ds)
    assert (a.width, a.height, b.width, b.height) == (120, 80, 120, 80)
    assert note_count(ds, "MK_EXIF_ROTATED") == 2
    assert "MK_IMAGE_SIZE_MISMATCH" not in ds.summary.notes


def test_exif_rotated_image_with_a_third_size_is_a_mismatch(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "r.jpg", 120, 80, orientation=6)
    coco = write_coco(tmp_path / "c.json", [img(1, "r.jpg", 500, 400)], [ann(1, 1, [10, 10, 50, 50])])
    ds = read_coco(coco, tmp_path / "im")
    [item] = items_of(ds)
    assert (item.width, item.height) == (120, 80)
    assert note_count(ds, "MK_EXIF_ROTATED") == 1 and note_count(ds, "MK_IMAGE_SIZE_MISMATCH") == 1


def test_trust_sizes_opens_no_image_and_uses_declared_sizes(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "c.json", [img(1, "absent.jpg", 640, 480), img(2, "absent.bmp", 64, 64)],
                      [ann(1, 1, [1, 1, 30, 30]), ann(2, 2, [1, 1, 30, 30])])
    ds = read_coco(coco, tmp_path / "nowhere", trust_sizes=True)
    a, b = items_of(ds)
    assert (a.width, a.height, a.format, b.format) == (640, 480, "JPEG", None)
    assert note_count(ds, "MK_UNSUPPORTED_IMAGE_FORMAT") == 1


def test_trust_sizes_needs_declared_sizes(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "c.json", [img(9, "a.jpg", None, None)], [ann(1, 9, [1, 1, 30, 30])])
    with pytest.raises(SourceError, match=r"image id 9 \(images\[0\]\).*--trust-sizes"):
        read_coco(coco, trust_sizes=True)


# ------------------------------------------------------------------------------------------ box policies


def trusted(tmp_path: Path, anns: list[dict[str, Any]], w: int = 200, h: int = 100, **kw: Any) -> Dataset:
    coco = write_coco(tmp_path / "c.json", [img(1, "a.jpg", w, h)], anns)
    return read_coco(coco, trust_sizes=True, **kw)


def boxes_of(ds: Dataset) -> list[tuple[Any, ...]]:
    return [(b.class_id, b.left, b.top, b.width, b.height) for i in ds.items for b in i.boxes]


def test_crowd_is_skipped_by_default_and_counted(tmp_path: Path) -> None:
    anns = [ann(1, 1, [0, 0, 50, 50]), ann(2, 1, [10, 10, 50, 50], 7, iscrowd=1)]
    ds = trusted(tmp_path, anns)
    assert boxes_of(ds) == [(1, 0, 0, 50, 50)]
    note = ds.summary.notes["MK_CROWD_SKIPPED"]
    assert note.count == 1 and note.examples == ["annotation id 2 (image id 1)"]
    assert boxes_of(trusted(tmp_path, anns, crowd="keep")) == [(1, 0, 0, 50, 50), (7, 10, 10, 50, 50)]


def test_image_with_only_crowd_boxes_is_left_out(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [0, 0, 50, 50], iscrowd=1)])
    assert items_of(ds) == []
    assert note_count(ds, "MK_EMPTY_IMAGE") == 1 and note_count(ds, "MK_CROWD_SKIPPED") == 1


def test_box_partly_off_the_image_is_clipped_by_default(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [-10, 80, 50, 40]), ann(2, 1, [150, 0, 100, 30])])
    assert boxes_of(ds) == [(1, 0, 80, 40, 20), (1, 150, 0, 50, 30)]
    note = ds.summary.notes["MK_BOX_CLIPPED"]
    assert note.count == 2 and note.examples[0] == "annotation id 1 (image id 1)"


def test_box_partly_off_the_image_can_be_dropped(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [-10, 80, 50, 40]), ann(2, 1, [0, 0, 30, 30])], bad_boxes="drop")
    assert boxes_of(ds) == [(1, 0, 0, 30, 30)]
    assert note_count(ds, "MK_BOX_OFF_IMAGE_DROPPED") == 1


def test_box_partly_off_the_image_can_be_an_error(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [0, 0, 30, 30]), ann(77, 1, [190, 0, 30, 30])], bad_boxes="error")
    with pytest.raises(SourceError, match=r"annotation id 77 \(image id 1, a.jpg\).*runs off the 200x100"):
        items_of(ds)


def test_box_within_the_image_after_rounding_is_not_clipped(tmp_path: Path) -> None:
    # right edge 200.4 rounds to 200: inside the image, so no clip and no error.
    ds = trusted(tmp_path, [ann(1, 1, [100.2, 0, 100.2, 50])], bad_boxes="error")
    assert boxes_of(ds) == [(1, 100, 0, 100, 50)]
    assert "MK_BOX_CLIPPED" not in ds.summary.notes


def test_empty_and_too_small_boxes_are_dropped_and_counted(tmp_path: Path) -> None:
    anns = [ann(1, 1, [10, 10, 1, 20]),        # 1 px wide: too small
            ann(2, 1, [10, 10, 0, 0]),         # empty
            ann(3, 1, [10, 10, -5, 20]),       # negative width
            ann(4, 1, [300, 300, 10, 10]),     # wholly off the image: empty after clipping
            ann(5, 1, [198.6, 10, 10, 10]),    # 1 px left after clipping
            ann(6, 1, [10, 10, 2, 2])]         # smallest box kept
    ds = trusted(tmp_path, anns)
    assert boxes_of(ds) == [(1, 10, 10, 2, 2)]
    note = ds.summary.notes["MK_BOX_TOO_SMALL"]
    assert note.count == 5
    # Wholly-off boxes are dropped even with --bad-boxes error: nothing of them is on the image.
    # (Box 5 is partly on the image, so --bad-boxes error refuses it.)
    partly_on = anns.pop(4)
    assert boxes_of(trusted(tmp_path, anns, bad_boxes="error")) == [(1, 10, 10, 2, 2)]
    with pytest.raises(SourceError, match="annotation id 5"):
        boxes_of(trusted(tmp_path, [partly_on], bad_boxes="error"))


def test_too_small_follows_rekognitions_downscale(tmp_path: Path) -> None:
    # On a 4000 px wide image Rekognition scales by 1280/4000: a 3 px box becomes 0.96 px.
    ds = trusted(tmp_path, [ann(1, 1, [10, 10, 3, 40]), ann(2, 1, [10, 10, 4, 40])], w=4000, h=3000)
    assert boxes_of(ds) == [(1, 10, 10, 4, 40)]
    assert box_too_small(3, 40, 4000, 3000) and not box_too_small(4, 40, 4000, 3000)


def test_empty_images_are_left_out_unless_keep_empty(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "c.json", [img(1, "a.jpg"), img(2, "b.jpg")], [ann(1, 1, [0, 0, 20, 20])])
    ds = read_coco(coco, trust_sizes=True)
    assert [i.path for i in ds.items] == ["a.jpg"]
    assert ds.summary.notes["MK_EMPTY_IMAGE"].examples == ["image id 2 (b.jpg)"]
    ds = read_coco(coco, trust_sizes=True, keep_empty=True)
    assert [(i.path, len(i.boxes)) for i in ds.items] == [("a.jpg", 1), ("b.jpg", 0)]
    assert note_count(ds, "MK_EMPTY_IMAGE_KEPT") == 1


def test_more_than_50_boxes_is_reported_with_rekognitions_code(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(i, 1, [i, 0, 10, 10]) for i in range(1, 52)])
    [item] = items_of(ds)
    assert len(item.boxes) == 51
    note = ds.summary.notes["ERROR_TOO_MANY_BOUNDING_BOXES"]
    assert note.severity == "error" and "51 boxes" in note.examples[0]


def test_area_is_never_trusted(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [0, 0, 20, 20], area=-5), ann(2, 1, [0, 0, 20, 20], area=1e12)])
    assert boxes_of(ds) == [(1, 0, 0, 20, 20), (1, 0, 0, 20, 20)]


def test_box_from_polygon_when_bbox_is_missing(tmp_path: Path) -> None:
    anns = [ann(1, 1, None, segmentation=[[10, 10, 60.4, 12, 30, 40.6], [5, 20, 8, 22]]),
            ann(2, 1, [0, 0, 30, 30])]
    ds = trusted(tmp_path, anns)
    assert boxes_of(ds) == [(1, 5, 10, 55, 31), (1, 0, 0, 30, 30)]
    note = ds.summary.notes["MK_BOX_FROM_SEGMENTATION"]
    assert note.count == 1 and note.examples == ["annotation id 1 (annotations[0])"]


def test_box_from_uncompressed_rle_when_bbox_is_missing(tmp_path: Path) -> None:
    # A 10x5 (h x w) mask; column-major runs: 12 background, 3 foreground (col 1 rows 2-4), 20 background,
    # 4 foreground (col 3 rows 5-8).
    rle = {"counts": [12, 3, 20, 4, 11], "size": [10, 5]}
    ds = trusted(tmp_path, [ann(1, 1, None, segmentation=rle, iscrowd=0)])
    assert boxes_of(ds) == [(1, 1, 2, 3, 7)]


def rle_to_string(counts: list[int]) -> str:
    """COCO's compressed RLE string (the inverse of the reader's decoder), for the test."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = not ((x == 0 and not ch & 0x10) or (x == -1 and ch & 0x10))
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=30))
def test_compressed_rle_string_decodes(counts: list[int]) -> None:
    assert coco_mod._rle_counts_from_string(rle_to_string(counts)) == counts


def test_box_from_compressed_rle_when_bbox_is_missing(tmp_path: Path) -> None:
    rle = {"counts": rle_to_string([12, 3, 20, 4, 11]), "size": [10, 5]}
    ds = trusted(tmp_path, [ann(1, 1, None, segmentation=rle)])
    assert boxes_of(ds) == [(1, 1, 2, 3, 7)]


def test_annotation_without_bbox_or_segmentation_is_an_error(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "c.json", [img(1, "a.jpg")], [ann(8, 1, None)])
    with pytest.raises(SourceError, match=r"annotation id 8 \(annotations\[0\]\).*neither a 'bbox' nor"):
        read_coco(coco, trust_sizes=True)


def test_unused_categories_are_noted(tmp_path: Path) -> None:
    ds = trusted(tmp_path, [ann(1, 1, [0, 0, 20, 20])])
    assert ds.classes == {"cat": 1, "dog": 7}
    assert ds.summary.notes["MK_UNUSED_CATEGORY"].examples == ["category id 7 (dog)"]


# ------------------------------------------------------------------------------------------ bad input


def expect_source_error(path: Path, pattern: str, images: Path | None = None, **kw: Any) -> SourceError:
    with pytest.raises(SourceError, match=pattern) as info:
        items_of(read_coco(path, images, **kw))
    assert str(path) in str(info.value) or (images is not None and str(images) in str(info.value))
    return info.value


@pytest.mark.parametrize("text, pattern", [
    ("", "empty"),
    ("   \n", "empty"),
    ('{"images": [], "annotations": [', "truncated"),
    ("not json at all", "not valid JSON"),
    ("42", "top level must be a JSON object"),
    ('{"annotations": [], "categories": []}', "required key 'images' is missing"),
    ('{"images": [], "categories": []}', "required key 'annotations' is missing"),
    ('{"images": [], "annotations": []}', "required key 'categories' is missing"),
    ('[{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5}]', "results file"),
])
def test_unreadable_files(tmp_path: Path, text: str, pattern: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    expect_source_error(p, pattern, trust_sizes=True)


def test_missing_annotation_file(tmp_path: Path) -> None:
    expect_source_error(tmp_path / "nope.json", "not found")


@pytest.mark.parametrize("images, anns, pattern", [
    ([img(1, "a.jpg")], [{"id": 4, "category_id": 1, "bbox": [1, 1, 5, 5]}],
     r"annotation id 4 \(annotations\[0\]\): the required key 'image_id' is missing"),
    ([img(1, "a.jpg")], [ann(1, 1, [0, 0, 5, 5]), {"id": 5, "image_id": "1", "category_id": 1}],
     r"annotation id 5 \(annotations\[1\]\): 'image_id' must be an integer, not a string"),
    ([img(1, "a.jpg")], [ann(6, 1, [1, 2, 3])],
     r"annotation id 6 \(annotations\[0\]\): 'bbox' must be a list of 4 numbers"),
    ([img(1, "a.jpg")], [ann(6, 1, ["1", 2, 3, 4])], r"annotation id 6 .*'bbox\[0\]' must be a number"),
    ([{"id": 3, "width": 5, "height": 5}], [], r"image id 3 \(images\[0\]\): the required key 'file_name'"),
    ([img(1, "a.jpg", 0, 10)], [], r"image id 1 \(images\[0\]\): 'width' must be a positive whole number"),
    ([img(1, "a.jpg", 10.5, 10)], [], r"'width' must be a positive whole number"),
    ([img(1, "a.jpg")], [ann(1, 999, [0, 0, 5, 5])],
     r"annotation id 1 \(annotations\[0\]\): points at image id 999, which is not in 'images'"),
    ([img(1, "a.jpg")], [ann(1, 1, [0, 0, 5, 5], cat=3)],
     r"annotation id 1 \(annotations\[0\]\): points at category id 3, which is not in 'categories'"),
    ([img(1, "a.jpg"), img(1, "b.jpg")], [], r"image id 1 \(images\[1\]\): duplicate image id"),
    ([img(1, "a.jpg")], [ann(2, 1, [0, 0, 5, 5]), ann(2, 1, [0, 0, 6, 6])],
     r"annotation id 2 \(annotations\[1\]\): duplicate annotation id"),
    ([img(1, "a.jpg"), img(2, "./a.jpg")], [], r"image id 2 .*'a.jpg' is also used by image id 1"),
    ([img(1, "../secret.jpg")], [], r"image id 1 \(images\[0\]\): file_name '../secret.jpg' contains '..'"),
    ([img(1, "sub/../../x.jpg")], [], r"contains '..'"),
    ([img(1, "/etc/passwd")], [], r"image id 1 .*is an absolute path"),
    ([img(1, "C:\\data\\a.jpg")], [], r"is an absolute path"),
    ([img(1, "")], [], r"'file_name' is empty"),
])
def test_structural_errors_name_the_item(tmp_path: Path, images: list[dict[str, Any]],
                                         anns: list[dict[str, Any]], pattern: str) -> None:
    expect_source_error(write_coco(tmp_path / "c.json", images, anns), pattern, trust_sizes=True)


def test_duplicate_category_id_and_name(tmp_path: Path) -> None:
    expect_source_error(write_coco(tmp_path / "c.json", [], [], [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]),
                        r"category id 1 \(categories\[1\]\): duplicate category id")
    expect_source_error(write_coco(tmp_path / "d.json", [], [], [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]),
                        r"duplicate category name 'a'")
    expect_source_error(write_coco(tmp_path / "e.json", [], [], [{"id": 1, "name": " "}]), r"empty name")


def test_captions_file_is_refused_clearly(tmp_path: Path) -> None:
    # Real COCO captions files have no 'categories' and no 'category_id' at all.
    p = tmp_path / "captions.json"
    p.write_text(json.dumps({"images": [img(1, "a.jpg")],
                             "annotations": [{"id": 1, "image_id": 1, "caption": "a cat"}]}))
    expect_source_error(p, "captions file .* captions are out of scope", trust_sizes=True)


def test_images_folder_must_exist(tmp_path: Path, simple: tuple[Path, Path]) -> None:
    coco, _ = simple
    with pytest.raises(SourceError, match="images folder does not exist"):
        read_coco(coco, tmp_path / "missing")


def test_all_missing_images_are_listed(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "here.jpg", 90, 70)
    coco = write_coco(tmp_path / "c.json", [img(1, "gone1.jpg"), img(2, "here.jpg", 90, 70), img(3, "x/gone2.jpg")],
                      [ann(1, 1, [0, 0, 9, 9]), ann(2, 2, [0, 0, 9, 9]), ann(3, 3, [0, 0, 9, 9])])
    with pytest.raises(ImageError) as info:
        items_of(read_coco(coco, tmp_path / "im"))
    text = str(info.value)
    assert "2 image(s) not found" in text and "--skip-missing" in text
    assert "image id 1 (gone1.jpg)" in text and "image id 3 (x/gone2.jpg)" in text
    assert "here.jpg" not in text.split("not found", 1)[1]


def test_skip_missing_leaves_missing_images_out_and_counts_them(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "here.jpg", 90, 70)
    coco = write_coco(tmp_path / "c.json", [img(1, "gone1.jpg"), img(2, "here.jpg", 90, 70)],
                      [ann(1, 1, [0, 0, 9, 9]), ann(2, 2, [0, 0, 9, 9])])
    ds = read_coco(coco, tmp_path / "im", skip_missing=True)
    assert [i.path for i in ds.items] == ["here.jpg"]
    note = ds.summary.notes["MK_IMAGE_NOT_FOUND"]
    assert note.count == 1 and note.examples == ["image id 1 (gone1.jpg)"]


def test_truncated_and_corrupt_images_are_errors(tmp_path: Path) -> None:
    im = tmp_path / "im"
    whole = image_bytes(120, 90)
    (im).mkdir()
    (im / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (im / "text.jpg").write_bytes(b"this is not an image")
    write_image(im / "ok.jpg", 120, 90)
    coco = write_coco(tmp_path / "c.json", [img(1, "cut.jpg"), img(2, "text.jpg"), img(3, "ok.jpg", 120, 90)],
                      [ann(1, 1, [0, 0, 9, 9]), ann(2, 2, [0, 0, 9, 9]), ann(3, 3, [0, 0, 9, 9])])
    with pytest.raises(ImageError) as info:
        items_of(read_coco(coco, im, skip_missing=True))
    text = str(info.value)
    assert "2 image(s) cannot be used" in text
    assert "image id 1 (cut.jpg): truncated JPEG" in text and "image id 2 (text.jpg): not an image" in text


def test_symlink_out_of_the_images_folder_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "outside" / "secret.jpg", 90, 70)
    (tmp_path / "im").mkdir()
    os.symlink(tmp_path / "outside" / "secret.jpg", tmp_path / "im" / "link.jpg")
    coco = write_coco(tmp_path / "c.json", [img(1, "link.jpg", 90, 70)], [ann(1, 1, [0, 0, 9, 9])])
    with pytest.raises(ImageError, match=r"image id 1: file_name 'link.jpg' resolves to .*outside the images"):
        items_of(read_coco(coco, tmp_path / "im"))


def test_symlink_inside_the_images_folder_is_fine_and_loops_are_errors(tmp_path: Path) -> None:
    im = tmp_path / "im"
    write_image(im / "real" / "a.jpg", 90, 70)
    os.symlink(im / "real" / "a.jpg", im / "alias.jpg")
    os.symlink(im / "loop1.jpg", im / "loop2.jpg")
    os.symlink(im / "loop2.jpg", im / "loop1.jpg")
    coco = write_coco(tmp_path / "c.json", [img(1, "alias.jpg", 90, 70), img(2, "loop1.jpg")],
                      [ann(1, 1, [0, 0, 9, 9]), ann(2, 2, [0, 0, 9, 9])])
    with pytest.raises(ImageError, match=r"image id 2 \(loop1.jpg\): symlink loop"):
        items_of(read_coco(coco, im))
    coco = write_coco(tmp_path / "d.json", [img(1, "alias.jpg", 90, 70)], [ann(1, 1, [0, 0, 9, 9])])
    [item] = items_of(read_coco(coco, im))
    assert item.path == "alias.jpg" and item.width == 90


# --------------------------------------------------------------------------------- round-trip property


@st.composite
def coco_docs(draw: st.DrawFn) -> dict[str, Any]:
    ncat = draw(st.integers(1, 4))
    cat_ids = draw(st.lists(st.integers(0, 500), min_size=ncat, max_size=ncat, unique=True))
    names = draw(st.lists(st.text("abcdefghij xyz-_", min_size=1, max_size=12).map(str.strip).filter(bool),
                          min_size=ncat, max_size=ncat, unique=True))
    cats = [{"id": i, "name": n} for i, n in zip(cat_ids, names)]
    nimg = draw(st.integers(1, 4))
    images = [{"id": k * 10 + 3, "file_name": f"d{k}/img {k}.jpg", "width": draw(st.integers(64, 3000)),
               "height": draw(st.integers(64, 3000))} for k in range(nimg)]
    anns = []
    # Arbitrary floats, whole numbers and halves (the rounding edge).
    coord = st.one_of(st.floats(min_value=-200, max_value=3200, allow_nan=False, allow_infinity=False),
                      st.integers(-200, 3200), st.integers(-400, 6400).map(lambda v: v / 2))
    size = st.one_of(st.floats(min_value=0, max_value=3000, allow_nan=False, allow_infinity=False),
                     st.integers(0, 3000), st.integers(0, 6000).map(lambda v: v / 2))
    for n in range(draw(st.integers(0, 12))):
        im = draw(st.sampled_from(images))
        anns.append({"id": n, "image_id": im["id"], "category_id": draw(st.sampled_from(cat_ids)),
                     "bbox": [draw(coord), draw(coord), draw(size), draw(size)],
                     "iscrowd": draw(st.sampled_from([0, 0, 0, 1]))})
    return {"images": images, "annotations": anns, "categories": cats}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=coco_docs(), crowd=st.sampled_from(["skip", "keep"]))
def test_round_trip_keeps_boxes_within_a_pixel_and_labels_exactly(tmp_path: Path, doc: dict[str, Any],
                                                                   crowd: str) -> None:
    src = tmp_path / "c.json"
    src.write_text(json.dumps(doc))
    ds = read_coco(src, trust_sizes=True, crowd=crowd)
    out = tmp_path / "o.manifest"
    summary = write_manifest(ds, out, s3_prefix="s3://bucket/pre/", creation_date_value=DATE)
    back = {i.source_ref[len("s3://bucket/pre/"):]: i for i in read_manifest(out).items if i.source_ref}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    sizes = {i["id"]: (i["width"], i["height"]) for i in doc["images"]}
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    expected: dict[str, list[tuple[str, int, float, float, float, float]]] = {}
    dropped = rounded = 0
    exact: dict[str, list[tuple[int, int, int, int]]] = {}
    for a in doc["annotations"]:
        if a["iscrowd"] and crowd == "skip":
            continue
        w, h = sizes[a["image_id"]]
        x, y, bw, bh = a["bbox"]
        (l, t, cw, ch), was_rounded, _ = normalize_box(x, y, bw, bh, w, h)
        if cw <= 0 or ch <= 0 or box_too_small(cw, ch, w, h):
            dropped += 1
            continue
        rounded += was_rounded
        exact.setdefault(files[a["image_id"]], []).append((l, t, cw, ch))
        # The clipped input box, in floats.
        cx0, cy0 = min(max(x, 0), w), min(max(y, 0), h)
        cx1, cy1 = min(max(x + bw, 0), w), min(max(y + bh, 0), h)
        expected.setdefault(files[a["image_id"]], []).append(
            (names[a["category_id"]], a["category_id"], cx0, cy0, cx1, cy1))
    assert sorted(back) == sorted(expected)
    for path, exp in expected.items():
        item = back[path]
        assert item.source_ref == "s3://bucket/pre/" + path
        assert (item.width, item.height) == sizes[int(path.split()[-1].split(".")[0]) * 10 + 3]
        assert len(item.boxes) == len(exp)
        for b, (label, cid, x0, y0, x1, y1) in zip(item.boxes, exp):
            assert b.label == label and b.class_id == cid
            assert abs(b.left - x0) <= 1 and abs(b.top - y0) <= 1
            assert abs(b.left + b.width - x1) <= 1 and abs(b.top + b.height - y1) <= 1
        # The reader's inlined rounding is model.normalize_box's, box for box.
        assert [(b.left, b.top, b.width, b.height) for b in item.boxes] == exact[path]
    assert note_count(ds, "MK_BOX_TOO_SMALL") == dropped
    assert note_count(ds, "MK_NON_INTEGER_COORDINATES") == rounded
    assert summary.boxes == sum(len(v) for v in expected.values())
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        cmap = obj["bounding-box-metadata"]["class-map"]
        assert all(str(a["class_id"]) in cmap for a in obj["bounding-box"]["annotations"])
        assert all(cmap[str(a["class_id"])] == names[a["class_id"]]
                   for a in obj["bounding-box"]["annotations"])


# ---------------------------------------------------------------------------------- conformance fixtures

DATUMARO = os.path.join(CONFORMANCE, "datumaro", "tests", "assets")
MMDET = os.path.join(CONFORMANCE, "mmdetection", "tests", "data")
SAHI = os.path.join(CONFORMANCE, "sahi", "tests", "data", "coco_utils")
PANLABEL = os.path.join(CONFORMANCE, "panlabel", "tests", "fixtures")
DOC_EXAMPLE = os.path.join(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide", "derived",
                           "doc-coco-example-repaired.json")
ORACLE = os.path.join(CONFORMANCE, "oracle-outputs", "aws-coco-transform-example")


def test_datumaro_instances_train_with_category_id_gap_and_real_image() -> None:
    root = os.path.join(DATUMARO, "coco_dataset", "coco_instances")
    ds = read_coco(os.path.join(root, "annotations", "instances_train.json"), os.path.join(root, "images", "train"),
                   keep_empty=True)
    assert ds.classes == {"a": 1, "b": 2, "c": 4}  # the id gap (no 3) is kept
    [item] = items_of(ds)
    # The real a.jpg is 10x5, as declared: no mismatch. Its 3x1 box is too small for Rekognition.
    assert (item.path, item.width, item.height, item.format) == ("a.jpg", 10, 5, "JPEG")
    assert "MK_IMAGE_SIZE_MISMATCH" not in ds.summary.notes
    assert item.boxes == ()
    assert ds.summary.notes["MK_BOX_TOO_SMALL"].examples == ["annotation id 1 (image id 5)"]
    assert note_count(ds, "MK_UNUSED_CATEGORY") == 2
    # Without --keep-empty the image, left with no box, is not written.
    default = read_coco(os.path.join(root, "annotations", "instances_train.json"),
                        os.path.join(root, "images", "train"))
    assert items_of(default) == [] and note_count(default, "MK_EMPTY_IMAGE") == 1


def test_datumaro_instances_val_rle_crowd_is_skipped() -> None:
    root = os.path.join(DATUMARO, "coco_dataset", "coco_instances")
    ann_path = os.path.join(root, "annotations", "instances_val.json")
    ds = read_coco(ann_path, os.path.join(root, "images", "val"), keep_empty=True)
    [item] = items_of(ds)
    assert (item.width, item.height) == (5, 10)
    assert ds.summary.notes["MK_CROWD_SKIPPED"].examples == ["annotation id 2 (image id 40)"]
    # The remaining 1x2 box is 1 px wide: too small for Rekognition, dropped and counted.
    assert item.boxes == () and note_count(ds, "MK_BOX_TOO_SMALL") == 1
    kept = read_coco(ann_path, os.path.join(root, "images", "val"), crowd="keep", keep_empty=True)
    assert note_count(kept, "MK_CROWD_SKIPPED") == 0
    items_of(kept)
    assert note_count(kept, "MK_BOX_TOO_SMALL") == 2  # the crowd box is 1 px wide too


def test_roboflow_annotation_id_zero_and_images_next_to_the_json() -> None:
    path = os.path.join(DATUMARO, "roboflow_dataset", "coco", "train", "_annotations.coco.json")
    ds = read_coco(path, keep_empty=True)
    items = items_of(ds)
    assert [i.path for i in items] == ["train_001.jpg", "train_002.jpg"]
    assert [(i.width, i.height) for i in items] == [(10, 5), (10, 5)]
    assert ds.classes == {"label_0": 1, "label_1": 2}
    # Box [0,0,2,4] of annotation 1 survives; annotation id 0's 3x1 box is too small.
    assert [(b.label, b.left, b.top, b.width, b.height) for b in items[1].boxes] == [("label_1", 0, 0, 2, 4)]
    assert ds.summary.notes["MK_BOX_TOO_SMALL"].examples == ["annotation id 0 (image id 1)"]


def test_roboflow_val_crowd_counted() -> None:
    path = os.path.join(DATUMARO, "roboflow_dataset", "coco", "val", "_annotations.coco.json")
    ds = read_coco(path, keep_empty=True)
    items_of(ds)
    assert note_count(ds, "MK_CROWD_SKIPPED") == 1


def test_coco_labels_file_without_geometry_is_refused() -> None:
    path = os.path.join(DATUMARO, "coco_dataset", "coco_labels", "annotations", "labels_train.json")
    with pytest.raises(SourceError, match=r"annotation id 1 .*neither a 'bbox' nor .*image-level labels"):
        read_coco(path, trust_sizes=True)


def test_coco_image_info_file_gives_no_items() -> None:
    root = os.path.join(DATUMARO, "coco_dataset", "coco_image_info")
    ds = read_coco(os.path.join(root, "annotations", "image_info_train.json"), os.path.join(root, "images", "train"))
    assert items_of(ds) == []
    assert note_count(ds, "MK_NO_ANNOTATIONS") == 1 and note_count(ds, "MK_EMPTY_IMAGE") == 1


@pytest.mark.parametrize("name", ["captions_train.json", "captions_val.json"])
def test_coco_captions_file_is_refused(name: str) -> None:
    path = os.path.join(DATUMARO, "coco_dataset", "coco_captions", "annotations", name)
    with pytest.raises(SourceError, match="captions file"):
        read_coco(path, trust_sizes=True)


def test_coco_keypoints_file_keeps_boxes_and_says_keypoints_are_ignored() -> None:
    root = os.path.join(DATUMARO, "coco_dataset", "coco_person_keypoints")
    ds = read_coco(os.path.join(root, "annotations", "person_keypoints_val.json"), trust_sizes=True,
                   crowd="keep", keep_empty=True)
    items_of(ds)
    assert note_count(ds, "MK_KEYPOINTS_IGNORED") == 1
    assert "out of scope" in ds.summary.notes["MK_KEYPOINTS_IGNORED"].message


def test_mmdetection_coco_dummy_real_val2017() -> None:
    path = os.path.join(MMDET, "coco_dummy", "annotations", "instances_val2017.json")
    ds = read_coco(path, trust_sizes=True)
    items = items_of(ds)
    assert [i.path for i in items] == ["000000255917.jpg", "000000000139.jpg"]
    assert [i.source_id for i in items] == ["255917", "139"]
    assert len(ds.classes) == 80 and ds.classes["person"] == 1 and ds.classes["toothbrush"] == 90
    assert sum(len(i.boxes) for i in items) == 36  # 37 annotations, the iscrowd RLE skipped
    assert ds.summary.notes["MK_CROWD_SKIPPED"].examples == ["annotation id 900300255917 (image id 255917)"]
    assert note_count(ds, "MK_NON_INTEGER_COORDINATES") == 36
    assert all(isinstance(v, int) for i in items for b in i.boxes for v in (b.left, b.top, b.width, b.height))


def test_mmdetection_coco_sample_image_id_zero_and_empty_image() -> None:
    ds = read_coco(os.path.join(MMDET, "coco_sample.json"), trust_sizes=True)
    items = items_of(ds)
    assert [(i.source_id, i.path) for i in items] == [("0", "fake1.jpg"), ("1", "fake2.jpg")]
    assert [[(b.label, b.class_id) for b in i.boxes] for i in items] == [[("bus", 1), ("car", 2)], [("bus", 1)]]
    assert ds.summary.notes["MK_EMPTY_IMAGE"].examples == ["image id 2 (fake3.jpg)"]
    # The annotation-level 'score' is not a confidence of a human label: boxes keep confidence 1.
    assert all(b.confidence == 1.0 for i in items for b in i.boxes)


def test_mmdetection_wrong_format_duplicate_annotation_id() -> None:
    with pytest.raises(SourceError, match=r"annotation id 1 \(annotations\[1\]\): duplicate annotation id"):
        read_coco(os.path.join(MMDET, "coco_wrong_format_sample.json"), trust_sizes=True)


@pytest.mark.parametrize("name", ["terrain1_coco.json", "terrain2_coco.json", "terrain3_coco.json",
                                  "terrain_all_coco.json", "combined_coco.json", "modified_terrain1_coco.json",
                                  "modified_terrain2_coco.json"])
def test_sahi_wrong_area_ignored_and_unused_categories(name: str) -> None:
    path = os.path.join(SAHI, name)
    doc = load_json(path)
    ds = read_coco(path, trust_sizes=True)
    items = items_of(ds)
    by_file = {i["id"]: i["file_name"] for i in doc["images"]}
    got = {(i.path, b.class_id, b.left, b.top, b.width, b.height) for i in items for b in i.boxes}
    # The boxes are exactly COCO's bboxes (integral floats): the wrong 'area' changes nothing.
    want = {(by_file[a["image_id"]], a["category_id"], *map(int, a["bbox"])) for a in doc["annotations"]}
    assert got == want
    assert "MK_NON_INTEGER_COORDINATES" not in ds.summary.notes
    used = {a["category_id"] for a in doc["annotations"]}
    unused = [c for c in doc["categories"] if c["id"] not in used]
    assert note_count(ds, "MK_UNUSED_CATEGORY") == len(unused)
    if name.startswith("modified_terrain1"):
        assert used == {1} and note_count(ds, "MK_UNUSED_CATEGORY") == 2


def test_panlabel_valid() -> None:
    ds = read_coco(os.path.join(PANLABEL, "sample_valid.coco.json"), trust_sizes=True)
    items = items_of(ds)
    assert [(i.path, i.width, i.height) for i in items] == [("image001.jpg", 640, 480), ("image002.jpg", 800, 600)]
    assert [[(b.label, b.left, b.top, b.width, b.height) for b in i.boxes] for i in items] == [
        [("person", 10, 20, 90, 60), ("dog", 200, 100, 150, 200)], [("person", 50, 50, 100, 150)]]


def test_panlabel_invalid_reports_the_first_problem() -> None:
    with pytest.raises(SourceError, match=r"image id 1 \(images\[1\]\): duplicate image id"):
        read_coco(os.path.join(PANLABEL, "sample_invalid.coco.json"), trust_sizes=True)


def test_panlabel_invalid_dangling_references(tmp_path: Path) -> None:
    doc = load_json(os.path.join(PANLABEL, "sample_invalid.coco.json"))
    doc["images"][1]["id"] = 2  # remove the duplicate: the dangling image reference comes next
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(SourceError, match=r"annotation id 2 \(annotations\[1\]\): points at image id 999"):
        read_coco(p, trust_sizes=True)
    doc["annotations"][1]["image_id"] = 1
    p.write_text(json.dumps(doc))
    with pytest.raises(SourceError, match=r"annotation id 3 \(annotations\[2\]\): points at category id 999"):
        read_coco(p, trust_sizes=True)


def test_cocoapi_results_file_is_refused() -> None:
    path = os.path.join(CONFORMANCE, "cocoapi", "results", "instances_val2014_fakebbox100_results.json")
    with pytest.raises(SourceError, match="results file"):
        read_coco(path, trust_sizes=True)


def test_aws_doc_coco_example() -> None:
    ds = read_coco(DOC_EXAMPLE, trust_sizes=True)
    items = items_of(ds)
    assert ds.classes == {"echo": 0, "echo dot": 1}  # category ids start at 0
    assert [(i.path, i.width, i.height) for i in items] == [("xxxxxxxxx.jpg", 426, 640), ("nnnnnnnnnn.jpg", 640, 480)]


# ------------------------------------------------------------------------------ differential: AWS oracle


def oracle_lines(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(ORACLE, name), encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def our_lines(tmp_path: Path, source: str) -> list[dict[str, Any]]:
    out = tmp_path / "ours.manifest"
    write_manifest(read_coco(source, trust_sizes=True), out, s3_prefix="s3://custom-labels-bucket/images/",
                   creation_date_value=DATE)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def compare_with_oracle(ours: list[dict[str, Any]], theirs: list[dict[str, Any]],
                        crowd_ids: set[tuple[str, int]]) -> None:
    """Same images in the same order, same source-ref, size, labels and class ids; boxes within a pixel.

    Deliberate differences (decisions.md): we round to whole pixels (AWS keeps floats), clip to the image
    (AWS does not), skip iscrowd boxes (AWS keeps them: ``crowd_ids`` lists them as (source-ref, index in
    AWS's line)), and leave out images without boxes (AWS writes an empty line).
    """
    theirs = [t for t in theirs if t["bounding-box"]["annotations"]]  # difference: empty images left out
    assert [o["source-ref"] for o in ours] == [t["source-ref"] for t in theirs]
    for o, t in zip(ours, theirs):
        assert o["bounding-box"]["image_size"] == t["bounding-box"]["image_size"]
        t_anns = [a for k, a in enumerate(t["bounding-box"]["annotations"]) if (t["source-ref"], k) not in crowd_ids]
        o_anns = o["bounding-box"]["annotations"]
        assert len(o_anns) == len(t_anns)
        size = t["bounding-box"]["image_size"][0]
        for a, b in zip(o_anns, t_anns):
            assert a["class_id"] == b["class_id"]
            assert all(isinstance(a[k], int) for k in ("left", "top", "width", "height"))  # difference: rounded
            right, bottom = min(b["left"] + b["width"], size["width"]), min(b["top"] + b["height"], size["height"])
            assert abs(a["left"] - b["left"]) <= 0.5 and abs(a["top"] - b["top"]) <= 0.5
            assert abs(a["left"] + a["width"] - right) <= 0.5  # difference: clipped
            assert abs(a["top"] + a["height"] - bottom) <= 0.5
        t_map = t["bounding-box-metadata"]["class-map"]
        used = {str(a["class_id"]) for a in o_anns}
        # Same names per id; both class-maps are per line. Ours lists only the ids left after skipping crowd.
        assert o["bounding-box-metadata"]["class-map"] == {k: t_map[k] for k in sorted(used, key=int)}
        assert o["bounding-box-metadata"]["objects"] == [{"confidence": 1}] * len(o_anns)
        assert o["bounding-box-metadata"]["type"] == t["bounding-box-metadata"]["type"]
        assert o["bounding-box-metadata"]["human-annotated"] == "yes"


def test_same_boxes_and_labels_as_aws_converter_on_the_doc_example(tmp_path: Path) -> None:
    ours = our_lines(tmp_path, DOC_EXAMPLE)
    theirs = oracle_lines("awsdoc_coco_example.manifest")
    compare_with_oracle(ours, theirs, crowd_ids=set())
    # Difference: AWS writes 19.23/383.18/314.5/244.46; we write whole pixels, edges rounded.
    assert ours[0]["bounding-box"]["annotations"] == [
        {"class_id": 0, "left": 19, "top": 383, "width": 315, "height": 245}]
    # Difference: AWS's creation-date is the COCO date_captured; ours is the run's (here fixed) date.
    assert ours[0]["bounding-box-metadata"]["creation-date"] == "2024-05-01T12:00:00.000000"


def test_same_boxes_and_labels_as_aws_converter_on_real_val2017(tmp_path: Path) -> None:
    source = os.path.join(MMDET, "coco_dummy", "annotations", "instances_val2017.json")
    ours = our_lines(tmp_path, source)
    theirs = oracle_lines("mmdetection_coco_dummy_instances_val2017.manifest")
    # Difference: the iscrowd=1 annotation 900300255917 (the last box AWS wrote for 000000255917) is skipped.
    doc = load_json(source)
    crowd = [a for a in doc["annotations"] if a["iscrowd"]]
    assert [a["id"] for a in crowd] == [900300255917]
    ref = "s3://custom-labels-bucket/images/000000255917.jpg"
    their_line = next(t for t in theirs if t["source-ref"] == ref)
    k = next(i for i, a in enumerate(their_line["bounding-box"]["annotations"])
             if [a["left"], a["top"], a["width"], a["height"]] == crowd[0]["bbox"])
    compare_with_oracle(ours, theirs, crowd_ids={(ref, k)})


def test_fast_box_construction_builds_equal_frozen_boxes() -> None:
    import dataclasses

    from manifestkit.model import Box

    fast = coco_mod._make_box("bolt", 1, 2, 3, 4, 9)
    slow = Box("bolt", 1, 2, 3, 4, 9)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.left = 5  # type: ignore[misc]


def test_rounding_is_counted_over_all_images_with_the_first_few_named(tmp_path: Path) -> None:
    images = [img(i, f"{i}.jpg") for i in range(1, 9)]
    anns = [ann(i, i, [1.5, 2, 30, 30]) for i in range(1, 9)] + [ann(20, 8, [1.25, 2, 30, 30])]
    coco = write_coco(tmp_path / "c.json", images, anns)
    ds = read_coco(coco, trust_sizes=True)
    assert len(items_of(ds)) == 8
    note = ds.summary.notes["MK_NON_INTEGER_COORDINATES"]
    assert note.count == 9
    assert note.examples == [f"image id {i}" for i in range(1, 6)]


@pytest.mark.parametrize("image_ids, ref, crowd", [
    ([1, 5], 3, 0),            # inside the id table, no image there
    ([1, 5], 10**6, 0),        # past the end of the id table
    ([1, 5], -1, 0),           # negative: must not wrap around to the last image
    ([-4, 7], 3, 0),           # negative image ids: hashed lookup
    ([2**40, 7], 8, 0),        # huge ids: hashed lookup
    ([1, 5], 3, 1),            # a skipped crowd annotation is checked too
])
def test_dangling_image_references_are_found_whatever_the_ids(tmp_path: Path, image_ids: list[int], ref: int,
                                                             crowd: int) -> None:
    images = [img(i, f"{k}.jpg") for k, i in enumerate(image_ids)]
    anns = [ann(1, image_ids[0], [0, 0, 9, 9]), ann(2, ref, [0, 0, 9, 9], iscrowd=crowd),
            ann(3, image_ids[1], [0, 0, 9, 9])]
    coco = write_coco(tmp_path / "c.json", images, anns)
    with pytest.raises(SourceError, match=rf"annotation id 2 \(annotations\[1\]\): points at image id {ref},"):
        read_coco(coco, trust_sizes=True)


@pytest.mark.parametrize("image_ids", [[0, 3], [-4, 7], [2**40, 7]])
def test_any_integer_image_ids_group_correctly(tmp_path: Path, image_ids: list[int]) -> None:
    images = [img(i, f"{k}.jpg") for k, i in enumerate(image_ids)]
    anns = [ann(1, image_ids[1], [0, 0, 9, 9], 7), ann(2, image_ids[0], [1, 1, 9, 9]),
            ann(3, image_ids[1], [2, 2, 9, 9])]
    ds = read_coco(write_coco(tmp_path / "c.json", images, anns), trust_sizes=True)
    assert [(i.source_id, [(b.class_id, b.left) for b in i.boxes]) for i in ds.items] == [
        (str(image_ids[0]), [(1, 1)]), (str(image_ids[1]), [(7, 0), (1, 2)])]


def test_skipped_crowd_annotation_with_unknown_category_is_an_error(tmp_path: Path) -> None:
    anns = [ann(1, 1, [0, 0, 9, 9]), ann(2, 1, [0, 0, 9, 9], cat=99, iscrowd=1)]
    coco = write_coco(tmp_path / "c.json", [img(1, "a.jpg")], anns)
    with pytest.raises(SourceError, match=r"annotation id 2 \(annotations\[1\]\): points at category id 99"):
        read_coco(coco, trust_sizes=True)


def test_fast_item_construction_builds_equal_frozen_items() -> None:
    import dataclasses

    from manifestkit.model import Box

    boxes = (Box("bolt", 1, 2, 3, 4, 9),)
    fast = coco_mod._make_item("a/b.jpg", 640, 480, "JPEG", (), boxes, 3, 6, None, None, "17")
    slow = ImageItem(path="a/b.jpg", width=640, height=480, format="JPEG", boxes=boxes, depth=3, orientation=6,
                     source_id="17")
    assert fast == slow and repr(fast) == repr(slow) and fast.all_labels == ("bolt",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.width = 5  # type: ignore[misc]
