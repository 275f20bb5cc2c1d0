"""Pascal VOC reader: the datumaro, Roboflow and mmdetection fixtures in place, policies, safety, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CONFORMANCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging import write_image
from typer.testing import CliRunner

from manifestkit.cli import app
from manifestkit.errors import SourceError
from manifestkit.model import normalize_box
from manifestkit.ops import write_dataset
from manifestkit.sources.voc import parse_voc_xml, read_voc

ASSETS = os.path.join(CONFORMANCE, "datumaro", "tests", "assets")
VOC1 = os.path.join(ASSETS, "voc_dataset", "voc_dataset1")
VOC2 = os.path.join(ASSETS, "voc_dataset", "voc_dataset2")
VOC3 = os.path.join(ASSETS, "voc_dataset", "voc_dataset3")
ROBOFLOW = os.path.join(ASSETS, "roboflow_dataset", "voc")
MMDET_MISMATCH = os.path.join(CONFORMANCE, "mmdetection", "tests", "data", "VOCdevkit", "VOC2012", "Annotations",
                              "000001.xml")
MMDET_CUSTOM = os.path.join(CONFORMANCE, "mmdetection", "tests", "data", "custom_dataset", "images", "000001.xml")
DATE = "2024-05-01T12:00:00"


def _boxes(item: object) -> list[tuple[str, float, float, float, float]]:
    return [(b.label, b.left, b.top, b.width, b.height) for b in item.boxes]  # type: ignore[attr-defined]


def test_devkit_layout_with_parts_and_an_unannotated_image() -> None:
    ds = read_voc(VOC1)
    items = list(ds)
    # JPEGImages/2007_000002.jpg has no XML: it is not an annotated image and is not listed.
    assert [it.path for it in items] == ["2007_000001.jpg"]
    assert (items[0].width, items[0].height) == (20, 10)
    assert _boxes(items[0]) == [("cat", 1, 2, 2, 2), ("person", 4, 5, 2, 2)]
    assert ds.classes == {"cat": 0, "person": 1}
    assert ds.summary.notes["MK_VOC_PARTS_IGNORED"].count == 1


def test_missing_size_and_missing_images_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        list(read_voc(VOC2))
    ds = read_voc(VOC2, skip_missing=True)
    assert list(ds) == []
    assert ds.summary.notes["MK_IMAGE_NOT_FOUND"].count == 5


def test_missing_size_is_read_from_the_image_and_float_coordinates_accepted(tmp_path: Path) -> None:
    for name in "@abcd":
        write_image(tmp_path / f"{name}.jpg", 16, 12)
    ds = read_voc(VOC2, images=tmp_path)
    items = {it.path: it for it in ds}
    # @.xml has no objects: left out by default (Rekognition ignores empty detection lines).
    assert sorted(items) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert (items["a.jpg"].width, items["a.jpg"].height) == (16, 12)
    assert _boxes(items["a.jpg"]) == [("background", 1, 2, 3, 4)]
    assert _boxes(items["c.jpg"]) == [("bicycle", 3, 1, 8, 5)]
    assert ds.summary.notes["MK_SIZE_FROM_IMAGE"].count == 5
    assert ds.summary.notes["MK_NO_ANNOTATIONS"].examples == ["@.jpg"]
    assert ds.classes == {"aeroplane": 0, "background": 1, "bicycle": 2, "bird": 3}


def test_image_set_with_comment_and_blank_line() -> None:
    ds = read_voc(VOC3, image_set="train")
    assert [it.path for it in ds] == ["2007_000001.jpg"]
    with pytest.raises(SourceError, match="image set"):
        read_voc(VOC3, image_set="val")


def test_roboflow_tag_order_and_xml_beside_images() -> None:
    ds = read_voc(ROBOFLOW)
    items = list(ds)
    assert [it.path for it in items] == ["train/train_002.jpg"]
    assert _boxes(items[0]) == [("label_1", 0, 0, 2, 4)]
    # The 1-pixel-high boxes of the fixture are too small for Rekognition: dropped and counted.
    assert ds.summary.notes["ERROR_BOUNDING_BOX_TOO_SMALL"].count == 3
    assert ds.summary.notes["MK_NO_ANNOTATIONS"].count == 2


def test_filename_wins_and_the_xml_name_is_the_fallback(tmp_path: Path) -> None:
    both = tmp_path / "both"
    write_image(both / "000002.jpg", 335, 500)
    write_image(both / "000001.jpg", 100, 100)
    item = next(iter(read_voc(MMDET_MISMATCH, images=both)))
    assert item.path == "000002.jpg"
    assert _boxes(item) == [("train", 139, 200, 68, 101)]
    only_name = tmp_path / "name"
    write_image(only_name / "000001.jpg", 335, 500)
    ds = read_voc(MMDET_MISMATCH, images=only_name)
    assert [it.path for it in ds] == ["000001.jpg"]
    assert ds.summary.notes["MK_FILENAME_MISMATCH"].count == 1


def test_one_based_devkit_coordinates(tmp_path: Path) -> None:
    write_image(tmp_path / "000002.jpg", 335, 500)
    item = next(iter(read_voc(MMDET_MISMATCH, images=tmp_path, one_based=True)))
    # Devkit pixels 139..207 inclusive are 0-based edges 138..207.
    assert _boxes(item) == [("train", 138, 199, 69, 102)]


def test_trust_sizes_needs_no_image() -> None:
    ds = read_voc(MMDET_CUSTOM, trust_sizes=True)
    item = next(iter(ds))
    assert item.path == "000001.jpg" and (item.width, item.height) == (353, 500)
    assert _boxes(item) == [("dog", 48, 240, 147, 131), ("person", 8, 12, 344, 486)]


def _xml(tmp: Path, name: str, body: str) -> Path:
    p = tmp / name
    p.write_text(body, encoding="utf-8")
    return p


ONE = """<annotation><filename>{f}</filename><size><width>{w}</width><height>{h}</height></size>
<object><name>thing</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>
</object></annotation>"""


def test_size_mismatch_is_reported_and_the_image_wins(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", 100, 80)
    _xml(tmp_path, "a.xml", ONE.format(f="a.jpg", w=200, h=160, x0=10, y0=10, x1=50, y1=50))
    ds = read_voc(tmp_path)
    item = next(iter(ds))
    assert (item.width, item.height) == (100, 80)
    assert "200x160 declared, 100x80 real" in ds.summary.notes["MK_IMAGE_SIZE_MISMATCH"].examples[0]


def test_bad_box_policies(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", 100, 80)
    _xml(tmp_path, "a.xml", ONE.format(f="a.jpg", w=100, h=80, x0=50, y0=10, x1=130, y1=50))
    clipped = read_voc(tmp_path)
    assert _boxes(next(iter(clipped))) == [("thing", 50, 10, 50, 40)]
    assert clipped.summary.notes["MK_BOX_CLIPPED"].count == 1
    dropped = read_voc(tmp_path, bad_boxes="drop")
    assert list(dropped) == []
    assert dropped.summary.notes["MK_BOX_DROPPED_OFF_FRAME"].count == 1
    with pytest.raises(SourceError, match="runs off"):
        list(read_voc(tmp_path, bad_boxes="error"))
    kept = read_voc(tmp_path, bad_boxes="drop", keep_empty=True)
    assert [it.boxes for it in kept] == [()]


def test_dtd_and_entities_are_refused(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            "<annotation><filename>&lol2;</filename></annotation>")
    with pytest.raises(SourceError, match="DTD or entity"):
        parse_voc_xml(bomb.encode())
    write_image(tmp_path / "a.jpg")
    _xml(tmp_path, "a.xml", bomb)
    with pytest.raises(SourceError, match="DTD or entity"):
        list(read_voc(tmp_path))


def test_malformed_xml_fails_unless_skipped(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", 100, 80)
    write_image(tmp_path / "b.jpg", 100, 80)
    _xml(tmp_path, "a.xml", ONE.format(f="a.jpg", w=100, h=80, x0=1, y0=1, x1=50, y1=50))
    _xml(tmp_path, "b.xml", "<annotation><object>")
    with pytest.raises(SourceError, match="malformed XML"):
        list(read_voc(tmp_path))
    ds = read_voc(tmp_path, skip_invalid=True)
    assert [it.path for it in ds] == ["a.jpg"]
    assert ds.summary.notes["MK_INVALID_ANNOTATION_FILE"].count == 1
    _xml(tmp_path, "b.xml", "<labelme/>")
    with pytest.raises(SourceError, match="not a Pascal VOC"):
        list(read_voc(tmp_path))


_TAGS = ("xmin", "ymin", "xmax", "ymax")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x0=st.floats(0, 90), y0=st.floats(0, 60), w=st.floats(2, 200), h=st.floats(2, 200),
       order=st.permutations(_TAGS), top_first=st.booleans())
def test_any_tag_order_and_float_coordinates(tmp_path: Path, x0: float, y0: float, w: float, h: float,
                                             order: list[str], top_first: bool) -> None:
    values = {"xmin": x0, "ymin": y0, "xmax": x0 + w, "ymax": y0 + h}
    box = "".join(f"<{t}>{values[t]!r}</{t}>" for t in order)
    parts = [f"<object><bndbox>{box}</bndbox><name>p</name></object>",
             "<size><height>80</height><depth>3</depth><width>100</width></size>", "<filename>x.jpg</filename>"]
    if top_first:
        parts.reverse()
    xml = f"<annotation>{''.join(parts)}</annotation>"
    folder = tmp_path / "h"
    folder.mkdir(exist_ok=True)
    (folder / "x.xml").write_text(xml, encoding="utf-8")
    ds = read_voc(folder, trust_sizes=True, keep_empty=True)
    item = next(iter(ds))
    (left, top, bw, bh), _, _ = normalize_box(x0, y0, (x0 + w) - x0, (y0 + h) - y0, 100, 80)
    if item.boxes:
        assert _boxes(item) == [("p", left, top, bw, bh)]
    else:
        assert ds.summary.notes.keys() & {"ERROR_BOUNDING_BOX_TOO_SMALL", "MK_BOX_EMPTY"}


def test_write_dataset_and_cli(tmp_path: Path) -> None:
    summary = write_dataset(read_voc(VOC1), tmp_path / "lib", s3_prefix="s3://my-bucket/voc/",
                            creation_date_value=DATE)
    assert summary.images == 1 and summary.boxes == 2
    res = CliRunner().invoke(app, ["convert", "voc", VOC1, "--s3-prefix", "s3://my-bucket/voc/", "-o",
                                   str(tmp_path / "cli"), "--creation-date", DATE, "--report",
                                   str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli.manifest").read_bytes() == (tmp_path / "lib.manifest").read_bytes()
    line = json.loads((tmp_path / "cli.manifest").read_text())
    assert line["source-ref"] == "s3://my-bucket/voc/2007_000001.jpg"
    assert line["bounding-box-metadata"]["class-map"] == {"0": "cat", "1": "person"}
    assert json.loads((tmp_path / "r.json").read_text())["boxes"] == 2
    assert "MK_VOC_PARTS_IGNORED" in res.output
    auto = CliRunner().invoke(app, ["convert", "auto", VOC1, "--s3-prefix", "s3://my-bucket/voc/", "-o",
                                    str(tmp_path / "auto"), "--creation-date", DATE])
    assert auto.exit_code == 0, auto.output
    assert "detected voc" in auto.output
    assert (tmp_path / "auto.manifest").read_bytes() == (tmp_path / "lib.manifest").read_bytes()
    missing = CliRunner().invoke(app, ["convert", "voc", VOC2, "--s3-prefix", "s3://my-bucket/voc/", "-o",
                                       str(tmp_path / "x")])
    assert missing.exit_code == 1 and "error:" in missing.output and "--skip-missing" in missing.output
    assert not (tmp_path / "x.manifest").exists()


TRICKY = [
    # CVAT writes attribute names inside objects; the label is the object's own <name>.
    b"<annotation><object><attributes><attribute><name>occluded</name><value>no</value></attribute>"
    b"</attributes><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
    b"</object></annotation>",
    "<?xml version='1.0' encoding='ISO-8859-1'?><annotation><object><name>Stra\u00dfe</name></object>"
    "</annotation>".encode("latin-1"),
    b"<annotation><object><name>cats &amp; dogs</name></object><object><name><![CDATA[x<y]]></name></object>"
    b"</annotation>",
    b"<annotation><object><part><name>head</name></part><name> person </name></object>"
    b"<owner><name>Jinky the Fruit Bat</name></owner></annotation>",
]


@pytest.mark.parametrize("data", TRICKY)
def test_fast_label_scan_agrees_with_the_parser(data: bytes) -> None:
    from manifestkit.sources.voc import _object_names

    parsed = {o[0] for o in parse_voc_xml(data)["objects"] if o[0]}  # type: ignore[attr-defined]
    assert _object_names(data, "x.xml") == parsed


def test_fast_label_scan_agrees_on_every_fixture() -> None:
    from manifestkit.sources.voc import _object_names

    files = [MMDET_MISMATCH, MMDET_CUSTOM]
    for folder in (VOC1, VOC2, VOC3, ROBOFLOW):
        for dirpath, _, names in os.walk(folder):
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".xml")]
    assert len(files) == 12
    for f in files:
        with open(f, "rb") as fp:
            data = fp.read()
        assert _object_names(data, f) == {o[0] for o in parse_voc_xml(data)["objects"] if o[0]}  # type: ignore
