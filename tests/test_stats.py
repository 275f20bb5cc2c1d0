"""manifestkit stats: counts, histograms and flags of a manifest (and a test manifest), streaming."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import manifestkit
from manifestkit.cli import app
from manifestkit.errors import ManifestError
from manifestkit.manifest import write_manifest
from manifestkit.model import Box, Dataset, ImageItem, Task, box_too_small
from manifestkit.datastats import (
    AREA_BUCKETS,
    ASPECT_BUCKETS,
    BOXES_PER_IMAGE_BUCKETS,
    IMAGE_SIZE_BUCKETS,
    IMBALANCE_RATIO,
    MIN_IMAGES_PER_LABEL,
    manifest_stats,
    stats,
)

PREFIX = "s3://bucket/data/"


def detection_manifest(path: Path, items: list[ImageItem]) -> str:
    """Write a detection manifest of ``items`` (boxes carry their labels)."""
    classes: dict[str, int] = {}
    for it in items:
        for b in it.boxes:
            classes.setdefault(b.label, len(classes))
    ds = Dataset(Task.DETECTION, items, classes)
    return write_manifest(ds, path, s3_prefix=PREFIX, creation_date_value="2024-01-01T00:00:00").output or ""


def classification_manifest(path: Path, labels_per_image: list[tuple[str, ...]]) -> str:
    """Write an image-level manifest with one line per entry of ``labels_per_image``."""
    classes = {lab: i for i, lab in enumerate(sorted({x for labs in labels_per_image for x in labs}))}
    items = [ImageItem(path=f"img_{i}.jpg", labels=labs) for i, labs in enumerate(labels_per_image)]
    ds = Dataset(Task.CLASSIFICATION, items, classes)
    return write_manifest(ds, path, s3_prefix=PREFIX, creation_date_value="2024-01-01T00:00:00").output or ""


def box(label: str, left: int, top: int, width: int, height: int) -> Box:
    return Box(label, left, top, width, height)


def test_detection_counts_and_histograms(tmp_path: Path) -> None:
    items = [
        ImageItem("a.jpg", 100, 100, boxes=(box("cat", 0, 0, 50, 50), box("dog", 10, 10, 20, 40))),
        ImageItem("b.jpg", 200, 100, boxes=(box("cat", 0, 0, 200, 100),)),
        ImageItem("c.jpg", 1000, 800, boxes=(box("cat", 5, 5, 3, 3),) * 3),  # 9 px of 800,000: tiny
    ]
    m = detection_manifest(tmp_path / "d.manifest", items)
    s = manifest_stats(m)
    assert s.task == "detection"
    assert (s.images, s.boxes, len(s.labels)) == (3, 6, 2)
    assert s.labels["cat"].images == 3 and s.labels["cat"].boxes == 5
    assert s.labels["dog"].images == 1 and s.labels["dog"].boxes == 1
    assert s.boxes_per_image["1"] == 1 and s.boxes_per_image["2"] == 1 and s.boxes_per_image["3-5"] == 1
    assert s.max_boxes_on_image == 3
    # areas: 25 %, 8 %, 100 %, and three boxes of 9 / 800,000
    assert s.box_area["large 10-50%"] == 1
    assert s.box_area["medium 1-10%"] == 1
    assert s.box_area["huge >=50%"] == 1
    assert s.box_area["tiny <0.1%"] == 3
    # aspects: 1, 0.5, 2, 1, 1, 1
    assert s.box_aspect["1:1-2:1"] == 4 and s.box_aspect["1:2-1:1"] == 1 and s.box_aspect["2:1-4:1"] == 1
    assert s.image_sizes["64-511"] == 2 and s.image_sizes["512-1023"] == 1
    assert s.width_range == (100, 1000) and s.height_range == (100, 800)
    assert s.too_small_boxes == 0  # 3 px boxes survive the 1280 px rule


def test_too_small_boxes_are_counted_and_flagged(tmp_path: Path) -> None:
    # In a 4000 px image, a 3 px box is 0.96 px after Rekognition's downscale to 1280 px.
    assert box_too_small(3, 3, 4000, 3000)
    items = [ImageItem(f"{i}.jpg", 4000, 3000, boxes=(box("x", 10, 10, 3, 3), box("x", 0, 0, 400, 400)))
             for i in range(12)]
    s = stats(detection_manifest(tmp_path / "t.manifest", items))
    assert s.train.too_small_boxes == 12
    assert s.train.labels["x"].too_small == 12
    codes = {f.code: f for f in s.flags}
    assert codes["MK_TINY_BOXES"].severity == "error"
    assert "12" in codes["MK_TINY_BOXES"].message
    # half the boxes are under 1 % of the image
    assert "MK_SMALL_BOXES" in codes


def test_few_images_and_imbalance_flags(tmp_path: Path) -> None:
    big = int(IMBALANCE_RATIO) * 2 + 1
    rows = [("big",)] * big + [("small",)] * 2 + [("ok",)] * MIN_IMAGES_PER_LABEL
    s = stats(classification_manifest(tmp_path / "c.manifest", rows))
    few = [f for f in s.flags if f.code == "MK_FEW_IMAGES"]
    assert [f.label for f in few] == ["small"]
    imbalance = [f for f in s.flags if f.code == "MK_LABEL_IMBALANCE"]
    assert len(imbalance) == 1 and "'big'" in imbalance[0].message and "'small'" in imbalance[0].message


def test_balanced_dataset_raises_no_flag(tmp_path: Path) -> None:
    rows = [("a",)] * MIN_IMAGES_PER_LABEL + [("b",)] * (MIN_IMAGES_PER_LABEL * int(IMBALANCE_RATIO))
    s = stats(classification_manifest(tmp_path / "c.manifest", rows))
    assert s.flags == []
    assert s.train.task == "classification"
    assert s.train.image_sizes["unknown"] == len(rows)


def test_train_and_test_side_by_side(tmp_path: Path) -> None:
    train = classification_manifest(tmp_path / "train.manifest", [("a",)] * 12 + [("b",)] * 12)
    test = classification_manifest(tmp_path / "test.manifest", [("a",)] * 3 + [("c",)] * 2)
    s = manifestkit.stats(train, test=test)
    assert s.test is not None and s.test.images == 5
    assert s.labels == ["a", "b", "c"]
    by_code = {(f.code, f.label) for f in s.flags}
    assert ("MK_LABEL_ONLY_IN_TEST", "c") in by_code
    assert ("MK_LABEL_NOT_IN_TEST", "b") in by_code
    # few-images guidance is about training data, so the small test labels are not flagged
    assert not any(f.code == "MK_FEW_IMAGES" for f in s.flags)
    d = s.to_dict()
    assert d["test"]["per_label"]["c"]["images"] == 2 and d["train"]["labels"] == 2


def test_invalid_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    m = classification_manifest(tmp_path / "c.manifest", [("a",)] * 3)
    with open(m, "a", encoding="utf-8") as fp:
        fp.write("{not json\n\n[1, 2]\n")
    s = manifest_stats(m)
    assert s.images == 3 and s.invalid_lines == 2


def test_missing_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        stats(tmp_path / "nope.manifest")


box_st = st.builds(lambda lab, l, t, w, h: (lab, l, t, w, h), st.sampled_from(["a", "b", "c<&>"]),
                   st.integers(0, 50), st.integers(0, 50), st.integers(1, 60), st.integers(1, 60))
image_st = st.tuples(st.integers(64, 5000), st.integers(64, 5000), st.lists(box_st, max_size=8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(image_st, min_size=1, max_size=25))
def test_histograms_add_up(tmp_path_factory: pytest.TempPathFactory,
                           images: list[tuple[int, int, list[tuple[str, int, int, int, int]]]]) -> None:
    items = [ImageItem(f"{i}.jpg", w, h, boxes=tuple(Box(*b) for b in bs)) for i, (w, h, bs) in enumerate(images)]
    m = detection_manifest(tmp_path_factory.mktemp("h") / "h.manifest", items)
    s = manifest_stats(m)
    n_boxes = sum(len(bs) for _, _, bs in images)
    assert s.images == len(images)
    assert sum(s.boxes_per_image.values()) == len(images)
    assert s.boxes == n_boxes == sum(ls.boxes for ls in s.labels.values())
    assert sum(s.box_area.values()) == n_boxes == sum(s.box_aspect.values())
    assert list(s.box_area) == [name for name, _, _ in AREA_BUCKETS]
    for lab, ls in s.labels.items():
        assert ls.images == sum(1 for _, _, bs in images if any(b[0] == lab for b in bs))
        assert ls.too_small == sum(1 for w, h, bs in images for b in bs
                                   if b[0] == lab and box_too_small(b[3], b[4], w, h))
    assert s.unlabelled_images == sum(1 for _, _, bs in images if not bs)
    # every image and every box lands in the bucket whose bounds hold it (checked naively here)
    sizes = {name: 0 for name, _, _ in IMAGE_SIZE_BUCKETS}
    per_image = {name: 0 for name, _, _ in BOXES_PER_IMAGE_BUCKETS}
    aspects = {name: 0 for name, _, _ in ASPECT_BUCKETS}
    for w, h, bs in images:
        sizes[next(n for n, lo, hi in IMAGE_SIZE_BUCKETS if lo <= max(w, h) <= hi)] += 1
        per_image[next(n for n, lo, hi in BOXES_PER_IMAGE_BUCKETS if lo <= len(bs) <= hi)] += 1
        for b in bs:
            aspects[next(n for n, lo, hi in ASPECT_BUCKETS if lo <= b[3] / b[4] < hi)] += 1
    assert {k: v for k, v in s.image_sizes.items() if k != "unknown"} == sizes
    assert s.boxes_per_image == per_image and s.box_aspect == aspects
    assert s.max_boxes_on_image == max(len(bs) for _, _, bs in images)
    assert s.width_range == (min(w for w, _, _ in images), max(w for w, _, _ in images))


def _peak_bytes(path: str) -> int:
    tracemalloc.start()
    try:
        manifest_stats(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_lines(tmp_path: Path) -> None:
    # Same labels, 10x the lines: the peak must stay flat (streaming), not grow 10x.
    line = {"source-ref": "", "label": 0, "label-metadata": {"class-name": "", "confidence": 1,
            "type": "groundtruth/image-classification", "human-annotated": "yes",
            "creation-date": "2024-01-01T00:00:00.000000", "job-name": "x"}}
    paths = []
    for n in (2_000, 20_000):
        p = tmp_path / f"m{n}.manifest"
        with open(p, "w", encoding="utf-8") as fp:
            for i in range(n):
                line["source-ref"] = f"s3://b/{i}.jpg"
                line["label-metadata"]["class-name"] = f"label{i % 20}"  # type: ignore[index]
                fp.write(json.dumps(line) + "\n")
        paths.append(str(p))
    small, large = (_peak_bytes(p) for p in paths)
    assert large < small * 2 + 256 * 1024, (small, large)


def test_cli_text_and_json(tmp_path: Path) -> None:
    train = classification_manifest(tmp_path / "train.manifest", [("cat",)] * 12 + [("dog & <co>",)] * 3)
    test = classification_manifest(tmp_path / "test.manifest", [("cat",)] * 2)
    runner = CliRunner()
    r = runner.invoke(app, ["stats", train, "--test", test])
    assert r.exit_code == 0, r.output
    assert "dog & <co>" in r.stdout and "train images" in r.stdout and "test images" in r.stdout
    assert "MK_FEW_IMAGES" in r.stdout
    r = runner.invoke(app, ["stats", train, "--test", test, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc == stats(train, test=test).to_dict()
    assert doc["train"]["per_label"]["dog & <co>"]["images"] == 3


def test_cli_detection_table_shows_histograms(tmp_path: Path) -> None:
    items = [ImageItem(f"{i}.jpg", 640, 480, boxes=(box("cat", 0, 0, 64, 48),)) for i in range(3)]
    m = detection_manifest(tmp_path / "d.manifest", items)
    r = CliRunner().invoke(app, ["stats", m])
    assert r.exit_code == 0, r.output
    for heading in ("boxes per image", "box area / image area", "box aspect w:h", "image size"):
        assert heading in r.stdout
    row = next(x for x in r.stdout.splitlines() if x.startswith("medium 1-10%"))
    assert row.split()[-1] == "3"


def test_cli_missing_manifest_exits_1(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["stats", os.fspath(tmp_path / "none.manifest")])
    assert r.exit_code == 1
    assert "error:" in r.stderr and "not found" in r.stderr
