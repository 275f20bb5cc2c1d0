"""``export``: round trips X -> manifest -> X on the fixtures (labels exact, boxes within one pixel)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import CONFORMANCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging import write_image
from typer.testing import CliRunner

from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.export import export_manifest
from manifestkit.ops import convert_source
from manifestkit.sources.csvsrc import read_csv
from manifestkit.sources.yolo import read_yolo

ASSETS = os.path.join(CONFORMANCE, "datumaro", "tests", "assets")
COCO_DUMMY = os.path.join(CONFORMANCE, "mmdetection", "tests", "data", "coco_dummy", "annotations",
                          "instances_val2017.json")
AWS_CSV = os.path.join(CONFORMANCE, "aws-doc-sdk-examples", "python", "example_code", "rekognition", "test",
                       "test_csvs", "test_s3_supplied.csv")
PREFIX = "s3://my-bucket/data/"
DATE = "2024-05-01T12:00:00"


def _close(a: list[float], b: list[float]) -> bool:
    return all(abs(x - y) <= 1 for x, y in zip(a, b, strict=True))


def test_coco_round_trip_on_real_val2017_subset(tmp_path: Path) -> None:
    convert_source("coco", COCO_DUMMY, tmp_path / "m", s3_prefix=PREFIX, trust_sizes=True, creation_date=DATE)
    summary = export_manifest(tmp_path / "m.manifest", tmp_path / "back.json", to="coco", s3_prefix=PREFIX)
    with open(COCO_DUMMY, encoding="utf-8") as fp:
        original = json.load(fp)
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    cat_name = {c["id"]: c["name"] for c in original["categories"]}
    file_of = {i["id"]: i["file_name"] for i in original["images"]}

    def boxes(doc: dict, names: dict[int, str], files: dict[int, str]) -> dict[str, list]:  # type: ignore
        out: dict[str, list] = {}  # type: ignore[type-arg]
        for a in doc["annotations"]:
            if a.get("iscrowd"):
                continue  # crowd regions are skipped by convert (decisions.md)
            out.setdefault(files[a["image_id"]], []).append((names[a["category_id"]], a["bbox"]))
        return {k: sorted(v, key=lambda t: (t[0], t[1])) for k, v in out.items()}

    want = boxes(original, cat_name, file_of)
    got = boxes(back, {c["id"]: c["name"] for c in back["categories"]}, {i["id"]: i["file_name"] for i in back["images"]})
    assert sorted(got) == sorted(want)
    for name in want:
        assert [lab for lab, _ in got[name]] == [lab for lab, _ in want[name]]
        assert all(_close(g, w) for (_, g), (_, w) in zip(got[name], want[name]))
    # COCO category ids are kept (decisions.md), so they survive the round trip too.
    assert {c["id"]: c["name"] for c in back["categories"]}.items() <= cat_name.items()
    assert summary.images == 2 and summary.boxes == 36
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in back["images"]}
    assert sizes == {i["file_name"]: (i["width"], i["height"]) for i in original["images"]}


@pytest.mark.parametrize("fixture", ["yolo_dataset/labels", "yolo_dataset/strict", "roboflow_dataset/yolo"])
def test_yolo_round_trip(tmp_path: Path, fixture: str) -> None:
    src = os.path.join(ASSETS, *fixture.split("/"))
    convert_source("yolo", src, tmp_path / "m", s3_prefix=PREFIX, creation_date=DATE)
    out = tmp_path / "export"
    export_manifest(tmp_path / "m.manifest", out, to="yolo", s3_prefix=PREFIX)
    first = list(read_yolo(src))
    # The images live in S3; put the fixture's copies where the export says they go, then read it back.
    for item in first:
        dest = out / "images" / item.path if not item.path.split("/")[:-1].count("images") else out / item.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(src, item.path), dest)
    second = list(read_yolo(out))
    assert len(second) == len(first)
    for a, b in zip(first, second, strict=True):
        assert os.path.basename(a.path) == os.path.basename(b.path)
        assert [x.label for x in a.boxes] == [x.label for x in b.boxes]
        assert all(_close([x.left, x.top, x.width, x.height], [y.left, y.top, y.width, y.height])
                   for x, y in zip(a.boxes, b.boxes))
    assert (out / "data.yaml").is_file() and (out / "obj.names").is_file()


def test_yolo_export_text_matches_the_fixture(tmp_path: Path) -> None:
    src = os.path.join(ASSETS, "yolo_dataset", "labels")
    convert_source("yolo", src, tmp_path / "m", s3_prefix=PREFIX, creation_date=DATE)
    out = tmp_path / "export"
    export_manifest(tmp_path / "m.manifest", out, to="yolo", s3_prefix=PREFIX)
    names = (out / "obj.names").read_text().split()
    with open(os.path.join(src, "obj.names"), encoding="utf-8") as fp:
        source_names = fp.read().split()
    with open(os.path.join(src, "labels", "train", "1.txt"), encoding="utf-8") as fp:
        want = [ln.split() for ln in fp.read().splitlines()]
    got = [ln.split() for ln in (out / "labels" / "train" / "1.txt").read_text().splitlines()]
    assert [names[int(g[0])] for g in got] == [source_names[int(w[0])] for w in want]
    for g, w in zip(got, want):
        scale = [15, 10, 15, 10]
        assert _close([float(x) * s for x, s in zip(g[1:], scale)], [float(x) * s for x, s in zip(w[1:], scale)])


def test_csv_round_trip_aws_layout(tmp_path: Path) -> None:
    convert_source("csv", AWS_CSV, tmp_path / "m", creation_date=DATE)
    export_manifest(tmp_path / "m.manifest", tmp_path / "back.csv", to="csv")
    with open(AWS_CSV, encoding="utf-8") as fp:
        want = [row for row in csv.reader(fp)]
    with open(tmp_path / "back.csv", encoding="utf-8") as fp:
        got = [row for row in csv.reader(fp)]
    assert got == want


def test_csv_round_trip_detection(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_image(images / "a.jpg", 200, 100)
    write_image(images / "sub" / "b.png", 300, 300)
    src = tmp_path / "boxes.csv"
    src.write_text("image,label,xmin,ymin,xmax,ymax\na.jpg,cat,10.4,10,60,50\na.jpg,dog,100,20,150,90\n"
                   "sub/b.png,cat,0,0,300,300\n", encoding="utf-8")
    convert_source("csv", src, tmp_path / "m", s3_prefix=PREFIX, creation_date=DATE)
    export_manifest(tmp_path / "m.manifest", tmp_path / "back.csv", to="csv", s3_prefix=PREFIX)
    first = {it.path: it.boxes for it in read_csv(src)}
    second = {it.path: it.boxes for it in read_csv(tmp_path / "back.csv", images=images)}
    assert sorted(first) == sorted(second) == ["a.jpg", "sub/b.png"]
    for key in first:
        assert [b.label for b in first[key]] == [b.label for b in second[key]]
        assert all(_close([x.left, x.top, x.right, x.bottom], [y.left, y.top, y.right, y.bottom])
                   for x, y in zip(first[key], second[key]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(boxes=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 180), st.integers(0, 80),
                                st.integers(3, 60), st.integers(3, 60)), min_size=1, max_size=6))
def test_yolo_export_hypothesis_round_trip(tmp_path: Path, boxes: list[tuple[str, int, int, int, int]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        root = Path(tmp)
        write_image(root / "src" / "x.jpg", 240, 120)
        src = root / "src" / "b.csv"
        src.write_text("image,label,x,y,width,height\n" + "".join(
            f"x.jpg,{lab},{x},{y},{w},{h}\n" for lab, x, y, w, h in boxes), encoding="utf-8")
        convert_source("csv", src, root / "m", s3_prefix=PREFIX, creation_date=DATE)
        export_manifest(root / "m.manifest", root / "y", to="yolo", s3_prefix=PREFIX)
        # The export put labels/x.txt and expects the image at images/x.jpg.
        assert (root / "y" / "labels" / "x.txt").is_file()
        (root / "y" / "images").mkdir(exist_ok=True)
        shutil.copyfile(root / "src" / "x.jpg", root / "y" / "images" / "x.jpg")
        back = next(iter(read_yolo(root / "y")))
        first = next(iter(read_csv(src)))
        assert [b.label for b in back.boxes] == [b.label for b in first.boxes]
        assert all(_close([x.left, x.top, x.width, x.height], [y.left, y.top, y.width, y.height])
                   for x, y in zip(first.boxes, back.boxes))


def test_export_refusals(tmp_path: Path) -> None:
    convert_source("csv", AWS_CSV, tmp_path / "cls", creation_date=DATE)
    with pytest.raises(ManifestKitError, match="--to csv"):
        export_manifest(tmp_path / "cls.manifest", tmp_path / "x.json", to="coco")
    convert_source("yolo", os.path.join(ASSETS, "yolo_dataset", "strict"), tmp_path / "det", s3_prefix=PREFIX)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ManifestKitError, match="already exists"):
        export_manifest(tmp_path / "det.manifest", tmp_path / "taken", to="yolo")
    s = export_manifest(tmp_path / "det.manifest", tmp_path / "o.json", to="coco", s3_prefix="s3://other-bucket/")
    assert s.images == 0 and s.notes["MK_OUTSIDE_PREFIX"].count == 1


def test_cli(tmp_path: Path) -> None:
    convert_source("yolo", os.path.join(ASSETS, "yolo_dataset", "labels"), tmp_path / "m", s3_prefix=PREFIX)
    res = CliRunner().invoke(app, ["export", str(tmp_path / "m.manifest"), "--to", "coco", "-o",
                                   str(tmp_path / "c.json"), "--s3-prefix", PREFIX])
    assert res.exit_code == 0, res.output
    assert "2 images, 4 boxes, 2 labels" in res.output
    doc = json.loads((tmp_path / "c.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["images/train/1.jpg", "images/val/1.jpg"]
    bad = CliRunner().invoke(app, ["export", str(tmp_path / "m.manifest"), "--to", "voc", "-o", "x"])
    assert bad.exit_code == 2
