"""CSV readers: AWS's layout (with differential tests against AWS's own converter), Kaggle and Roboflow CSVs,
detection CSVs in three column layouts, and the CLI."""

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
from manifestkit.errors import ManifestKitError, SourceError
from manifestkit.manifest import CLASSIFICATION_TYPE
from manifestkit.ops import convert_source
from manifestkit.sources.csvsrc import read_csv

AWS_CSVS = os.path.join(CONFORMANCE, "aws-doc-sdk-examples", "python", "example_code", "rekognition", "test",
                        "test_csvs")
ORACLE = os.path.join(CONFORMANCE, "oracle-outputs", "aws-doc-sdk-examples-custom_labels_csv_to_manifest")
KAGGLE = os.path.join(CONFORMANCE, "datumaro", "tests", "assets", "kaggle_dataset")
ROBOFLOW = os.path.join(CONFORMANCE, "datumaro", "tests", "assets", "roboflow_dataset", "multiclass")
DATE = "2024-05-01T12:00:00"


def _labels_by_ref(path: str | Path) -> dict[str, list[str]]:
    """source-ref -> the class-name of every image-classification attribute pair, as any manifest holds them."""
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fp:
        for raw in fp:
            line = json.loads(raw)
            names = [v["class-name"] for k, v in line.items() if k.endswith("-metadata")]
            out[line["source-ref"]] = names
    return out


def _types(path: str | Path) -> set[str]:
    with open(path, encoding="utf-8") as fp:
        return {v["type"] for raw in fp for k, v in json.loads(raw).items() if k.endswith("-metadata")}


@pytest.mark.parametrize("name, prefix", [("test_s3_supplied", None),
                                          ("test_no_s3", "s3://docexamplebucket1/circuitboard/train/")])
def test_same_images_and_labels_as_aws_converter(tmp_path: Path, name: str, prefix: str | None) -> None:
    summary = convert_source("csv", os.path.join(AWS_CSVS, name + ".csv"), tmp_path / name, s3_prefix=prefix,
                             creation_date=DATE)
    ours = _labels_by_ref(tmp_path / f"{name}.manifest")
    theirs = _labels_by_ref(os.path.join(ORACLE, name + ".manifest"))
    assert ours == theirs
    # The counts AWS's own unit tests assert: 15 images, 33 labels (label occurrences).
    assert summary.images == 15 and sum(len(v) for v in ours.values()) == 33
    assert _types(tmp_path / f"{name}.manifest") == {CLASSIFICATION_TYPE}


def test_empty_cell_is_skipped_like_aws() -> None:
    ds = read_csv(os.path.join(AWS_CSVS, "test_no_s3.csv"))
    first = next(iter(ds))
    assert first.path == "camellia1.jpg" and first.labels == ("camellia", "with_leaves")
    assert ds.summary.notes["MK_EMPTY_CELL"].count == 1


def test_duplicate_rows_are_reported_and_merged(tmp_path: Path) -> None:
    src = os.path.join(AWS_CSVS, "test_dups_errors.csv")
    summary = convert_source("csv", src, tmp_path / "d", creation_date=DATE)
    dup = summary.notes["MK_DUPLICATE_IMAGE"]
    assert dup.count == 1 and dup.examples[0].startswith("row 2 (first on row 1")
    # AWS's script writes no manifest here, only its deduplicated CSV; our manifest matches that CSV.
    expected = {}
    with open(os.path.join(ORACLE, "test_dups_errors-deduplicated.csv"), encoding="utf-8") as fp:
        for row in fp.read().splitlines():
            cells = row.split(",")
            expected[cells[0]] = cells[1:]
    assert _labels_by_ref(tmp_path / "d.manifest") == expected


def test_label_repeated_in_a_row_and_conflicting_rows(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text("a.jpg,cat,cat\nb.jpg,dog\nb.jpg,puppy\nc.jpg,,\n", encoding="utf-8")
    ds = read_csv(p)
    assert [(it.path, it.labels) for it in ds] == [("a.jpg", ("cat",)), ("b.jpg", ("dog", "puppy"))]
    assert ds.summary.notes["MK_DUPLICATE_LABEL"].count == 1
    assert ds.summary.notes["MK_DUPLICATE_IMAGE"].count == 1
    assert ds.summary.notes["MK_UNLABELLED_IMAGE"].examples == ["row 4 (c.jpg)"]


def test_relative_names_need_a_prefix_and_must_stay_inside(tmp_path: Path) -> None:
    with pytest.raises(ManifestKitError, match="--s3-prefix"):
        convert_source("csv", os.path.join(AWS_CSVS, "test_no_s3.csv"), tmp_path / "x")
    bad = tmp_path / "bad.csv"
    bad.write_text("../secret.jpg,cat\n", encoding="utf-8")
    with pytest.raises(SourceError, match="leaves the dataset folder"):
        read_csv(bad)


@pytest.mark.parametrize("name", ["ann.csv", "ann_wo_ext.csv"])
def test_kaggle_image_label_csv_with_and_without_extensions(name: str) -> None:
    folder = os.path.join(KAGGLE, "image_csv")
    ds = read_csv(os.path.join(folder, name), images=os.path.join(folder, "images"))
    assert [(it.path, it.labels) for it in ds] == [("1.jpg", ("dog",)), ("2.jpg", ("cat",)), ("3.jpg", ("dog",)),
                                                   ("4.jpg", ("cat",)), ("5.jpg", ("cat",))]
    assert ds.classes == {"cat": 0, "dog": 1}


@pytest.mark.parametrize("name", ["ann.csv", "ann_wo_ext.csv"])
def test_kaggle_one_hot_multi_label(name: str) -> None:
    folder = os.path.join(KAGGLE, "image_csv_multi_label")
    ds = read_csv(os.path.join(folder, name), images=os.path.join(folder, "images"))
    assert {it.path: it.labels for it in ds} == {
        "1.jpg": ("dog",), "2.jpg": ("cat",), "3.jpg": ("person",), "4.jpg": ("dog", "cat"),
        "5.jpg": ("dog", "person"), "6.jpg": ("cat", "person")}


def test_roboflow_classes_csv_with_spaces_after_commas() -> None:
    ds = read_csv(os.path.join(ROBOFLOW, "val", "_classes.csv"))
    assert [(it.path, it.labels) for it in ds] == [("val_001.jpg", ("label_0", "label_1"))]


@pytest.mark.parametrize("name", ["ann.csv", "ann2.csv", "ann3.csv"])
def test_kaggle_detection_csvs_agree(name: str) -> None:
    """xyxy columns, xywh columns and a bbox column in four spellings describe the same boxes."""
    ds = read_csv(os.path.join(KAGGLE, "image_csv_det", name))
    items = list(ds)
    # Images are 15x10; every box but one is 1 px wide or high, too small for Rekognition.
    assert [(it.path, [(b.label, b.left, b.top, b.width, b.height) for b in it.boxes]) for it in items] == [
        ("3.jpg", [("dog", 0, 2, 2, 2)])]
    assert ds.summary.notes["ERROR_BOUNDING_BOX_TOO_SMALL"].count == 5


def test_detection_csv_with_real_sizes(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg", 200, 100)
    write_image(tmp_path / "images" / "b.png", 64, 64)
    p = tmp_path / "boxes.csv"
    p.write_text("image,label,x,y,width,height\na.jpg,cat,10,10,50.4,40\na.jpg,dog,150,20,80,20\n"
                 "b,cat,0,0,32,32\nmissing.jpg,cat,0,0,5,5\n", encoding="utf-8")
    with pytest.raises(SourceError, match="missing.jpg"):
        read_csv(p)
    ds = read_csv(p, skip_missing=True)
    got = {it.path: [(b.label, b.left, b.top, b.width, b.height) for b in it.boxes] for it in ds}
    assert got == {"a.jpg": [("cat", 10, 10, 50, 40), ("dog", 150, 20, 50, 20)], "b.png": [("cat", 0, 0, 32, 32)]}
    assert ds.summary.notes["MK_BOX_CLIPPED"].count == 1
    assert ds.summary.notes["MK_IMAGE_NOT_FOUND"].count == 1


def test_malformed_box_row(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", 100, 100)
    p = tmp_path / "b.csv"
    p.write_text("image,label,xmin,ymin,xmax,ymax\na.jpg,cat,1,2,x,40\na.jpg,cat,1,2,30,40\n", encoding="utf-8")
    with pytest.raises(SourceError, match="row 2"):
        read_csv(p)
    ds = read_csv(p, skip_invalid=True)
    assert [len(it.boxes) for it in ds] == [1]


_label = st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 20), st.lists(_label, min_size=1, max_size=5)), min_size=1,
                     max_size=20))
def test_aws_layout_union_of_labels(rows: list[tuple[int, list[str]]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "x.csv")
        with open(p, "w", encoding="utf-8") as fp:
            fp.writelines(f"img{i}.jpg,{','.join(labels)}\n" for i, labels in rows)
        ds = read_csv(p)
        expected: dict[str, list[str]] = {}
        for i, labels in rows:
            cur = expected.setdefault(f"img{i}.jpg", [])
            cur.extend(x for x in labels if x not in cur)
        assert {it.path: list(it.labels) for it in ds} == expected
        assert sorted(ds.classes) == sorted({x for _, labels in rows for x in labels})


def test_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["convert", "csv", os.path.join(AWS_CSVS, "test_no_s3.csv"), "--s3-prefix",
                                   "s3://docexamplebucket1/circuitboard/train/", "-o", str(tmp_path / "c"),
                                   "--creation-date", DATE])
    assert res.exit_code == 0, res.output
    assert "15 images, 9 labels" in res.output
    assert _labels_by_ref(tmp_path / "c.manifest") == _labels_by_ref(os.path.join(ORACLE, "test_no_s3.manifest"))
    auto = CliRunner().invoke(app, ["convert", "auto", os.path.join(AWS_CSVS, "test_s3_supplied.csv"), "-o",
                                    str(tmp_path / "a")])
    assert auto.exit_code == 0 and "detected csv" in auto.output
