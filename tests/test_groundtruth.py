"""Ground Truth job outputs and Rekognition dataset entries: SageMaker guide blocks in place, AWS's multi-label
transform as a differential oracle, real job output, and the CLI."""

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
from manifestkit.errors import SourceError
from manifestkit.manifest import CLASSIFICATION_TYPE, MULTILABEL_TYPE, read_manifest
from manifestkit.ops import convert_source
from manifestkit.sources.entries import read_entries
from manifestkit.sources.groundtruth import read_groundtruth

SMDG = os.path.join(CONFORMANCE, "amazon-sagemaker-developer-guide")
BLOCKS = os.path.join(SMDG, "doc_source", "sms-data-output.md.blocks")
GT_EXAMPLES = os.path.join(SMDG, "derived", "gt-output-examples.manifest")
ML_ORACLE = os.path.join(CONFORMANCE, "oracle-outputs", "aws-gt-multilabel-transform")
IC_OUTPUT = os.path.join(CONFORMANCE, "amazon-sagemaker-examples", "prepare_data",
                         "sm-ground_truth_annotation_consolidation_image_classification", "ic_data", "output.manifest")
OD_OUTPUT = os.path.join(CONFORMANCE, "amazon-sagemaker-examples", "archived", "pytorch_yolov5_training_and_hpo",
                         "sample_output.manifest")
VALIDATION_LINES = os.path.join(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide", "derived",
                                "doc-validation-result-lines.jsonl")
DATE = "2024-05-01T12:00:00"


def _block(n: int, tmp: Path) -> Path:
    """One documentation block, compacted to a one-line manifest in tmp (the fixture itself is not changed)."""
    with open(os.path.join(BLOCKS, f"block-{n:02d}.json"), encoding="utf-8") as fp:
        obj = json.load(fp)
    p = tmp / f"block-{n:02d}.manifest"
    p.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    return p


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_classification_output_block(tmp_path: Path) -> None:
    ds = read_groundtruth(_block(0, tmp_path))
    assert [(it.source_ref, it.labels) for it in ds] == [("s3://AWSDOC-EXAMPLE-BUCKET/image_example.png",
                                                          ("football",))]
    # block 05: the value is the string "0" and confidence 0.00; the class-name still carries the label.
    assert [it.labels for it in read_groundtruth(_block(5, tmp_path))] == [("dog",)]


def test_multilabel_matches_aws_transform_but_uses_the_accepted_type(tmp_path: Path) -> None:
    src = os.path.join(ML_ORACLE, "input-examplefromdocumentation.manifest")
    summary = convert_source("groundtruth", src, tmp_path / "ml", creation_date=DATE)
    ours = _lines(tmp_path / "ml.manifest")
    theirs = _lines(Path(os.path.join(ML_ORACLE, "new-examplefromdocumentation.manifest")))
    assert [x["source-ref"] for x in ours] == [x["source-ref"] for x in theirs]

    def names(line: dict) -> list[str]:  # type: ignore[type-arg]
        return [v["class-name"] for k, v in line.items() if k.endswith("-metadata")]

    assert names(ours[0]) == names(theirs[0]) == ["bicycle", "person", "clothing"]
    assert {v["type"] for k, v in theirs[0].items() if k.endswith("-metadata")} == {MULTILABEL_TYPE}
    assert {v["type"] for k, v in ours[0].items() if k.endswith("-metadata")} == {CLASSIFICATION_TYPE}
    assert summary.notes["MK_MULTILABEL_REWRITTEN"].count == 1
    # Our attribute names are label, label-1, label-2; values are class ids in sorted label order.
    assert [ours[0][k] for k in ("label", "label-1", "label-2")] == [0, 2, 1]


def test_bounding_box_output_keeps_consistent_source_ids(tmp_path: Path) -> None:
    ds = read_groundtruth(_block(9, tmp_path))
    item = next(iter(ds))
    assert [(b.label, b.class_id, b.left, b.top) for b in item.boxes] == [
        ("dog", 0, 111, 134), ("bone", 5, 161, 250), ("bone", 5, 20, 20)]
    assert ds.classes == {"dog": 0, "bone": 5}
    assert (item.width, item.height) == (500, 400)
    assert ds.summary.notes["MK_CONFIDENCE_RESET"].count == 1


def test_adjustment_attribute_wins(tmp_path: Path) -> None:
    with open(os.path.join(BLOCKS, "block-10.json"), encoding="utf-8") as fp:
        obj = json.load(fp)
    obj["source-ref"] = "s3://AWSDOC-EXAMPLE-BUCKET/adjusted.png"  # the doc writes a placeholder here
    p = tmp_path / "adj.manifest"
    p.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    ds = read_groundtruth(p)
    item = next(iter(ds))
    # adjusted-bounding-box (created 2018-11-20) moved the dog to (110, 135) and a bone to (10, 10).
    assert [(b.label, b.left, b.top) for b in item.boxes] == [("dog", 110, 135), ("bone", 161, 250),
                                                              ("bone", 10, 10)]
    assert ds.summary.notes["MK_SEVERAL_BOX_ATTRIBUTES"].examples == ["line 1 (adjusted-bounding-box)"]
    original = read_groundtruth(p, attribute="bounding-box-attribute-name")
    assert [(b.left, b.top) for b in next(iter(original)).boxes][0] == (111, 134)


def test_verification_verdicts(tmp_path: Path) -> None:
    p = _block(12, tmp_path)
    kept = read_groundtruth(p)
    assert [len(it.boxes) for it in kept] == [3]
    assert kept.summary.notes["MK_VERIFICATION_IGNORED"].examples == [
        "line 1 (verify-bounding-box-attribute-name: bad)"]
    with pytest.raises(SourceError, match="verification"):
        read_groundtruth(p, reject=["bad"])


def test_mixed_example_manifest_is_sorted_out_line_by_line(tmp_path: Path) -> None:
    summary = convert_source("groundtruth", GT_EXAMPLES, tmp_path / "mixed", creation_date=DATE)
    notes = summary.notes
    # Line 3 is text (source, not source-ref); 5 and 7 are not s3:// URIs; line 4 repeats line 2's image.
    assert notes["MK_NO_SOURCE_REF"].examples == ["line 3"]
    assert notes["ERROR_INVALID_SOURCE_REF_FORMAT"].count == 2
    assert notes["MK_DUPLICATE_SOURCE_REF"].count == 1
    # More image-label lines than box lines: an image-label manifest; box lines 6 and 8 are reported.
    assert summary.task == "classification"
    assert notes["MK_MIXED_TASKS"].examples == ["line 6", "line 8"]
    assert _lines(tmp_path / "mixed.manifest")[1]["label-metadata"]["class-name"] == "dog"
    # Classes of the written task only (not the box lines' dog/bone), 0..N-1 in sorted order.
    assert [x["label"] for x in _lines(tmp_path / "mixed.manifest")] == [1, 0]


def test_real_classification_job_output(tmp_path: Path) -> None:
    summary = convert_source("groundtruth", IC_OUTPUT, tmp_path / "ic", creation_date=DATE)
    assert summary.images == 302 and len(summary.labels) == 10
    assert not summary.notes


def test_real_detection_job_output_with_float_noise(tmp_path: Path) -> None:
    summary = convert_source("groundtruth", OD_OUTPUT, tmp_path / "od", creation_date=DATE)
    assert summary.task == "detection" and summary.images == 100 and summary.boxes == 192
    assert summary.notes["MK_BOX_ROUNDED"].count > 0
    for line in _lines(tmp_path / "od.manifest"):
        for ann in line["category"]["annotations"] if "category" in line else line["bounding-box"]["annotations"]:
            assert all(isinstance(ann[k], int) for k in ("left", "top", "width", "height"))


def test_no_image_line_at_all(tmp_path: Path) -> None:
    p = tmp_path / "t.manifest"
    p.write_text(json.dumps({"source": "text", "x": 1}) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no labelled image line"):
        read_groundtruth(p)
    p.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(SourceError, match="invalid JSON"):
        read_groundtruth(p)


# ------------------------------------------------------------------------------------------- entries

def _entry(ref: str, labels: list[str], **extra: object) -> dict:  # type: ignore[type-arg]
    line: dict = {"source-ref": ref}  # type: ignore[type-arg]
    for i, lab in enumerate(labels):
        line[lab] = 1
        line[lab + "-metadata"] = {"confidence": 1, "job-name": "labeling-job/" + lab, "class-name": lab,
                                   "human-annotated": "yes", "creation-date": "2021-07-11T03:32:13.456Z",
                                   "type": CLASSIFICATION_TYPE}
    line.update(extra)
    return line


def test_entries_as_json_lines_cli_json_and_strings(tmp_path: Path) -> None:
    good = _entry("s3://bkt/camellia1.jpg", ["camellia", "with_leaves"], **{"cl-metadata": {"is_labeled": True}})
    unlabeled = {"source-ref": "s3://bkt/x.jpg", "cl-metadata": {"is_labeled": False}}
    broken = _entry("s3://bkt/y.jpg", ["camellia"], **{"cl-errors": [{"code": "ERROR_INVALID_IMAGE_DIMENSION",
                                                                    "message": "..."}]})
    lines = tmp_path / "entries.jsonl"
    lines.write_text("\n".join(json.dumps(x) for x in (good, unlabeled, broken)) + "\n", encoding="utf-8")
    doc = tmp_path / "entries.json"
    doc.write_text(json.dumps({"DatasetEntries": [json.dumps(x) for x in (good, unlabeled, broken)]}, indent=4),
                   encoding="utf-8")
    strings = tmp_path / "strings.jsonl"
    strings.write_text("\n".join(json.dumps(json.dumps(x)) for x in (good, unlabeled, broken)) + "\n",
                       encoding="utf-8")
    for src in (lines, doc, strings):
        ds = read_entries(src)
        assert [(it.source_ref, it.labels) for it in ds] == [("s3://bkt/camellia1.jpg", ("camellia", "with_leaves"))]
        assert ds.summary.notes["MK_UNLABELLED_ENTRY"].count == 1
        assert ds.summary.notes["MK_ENTRY_HAS_ERRORS"].examples == ["entry 3 (ERROR_INVALID_IMAGE_DIMENSION)"]
    kept = read_entries(lines, keep_errors=True)
    assert [it.source_ref for it in kept] == ["s3://bkt/camellia1.jpg", "s3://bkt/y.jpg"]
    convert_source("entries", lines, tmp_path / "out", creation_date=DATE)
    out = (tmp_path / "out.manifest").read_text(encoding="utf-8")
    assert "cl-metadata" not in out and "cl-errors" not in out


def test_entries_with_rekognition_annotations_errors() -> None:
    ds = read_entries(VALIDATION_LINES)
    items = list(ds)
    # Line 4 keeps its valid box; the 1x1 box marked ERROR_BOUNDING_BOX_TOO_SMALL is dropped.
    assert [(it.source_ref, [b.label for b in it.boxes]) for it in items] == [
        ("s3://bucket/Manifests/images/199940-1791.jpg", ["Echo"])]
    assert ds.summary.notes["MK_BOX_HAS_ERRORS"].count == 1
    assert ds.summary.notes["MK_ENTRY_HAS_ERRORS"].count == 1


def test_cli(tmp_path: Path) -> None:
    src = os.path.join(ML_ORACLE, "input-examplefromdocumentation.manifest")
    res = CliRunner().invoke(app, ["convert", "groundtruth", src, "-o", str(tmp_path / "g"), "--creation-date",
                                   DATE, "--label-attribute", "things"])
    assert res.exit_code == 0, res.output
    line = _lines(tmp_path / "g.manifest")[0]
    assert line["things-metadata"]["class-name"] == "bicycle" and "things-2" in line
    assert "MK_MULTILABEL_REWRITTEN" in res.output
    p = _block(12, tmp_path)
    rej = CliRunner().invoke(app, ["convert", "groundtruth", str(p), "-o", str(tmp_path / "r"), "--reject", "bad"])
    assert rej.exit_code == 1 and "error:" in rej.output
    auto = CliRunner().invoke(app, ["convert", "auto", src, "-o", str(tmp_path / "a")])
    assert auto.exit_code == 0 and "detected groundtruth" in auto.output


_names = st.lists(st.text(alphabet="abcdefghij _-", min_size=1, max_size=6).filter(lambda s: s.strip() == s),
                  min_size=1, max_size=6, unique=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(_names, st.booleans()), min_size=1, max_size=8))
def test_multilabel_rewrite_keeps_every_label(tmp_path: Path, lines: list[tuple[list[str], bool]]) -> None:
    """Native multi-label lines (ids shuffled, as Ground Truth writes them) read back with the same labels."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        src = Path(tmp) / "out.manifest"
        rows = []
        for i, (names, reverse) in enumerate(lines):
            ids = list(range(len(names)))[::-1] if reverse else list(range(len(names)))
            rows.append({"source-ref": f"s3://bkt/img{i}.jpg", "job": ids,
                         "job-metadata": {"class-map": {str(k): names[k] for k in ids},
                                          "confidence-map": {str(k): 0.5 for k in ids},
                                          "type": MULTILABEL_TYPE, "human-annotated": "yes",
                                          "creation-date": DATE, "job-name": "labeling-job/job"}})
        src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        convert_source("groundtruth", src, Path(tmp) / "m", creation_date=DATE)
        back = list(read_manifest(Path(tmp) / "m.manifest"))
        want = [[names[k] for k in (list(range(len(names)))[::-1] if rev else range(len(names)))]
                for names, rev in lines]
        assert [list(it.labels) for it in back] == want
        assert _types(Path(tmp) / "m.manifest") == {CLASSIFICATION_TYPE}


def _types(path: Path) -> set[str]:
    return {v["type"] for raw in path.read_text(encoding="utf-8").splitlines()
            for k, v in json.loads(raw).items() if k.endswith("-metadata")}
