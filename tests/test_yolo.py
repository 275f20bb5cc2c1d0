"""YOLO reader: darknet and Ultralytics fixtures in place, panlabel's line seeds, data.yaml by hand, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CONFORMANCE
from hypothesis import given, settings
from hypothesis import strategies as st
from imaging import write_image
from typer.testing import CliRunner

from manifestkit.cli import app
from manifestkit.errors import SourceError
from manifestkit.sources.yolo import parse_data_yaml, parse_label_line, read_yolo

ASSETS = os.path.join(CONFORMANCE, "datumaro", "tests", "assets")
STRICT = os.path.join(ASSETS, "yolo_dataset", "strict")
LOOSE = os.path.join(ASSETS, "yolo_dataset", "labels")
ROBOFLOW = os.path.join(ASSETS, "roboflow_dataset", "yolo")
SEEDS = os.path.join(CONFORMANCE, "panlabel", "fuzz", "corpus", "yolo_label_line_parse")
DATE = "2024-05-01T12:00:00"
NAMES = [f"label_{i}" for i in range(10)]


def _boxes(item: object) -> list[tuple[str, int | None, float, float, float, float]]:
    return [(b.label, b.class_id, b.left, b.top, b.width, b.height) for b in item.boxes]  # type: ignore


# 1.txt: "2 0.133333 0.3 0.266667 0.2" and "4 0.266667 0.45 0.133333 0.3" on a 15x10 image.
EXPECTED = [("label_2", 2, 0, 2, 4, 2), ("label_4", 4, 3, 3, 2, 3)]


def test_darknet_obj_data_with_paths_that_do_not_exist() -> None:
    ds = read_yolo(STRICT)
    items = list(ds)
    assert [it.path for it in items] == ["obj_train_data/1.jpg"]
    assert (items[0].width, items[0].height) == (15, 10)
    assert _boxes(items[0]) == EXPECTED
    assert ds.classes == {n: i for i, n in enumerate(NAMES)}


def test_loose_layout_images_and_labels_folders_and_a_stray_readme() -> None:
    ds = read_yolo(LOOSE)
    items = list(ds)
    # README.txt is neither an image nor a label file: ignored, and not counted as anything.
    assert [it.path for it in items] == ["images/train/1.jpg", "images/val/1.jpg"]
    assert all(_boxes(it) == EXPECTED for it in items)
    assert not any("README" in ex for n in ds.summary.notes.values() for ex in n.examples)


def test_ultralytics_data_yaml_roboflow_export() -> None:
    ds = read_yolo(os.path.join(ROBOFLOW, "data.yaml"))
    items = list(ds)
    assert ds.classes == {"label_0": 0, "label_1": 1}
    # train_002: "1 0.1 0.4 0.2 0.8" on 10x5 -> (0, 0, 2, 4); the other boxes are 1 px high: too small.
    assert [(it.path, _boxes(it)) for it in items] == [("train/images/train_002.jpg", [("label_1", 1, 0, 0, 2, 4)])]
    assert ds.summary.notes["ERROR_BOUNDING_BOX_TOO_SMALL"].count == 3


def _seed(name: str) -> str:
    with open(os.path.join(SEEDS, name), encoding="utf-8") as fp:
        return fp.read().strip()


def test_panlabel_seed_lines() -> None:
    assert parse_label_line(_seed("seed.txt")) == (0, 0.5, 0.5, 0.1, 0.1)
    assert parse_label_line(_seed("seed_6token.txt")) == (0, 0.5, 0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="7 values"):
        parse_label_line(_seed("seed_7token_reject.txt"))


def _dataset(root: Path, lines: str, *, names: str = "a\nb\n", size: tuple[int, int] = (200, 100)) -> Path:
    (root / "obj.names").parent.mkdir(parents=True, exist_ok=True)
    (root / "obj.names").write_text(names, encoding="utf-8")
    write_image(root / "images" / "x.jpg", *size)
    (root / "labels").mkdir(exist_ok=True)
    (root / "labels" / "x.txt").write_text(lines, encoding="utf-8")
    return root


def test_seed_lines_in_a_dataset(tmp_path: Path) -> None:
    six = read_yolo(_dataset(tmp_path / "six", _seed("seed_6token.txt") + "\n"))
    assert _boxes(next(iter(six))) == [("a", 0, 90, 45, 20, 10)]
    assert six.summary.notes["MK_CONFIDENCE_IGNORED"].count == 1
    seven = _dataset(tmp_path / "seven", _seed("seed.txt") + "\n" + _seed("seed_7token_reject.txt") + "\n")
    with pytest.raises(SourceError, match="line 2"):
        list(read_yolo(seven))
    ds = read_yolo(seven, skip_invalid=True)
    assert _boxes(next(iter(ds))) == [("a", 0, 90, 45, 20, 10)]
    assert ds.summary.notes["MK_BAD_LABEL_LINE"].count == 1


def test_unknown_class_and_off_frame_boxes(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "d", "5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(SourceError, match="not in the 2 class names"):
        list(read_yolo(root))
    root = _dataset(tmp_path / "e", "1 0.95 0.5 0.2 0.2\n")
    ds = read_yolo(root)
    assert _boxes(next(iter(ds))) == [("b", 1, 170, 40, 30, 20)]
    assert ds.summary.notes["MK_BOX_CLIPPED"].count == 1


def test_images_without_labels_are_left_out_unless_kept(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "d", "0 0.5 0.5 0.5 0.5\n")
    write_image(root / "images" / "empty.jpg", 64, 64)
    assert [it.path for it in read_yolo(root)] == ["images/x.jpg"]
    kept = read_yolo(root, keep_empty=True)
    assert [(it.path, len(it.boxes)) for it in kept] == [("images/empty.jpg", 0), ("images/x.jpg", 1)]


def test_no_class_names_is_an_error(tmp_path: Path) -> None:
    write_image(tmp_path / "x.jpg")
    with pytest.raises(SourceError, match="no class names"):
        read_yolo(tmp_path)


@pytest.mark.parametrize("text", [
    "names: ['cat', \"dog\"]\nnc: 2\n",
    "names: [cat, dog]\n",
    "names:\n  - cat\n  - dog\n",
    "names:\n- cat\n- dog # the second\n",
    "names:\n  0: cat\n  1: dog\n",
    "names: {0: cat, 1: 'dog'}\n",
    "# a comment\npath: ../datasets/pets  # root\ntrain: images/train\nval: [images/val, more/val]\nnames:\n  1: dog\n  0: cat\n",
])
def test_data_yaml_forms(tmp_path: Path, text: str) -> None:
    (tmp_path / "data.yaml").write_text(text, encoding="utf-8")
    write_image(tmp_path / "images" / "a.jpg", 100, 100)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n", encoding="utf-8")
    ds = read_yolo(tmp_path)
    assert ds.classes == {"cat": 0, "dog": 1}
    assert _boxes(next(iter(ds))) == [("dog", 1, 25, 25, 50, 50)]


def test_data_yaml_errors() -> None:
    with pytest.raises(SourceError, match="anchors"):
        parse_data_yaml("names: &n [a]\n")
    with pytest.raises(SourceError, match="spans lines"):
        parse_data_yaml("names: [a,\n  b]\n")
    assert parse_data_yaml("val: [a, 'b, c']\n") == {"val": ["a", "b, c"]}


def test_nc_disagreeing_with_names_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("nc: 3\nnames: [a, b]\n", encoding="utf-8")
    with pytest.raises(SourceError, match="nc is 3"):
        read_yolo(tmp_path)


@settings(max_examples=50, deadline=None)
@given(cls=st.integers(0, 9), cx=st.floats(0, 1), cy=st.floats(0, 1), w=st.floats(0, 1), h=st.floats(0, 1),
       conf=st.one_of(st.none(), st.floats(0, 1)))
def test_label_line_round_trips_through_text(cls: int, cx: float, cy: float, w: float, h: float,
                                             conf: float | None) -> None:
    line = f"{cls} {cx!r} {cy!r} {w!r} {h!r}" + ("" if conf is None else f" {conf!r}")
    assert parse_label_line(line) == (cls, cx, cy, w, h)


def test_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["convert", "yolo", LOOSE, "--s3-prefix", "s3://my-bucket/yolo/", "-o",
                                   str(tmp_path / "y"), "--creation-date", DATE])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in (tmp_path / "y.manifest").read_text().splitlines()]
    assert [x["source-ref"] for x in lines] == ["s3://my-bucket/yolo/images/train/1.jpg",
                                                "s3://my-bucket/yolo/images/val/1.jpg"]
    assert lines[0]["bounding-box-metadata"]["class-map"] == {"2": "label_2", "4": "label_4"}
    assert lines[0]["bounding-box"]["annotations"][0] == {"class_id": 2, "left": 0, "top": 2, "width": 4,
                                                         "height": 2}
    auto = CliRunner().invoke(app, ["convert", "auto", STRICT, "--s3-prefix", "s3://my-bucket/yolo/", "-o",
                                    str(tmp_path / "a")])
    assert auto.exit_code == 0 and "detected yolo" in auto.output
