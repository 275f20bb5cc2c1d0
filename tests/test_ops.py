"""merge, relabel and filter: unified labels, consistent ids, reported duplicates, seeded samples, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CONFORMANCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.manifest import write_manifest
from manifestkit.model import Box, Dataset, ImageItem, Task
from manifestkit.ops import filter_manifest, merge_manifests, parse_mapping, relabel_manifest

PREFIX = "s3://my-bucket/d/"
DATE = "2024-05-01T12:00:00"
OD_OUTPUT = os.path.join(CONFORMANCE, "amazon-sagemaker-examples", "archived", "pytorch_yolov5_training_and_hpo",
                         "sample_output.manifest")


def _cls(path: Path, rows: list[tuple[str, tuple[str, ...]]]) -> Path:
    labels = sorted({x for _, labs in rows for x in labs})
    ds = Dataset(task=Task.CLASSIFICATION, items=[ImageItem(path=p, labels=labs) for p, labs in rows],
                 classes={x: i for i, x in enumerate(labels)})
    write_manifest(ds, path, s3_prefix=PREFIX, creation_date_value=DATE)
    return path.with_suffix(".manifest")


def _det(path: Path, rows: list[tuple[str, list[tuple[str, int]]]], ids: dict[str, int]) -> Path:
    items = [ImageItem(path=p, width=100, height=100,
                       boxes=tuple(Box(lab, 10 * i, 10, 5 + n, 8, ids[lab]) for i, (lab, n) in enumerate(boxes)))
             for p, boxes in rows]
    write_manifest(Dataset(task=Task.DETECTION, items=items, classes=ids), path, s3_prefix=PREFIX,
                   creation_date_value=DATE)
    return path.with_suffix(".manifest")


def _read(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _names(line: dict) -> list[str]:  # type: ignore[type-arg]
    return [v["class-name"] for k, v in line.items() if k.endswith("-metadata") and "class-name" in v]


def test_merge_unifies_labels_and_reports_duplicates(tmp_path: Path) -> None:
    a = _det(tmp_path / "a.manifest", [("x.jpg", [("dog", 0)]), ("y.jpg", [("cat", 1), ("dog", 2)])],
             {"dog": 0, "cat": 7})
    b = _det(tmp_path / "b.manifest", [("z.jpg", [("cat", 3), ("bird", 4)]), ("y.jpg", [("bird", 5)])],
             {"cat": 0, "bird": 1})
    summary = merge_manifests([a, b], tmp_path / "all", creation_date=DATE)
    lines = _read(tmp_path / "all.manifest")
    assert [x["source-ref"] for x in lines] == [PREFIX + "x.jpg", PREFIX + "y.jpg", PREFIX + "z.jpg"]
    # One id per name across the output, 0..N-1 in sorted order: bird 0, cat 1, dog 2.
    for line in lines:
        cmap = line["bounding-box-metadata"]["class-map"]
        assert all({"bird": 0, "cat": 1, "dog": 2}[name] == int(cid) for cid, name in cmap.items())
    assert lines[1]["bounding-box"]["annotations"][0]["class_id"] == 1
    dup = summary.notes["MK_DUPLICATE_SOURCE_REF"]
    assert dup.count == 1 and dup.examples == [f"b.manifest:2 ({PREFIX}y.jpg)"]
    assert summary.images == 3 and summary.boxes == 5


def test_merge_refuses_mixed_tasks_and_single_input(tmp_path: Path) -> None:
    a = _cls(tmp_path / "a.manifest", [("x.jpg", ("dog",))])
    b = _det(tmp_path / "b.manifest", [("z.jpg", [("cat", 3)])], {"cat": 0})
    with pytest.raises(ManifestKitError, match="cannot merge"):
        merge_manifests([a, b], tmp_path / "o")
    with pytest.raises(ManifestKitError, match="at least two"):
        merge_manifests([a], tmp_path / "o")
    assert not (tmp_path / "o.manifest").exists()


def test_relabel_renames_merges_and_drops(tmp_path: Path) -> None:
    m = _cls(tmp_path / "m.manifest", [("1.jpg", ("Echo", "misc")), ("2.jpg", ("Echo Dot",)), ("3.jpg", ("misc",))])
    summary = relabel_manifest(m, tmp_path / "r", mapping=parse_mapping(["Echo=speaker", "Echo Dot=speaker",
                                                                         "ghost=x"]),
                               drop=["misc"], creation_date=DATE)
    lines = _read(tmp_path / "r.manifest")
    assert [(x["source-ref"][len(PREFIX):], _names(x)) for x in lines] == [("1.jpg", ["speaker"]),
                                                                          ("2.jpg", ["speaker"])]
    assert summary.notes["MK_IMAGE_EMPTIED"].count == 1
    assert summary.notes["MK_LABEL_NOT_FOUND"].examples == ["ghost"]
    assert all(x["label"] == 0 for x in lines)


def test_relabel_boxes(tmp_path: Path) -> None:
    m = _det(tmp_path / "m.manifest", [("1.jpg", [("dog", 0), ("cat", 1)]), ("2.jpg", [("cat", 2)])],
             {"dog": 3, "cat": 4})
    summary = relabel_manifest(m, tmp_path / "r", mapping={"dog": "animal"}, drop=["cat"], creation_date=DATE)
    lines = _read(tmp_path / "r.manifest")
    assert len(lines) == 1
    assert lines[0]["bounding-box-metadata"]["class-map"] == {"0": "animal"}
    assert summary.notes["MK_BOX_DROPPED_BY_LABEL"].count == 2


def test_parse_mapping_errors() -> None:
    for bad in (["dog"], ["=cat"], ["dog="]):
        with pytest.raises(ManifestKitError, match="OLD=NEW"):
            parse_mapping(bad)
    with pytest.raises(ManifestKitError, match="mapped twice"):
        parse_mapping(["a=b", "a=c"])
    assert parse_mapping(["a = b", "c=b"]) == {"a": "b", "c": "b"}


def test_filter_labels_and_min_boxes_on_real_job_output(tmp_path: Path) -> None:
    summary = filter_manifest(OD_OUTPUT, tmp_path / "f", min_boxes=3, creation_date=DATE)
    lines = _read(tmp_path / "f.manifest")
    assert lines and all(len(x["bounding-box"]["annotations"]) >= 3 for x in lines)
    with open(OD_OUTPUT, encoding="utf-8") as fp:
        total = sum(1 for _ in fp)
    assert summary.notes["MK_FILTERED_OUT"].count == total - len(lines)


def test_filter_keeps_only_listed_labels(tmp_path: Path) -> None:
    m = _cls(tmp_path / "m.manifest", [("1.jpg", ("a", "b")), ("2.jpg", ("b",)), ("3.jpg", ("c",))])
    filter_manifest(m, tmp_path / "f", labels=["a", "c"], creation_date=DATE)
    assert [(x["source-ref"][len(PREFIX):], _names(x)) for x in _read(tmp_path / "f.manifest")] == [
        ("1.jpg", ["a"]), ("3.jpg", ["c"])]
    with pytest.raises(ManifestKitError, match="box"):
        filter_manifest(m, tmp_path / "g", min_boxes=1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), k=st.integers(1, 45), seed=st.integers(0, 2**32))
def test_sample_is_seeded_ordered_and_sized(tmp_path: Path, n: int, k: int, seed: int) -> None:
    m = _cls(tmp_path / "m.manifest", [(f"{i:03d}.jpg", ("a" if i % 2 else "b",)) for i in range(n)])
    filter_manifest(m, tmp_path / "s1", sample=k, seed=seed, creation_date=DATE)
    filter_manifest(m, tmp_path / "s2", sample=k, seed=seed, creation_date=DATE)
    one = (tmp_path / "s1.manifest").read_bytes()
    assert one == (tmp_path / "s2.manifest").read_bytes()
    refs = [x["source-ref"] for x in _read(tmp_path / "s1.manifest")]
    assert len(refs) == min(n, k) and refs == sorted(refs) and len(set(refs)) == len(refs)


def test_cli(tmp_path: Path) -> None:
    a = _cls(tmp_path / "a.manifest", [("x.jpg", ("dog",)), ("y.jpg", ("cat",))])
    b = _cls(tmp_path / "b.manifest", [("y.jpg", ("cat",)), ("z.jpg", ("bird",))])
    runner = CliRunner()
    res = runner.invoke(app, ["merge", str(a), str(b), "-o", str(tmp_path / "m"), "--creation-date", DATE])
    assert res.exit_code == 0, res.output
    assert "MK_DUPLICATE_SOURCE_REF" in res.output and "3 images, 3 labels" in res.output
    res = runner.invoke(app, ["relabel", str(tmp_path / "m.manifest"), "--map", "dog=canine", "--drop", "bird",
                              "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert sorted(n for x in _read(tmp_path / "r.manifest") for n in _names(x)) == ["canine", "cat"]
    res = runner.invoke(app, ["relabel", str(tmp_path / "m.manifest"), "--map", "dog", "-o", str(tmp_path / "q")])
    assert res.exit_code == 1 and "OLD=NEW" in res.output
    res = runner.invoke(app, ["filter", str(tmp_path / "m.manifest"), "--labels", "cat", "--sample", "1", "-o",
                              str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert len(_read(tmp_path / "f.manifest")) == 1
    res = runner.invoke(app, ["filter", str(tmp_path / "m.manifest"), "--sample", "0", "-o", str(tmp_path / "g")])
    assert res.exit_code == 2
