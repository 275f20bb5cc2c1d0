"""``manifestkit convert coco``: exit codes, messages on stderr, no output on failure, reproducible output."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import CONFORMANCE
from imaging import image_bytes, write_image
from manifestkit.cli import app

PREFIX = "s3://my-bucket/datasets/parts/"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["convert", "coco", *args], env=env)


def write_coco(path: Path, images: list[dict[str, Any]], annotations: list[dict[str, Any]],
               categories: list[dict[str, Any]] | None = None) -> Path:
    cats = [{"id": 3, "name": "bolt"}, {"id": 9, "name": "nut"}] if categories is None else categories
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}),
                    encoding="utf-8")
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    write_image(images / "train" / "a.jpg", 160, 120)
    write_image(images / "train" / "b.png", 100, 100)
    write_image(images / "train" / "c.jpg", 100, 100)
    coco = write_coco(tmp_path / "instances.json",
                      [{"id": 2, "file_name": "train/a.jpg", "width": 160, "height": 120},
                       {"id": 1, "file_name": "train/b.png", "width": 100, "height": 100},
                       {"id": 5, "file_name": "train/c.jpg", "width": 100, "height": 100}],
                      [{"id": 1, "image_id": 2, "category_id": 3, "bbox": [10.5, 10, 40, 30], "iscrowd": 0},
                       {"id": 2, "image_id": 2, "category_id": 9, "bbox": [150, 100, 30, 30], "iscrowd": 0},
                       {"id": 3, "image_id": 1, "category_id": 9, "bbox": [0, 0, 50, 50], "iscrowd": 1},
                       {"id": 4, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 20], "iscrowd": 0}])
    return coco, images


def test_converts_and_prints_the_summary(tmp_path: Path, dataset: tuple[Path, Path]) -> None:
    coco, images = dataset
    out = tmp_path / "out" / "train"
    report = tmp_path / "report.json"
    r = run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out), "--report", str(report),
            "--creation-date", "2024-05-01T12:00:00")
    assert r.exit_code == 0, r.stderr
    manifest = tmp_path / "out" / "train.manifest"
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert [x["source-ref"] for x in lines] == [PREFIX + "train/a.jpg", PREFIX + "train/b.png"]
    first = lines[0]
    assert first["bounding-box"] == {
        "image_size": [{"width": 160, "height": 120, "depth": 3}],
        "annotations": [{"class_id": 3, "left": 11, "top": 10, "width": 40, "height": 30},
                        {"class_id": 9, "left": 150, "top": 100, "width": 10, "height": 20}]}
    assert first["bounding-box-metadata"]["class-map"] == {"3": "bolt", "9": "nut"}
    assert first["bounding-box-metadata"]["creation-date"] == "2024-05-01T12:00:00.000000"
    assert lines[1]["bounding-box-metadata"]["class-map"] == {"3": "bolt"}
    assert f"wrote {manifest}: 2 images, 2 labels, 3 boxes" in r.stderr
    for code in ("MK_BOX_CLIPPED", "MK_CROWD_SKIPPED", "MK_EMPTY_IMAGE", "MK_NON_INTEGER_COORDINATES"):
        assert code in r.stderr
    assert r.stdout == ""
    rep = json.loads(report.read_text())
    assert rep["images"] == 2 and rep["boxes"] == 3 and rep["output"] == str(manifest)
    codes = {n["code"]: n for n in rep["notes"]}
    assert codes["MK_CROWD_SKIPPED"]["examples"] == ["annotation id 3 (image id 1)"]
    assert codes["MK_EMPTY_IMAGE"]["examples"] == ["image id 5 (train/c.jpg)"]


def test_options_change_the_policies(tmp_path: Path, dataset: tuple[Path, Path]) -> None:
    coco, images = dataset
    out = tmp_path / "o.manifest"
    r = run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out), "--crowd", "keep",
            "--bad-boxes", "drop", "--keep-empty", "--label-attribute", "parts")
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [len(x["parts"]["annotations"]) for x in lines] == [1, 2, 0]
    assert "MK_BOX_OFF_IMAGE_DROPPED" in r.stderr and "MK_EMPTY_IMAGE_KEPT" in r.stderr
    r = run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(tmp_path / "e"),
            "--bad-boxes", "error")
    assert r.exit_code == 1
    assert "error: " in r.stderr and "annotation id 2 (image id 2, train/a.jpg)" in r.stderr
    assert not (tmp_path / "e.manifest").exists()


def test_output_is_byte_identical_for_a_fixed_date(tmp_path: Path, dataset: tuple[Path, Path]) -> None:
    coco, images = dataset
    outs = []
    for n in range(2):
        out = tmp_path / f"r{n}.manifest"
        assert run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out),
                   "--creation-date", "2024-05-01T12:00:00Z").exit_code == 0
        outs.append(out.read_bytes())
    for n in range(2):
        out = tmp_path / f"e{n}.manifest"
        r = run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out),
                env={"SOURCE_DATE_EPOCH": "1714564800"})
        assert r.exit_code == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2] == outs[3]  # 1714564800 is 2024-05-01T12:00:00Z
    assert b'"creation-date":"2024-05-01T12:00:00.000000"' in outs[0]


def test_trust_sizes_on_a_fixture_without_images(tmp_path: Path) -> None:
    source = os.path.join(CONFORMANCE, "mmdetection", "tests", "data", "coco_dummy", "annotations",
                          "instances_val2017.json")
    out = tmp_path / "val.manifest"
    r = run(source, "--s3-prefix", PREFIX, "-o", str(out), "--trust-sizes")
    assert r.exit_code == 0, r.stderr
    assert len(out.read_text().splitlines()) == 2
    assert "wrote" in r.stderr and "36 boxes" in r.stderr
    # Without --trust-sizes the absent images are all listed.
    r = run(source, "--s3-prefix", PREFIX, "-o", str(tmp_path / "no"))
    assert r.exit_code == 1
    assert "2 image(s) not found" in r.stderr and "000000255917.jpg" in r.stderr and "000000000139.jpg" in r.stderr
    assert not (tmp_path / "no.manifest").exists()


def assert_refused(r: Any, out: Path, *needles: str) -> None:
    assert r.exit_code == 1, r.stderr
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    for n in needles:
        assert n in r.stderr
    assert not out.exists() and not any(out.parent.glob(out.name + ".*"))
    assert not any(p.name.endswith(".tmp") for p in out.parent.iterdir())


GOOD_IMAGE = {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}
GOOD_ANN = {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 20, 20], "iscrowd": 0}


@pytest.mark.parametrize("content, needles", [
    ('{"images": [', ["truncated"]),
    ("<html>", ["not valid JSON"]),
    ('[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.9}]', ["results file"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [GOOD_ANN]}), ["'categories' is missing"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [{**GOOD_ANN, "image_id": 4}],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["annotation id 1", "image id 4"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [{**GOOD_ANN, "category_id": 4}],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["annotation id 1", "category id 4"]),
    (json.dumps({"images": [GOOD_IMAGE, GOOD_IMAGE], "annotations": [],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["image id 1 (images[1])", "duplicate image id"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [GOOD_ANN, GOOD_ANN],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["annotation id 1", "duplicate annotation id"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [GOOD_ANN],
                 "categories": [{"id": 3, "name": "bolt"}, {"id": 3, "name": "nut"}]}), ["duplicate category id"]),
    (json.dumps({"images": [GOOD_IMAGE], "annotations": [{k: v for k, v in GOOD_ANN.items() if k != "image_id"}],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["annotation id 1 (annotations[0])", "'image_id'"]),
    (json.dumps({"images": [{**GOOD_IMAGE, "file_name": "../../etc/x.jpg"}], "annotations": [],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["image id 1", "'..'"]),
    (json.dumps({"images": [{**GOOD_IMAGE, "file_name": "/etc/x.jpg"}], "annotations": [],
                 "categories": [{"id": 3, "name": "bolt"}]}), ["image id 1", "absolute path"]),
])
def test_bad_coco_files_are_refused_cleanly(tmp_path: Path, content: str, needles: list[str]) -> None:
    src = tmp_path / "bad.json"
    src.write_text(content, encoding="utf-8")
    (tmp_path / "images").mkdir()
    out = tmp_path / "out" / "x.manifest"
    out.parent.mkdir()
    r = run(str(src), "--images", str(tmp_path / "images"), "--s3-prefix", PREFIX, "-o", str(out))
    assert_refused(r, out, str(src), *needles)


def test_bad_images_are_refused_cleanly(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_image(images / "ok.jpg", 100, 100)
    data = image_bytes(100, 100)
    (images / "cut.jpg").write_bytes(data[:200])
    os.symlink(tmp_path / "outside.jpg", images / "escape.jpg")
    write_image(tmp_path / "outside.jpg", 100, 100)
    cats = [{"id": 3, "name": "bolt"}]
    anns = [{**GOOD_ANN, "id": 1, "image_id": 1}, {**GOOD_ANN, "id": 2, "image_id": 2},
            {**GOOD_ANN, "id": 3, "image_id": 3}, {**GOOD_ANN, "id": 4, "image_id": 4}]
    out = tmp_path / "out" / "x.manifest"
    out.parent.mkdir()
    missing = write_coco(tmp_path / "m.json", [{**GOOD_IMAGE, "id": 1, "file_name": "ok.jpg"},
                                               {**GOOD_IMAGE, "id": 2, "file_name": "gone.jpg"},
                                               {**GOOD_IMAGE, "id": 3, "file_name": "sub/gone2.jpg"}], anns[:3], cats)
    r = run(str(missing), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out))
    assert_refused(r, out, "2 image(s) not found", "image id 2 (gone.jpg)", "image id 3 (sub/gone2.jpg)")
    r = run(str(missing), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out), "--skip-missing")
    assert r.exit_code == 0 and "MK_IMAGE_NOT_FOUND: 2 x" in r.stderr
    out.unlink()
    corrupt = write_coco(tmp_path / "c.json", [{**GOOD_IMAGE, "id": 1, "file_name": "ok.jpg"},
                                               {**GOOD_IMAGE, "id": 2, "file_name": "cut.jpg"}], anns[:2], cats)
    r = run(str(corrupt), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out))
    assert_refused(r, out, "image id 2 (cut.jpg)", "cannot be used")
    escape = write_coco(tmp_path / "s.json", [{**GOOD_IMAGE, "id": 1, "file_name": "escape.jpg"}], anns[:1], cats)
    r = run(str(escape), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out))
    assert_refused(r, out, "outside the images folder")


def test_captions_and_results_fixtures_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.manifest"
    captions = os.path.join(CONFORMANCE, "datumaro", "tests", "assets", "coco_dataset", "coco_captions",
                            "annotations", "captions_train.json")
    assert_refused(run(captions, "--s3-prefix", PREFIX, "-o", str(out), "--trust-sizes"), out, "captions")
    results = os.path.join(CONFORMANCE, "cocoapi", "results", "instances_val2014_fakebbox100_results.json")
    assert_refused(run(results, "--s3-prefix", PREFIX, "-o", str(out), "--trust-sizes"), out, "results file")


def test_missing_annotations_file_and_bad_prefix_exit_1(tmp_path: Path, dataset: tuple[Path, Path]) -> None:
    out = tmp_path / "x.manifest"
    assert_refused(run(str(tmp_path / "nope.json"), "--s3-prefix", PREFIX, "-o", str(out)), out, "not found")
    coco, images = dataset
    assert_refused(run(str(coco), "--images", str(images), "--s3-prefix", "http://x/", "-o", str(out)), out,
                   "not an S3 URI")


@pytest.mark.parametrize("args", [
    ["--crowd", "sometimes"],
    ["--bad-boxes", "fix"],
    ["--no-such-flag"],
])
def test_usage_errors_exit_2(tmp_path: Path, dataset: tuple[Path, Path], args: list[str]) -> None:
    coco, images = dataset
    out = tmp_path / "x.manifest"
    r = run(str(coco), "--images", str(images), "--s3-prefix", PREFIX, "-o", str(out), *args)
    assert r.exit_code == 2
    assert not out.exists()


def test_required_options_missing_exit_2(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    coco, _ = dataset
    assert run(str(coco), "-o", str(tmp_path / "x")).exit_code == 2
    assert run(str(coco), "--s3-prefix", PREFIX).exit_code == 2
