"""``manifestkit validate`` on the command line, and its four output formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from manifestkit import validate
from manifestkit.cli import app
from manifestkit.validation import render_github, render_text, write_rekognition_results
from validate_helpers import cls_line, det_line, write_lines

runner = CliRunner()


def sample(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "train.manifest", [
        det_line("s3://bkt/a.jpg", [(0, 10, 10, 100, 100), (1, -5, 0, 20, 20), (2, 0, 0, 1, 1)]),
        "{broken",
        det_line("s3://bkt/c.jpg", []),
        *[det_line(f"s3://bkt/ok{i}.jpg") for i in range(7)],
    ])


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["validate", *args])


def test_text_output(tmp_path: Path) -> None:
    m = sample(tmp_path)
    res = invoke(str(m), "--max-examples", "1")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.strip().splitlines()[-1] == "verdict: would train: 2 line(s) and 2 annotation(s) would be dropped"
    assert f"{m}:2: invalid JSON" in out
    assert "error ERROR_INVALID_BOUNDING_BOX: 1 finding(s)" in out
    assert out.index("ERROR_") < out.index("WARNING_")  # errors first
    assert "training manifest" in out.splitlines()[0] and "10 lines" in out


def test_json_output_is_one_document(tmp_path: Path) -> None:
    m = write_lines(tmp_path / "train.manifest", [det_line("s3://one/x.jpg"), det_line("s3://two/y.jpg", [(0, -1, 0, 5, 5), (1, 1, 1, 50, 50)])])
    res = invoke(str(m), "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["verdict"] == "would_fail"
    assert set(doc) == {"verdict", "findings", "summary"}
    first = doc["findings"][0]
    assert {"code", "severity", "line", "manifest", "message"} <= set(first) and first["line"] == 2
    assert first["annotation"] == 0 and first["attribute"] == "bounding-box" and first["source_ref"] == "s3://two/y.jpg"
    agg = [f for f in doc["findings"] if f["code"] == "ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"]
    assert agg and agg[0]["line"] is None
    s = doc["summary"]
    assert s["terminal_errors"] == ["ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"]
    assert s["manifests"][0]["use_case"] == "OBJECT_LOCALIZATION" and s["findings_by_severity"]["error"] >= 2


def test_github_output(tmp_path: Path) -> None:
    m = sample(tmp_path)
    res = invoke(str(m), "--format", "github")
    lines = res.stdout.strip().splitlines()
    assert f"::error file={m},line=2,title=ERROR_INVALID_JSON_LINE::ERROR_INVALID_JSON_LINE invalid JSON" \
        in "\n".join(lines)
    assert any(ln.startswith("::warning file=") and "line=3" in ln for ln in lines)
    assert lines[-1].startswith("::notice title=manifestkit validate::verdict: would train")
    # workflow-command escaping
    r = validate(m)
    r.findings[0].message = "a,b:c\nd%"
    assert "a,b:c%0Ad%25" in render_github(r)


def test_strict_and_usage_errors(tmp_path: Path) -> None:
    m = sample(tmp_path)
    assert invoke(str(m)).exit_code == 0
    assert invoke(str(m), "--strict").exit_code == 1
    assert invoke(str(m), "--s3-prefix", "s3://bkt/").exit_code == 2
    assert invoke(str(m), "--images", str(tmp_path), "--s3").exit_code == 2
    res = invoke(str(tmp_path / "missing.manifest"))
    assert res.exit_code == 1 and "error:" in res.stderr and "Traceback" not in res.output
    clean = write_lines(tmp_path / "clean.manifest", [det_line()])
    assert invoke(str(clean), "--strict").exit_code == 0


def test_rekognition_output_layout(tmp_path: Path) -> None:
    m = sample(tmp_path)
    test = write_lines(tmp_path / "test.manifest", [cls_line("s3://bkt/t.jpg", "zebra"), cls_line("s3://bkt/u.jpg", "yak")])
    out = tmp_path / "out"
    res = invoke(str(m), "--test", str(test), "--format", "rekognition", "--output-dir", str(out))
    assert res.exit_code == 1, res.output  # no label overlap
    assert sorted(p.name for p in out.iterdir()) == ["manifest_summary.json", "testing_manifest_with_validation.json",
                                                     "training_manifest_with_validation.json"]
    lines = (out / "training_manifest_with_validation.json").read_text().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    anns = first["bounding-box"]["annotations"]
    assert "errors" not in anns[0]
    assert anns[1]["errors"] == [{"code": "ERROR_INVALID_BOUNDING_BOX", "message": "The bounding box has off frame "
                                                                                   "values."}]
    assert anns[2]["errors"][0]["code"] == "ERROR_BOUNDING_BOX_TOO_SMALL"
    assert json.loads(lines[1]) == {"errors": [{"code": "ERROR_INVALID_JSON_LINE",
                                                "message": "The JSON Line has an invalid format."}]}
    third = json.loads(lines[2])
    assert third["warnings"][0]["code"] == "WARNING_NO_ANNOTATIONS"
    assert third["bounding-box"]["warnings"][0]["code"] == "WARNING_NO_ATTRIBUTE_ANNOTATIONS"
    assert json.loads(lines[3]) == det_line("s3://bkt/ok0.jpg")  # untouched lines are copied
    summary = json.loads((out / "manifest_summary.json").read_text())
    tr = summary["statistics"]["training"]
    assert tr == {"use_case": "OBJECT_LOCALIZATION", "total_json_lines": 10, "valid_json_lines": 8,
                  "invalid_json_lines": 1, "ignored_json_lines": 1, "error_json_line_indices": [2], "errors": []}
    te = summary["statistics"]["testing"]
    assert te["use_case"] == "IMAGE_LEVEL_LABELS" and te["valid_json_lines"] == 2
    assert summary["errors"] == [{"code": "ERROR_INSUFFICIENT_LABEL_OVERLAP", "message": "Less than 50% label "
                                  "overlap between the training and testing manifest files."}]


def test_rekognition_output_metadata_and_line_level(tmp_path: Path) -> None:
    wrong = det_line("s3://bkt/w.jpg")
    wrong["bounding-box-metadata"]["type"] = "groundtruth/wrongtype"
    m = write_lines(tmp_path / "m.manifest", [wrong, {"source-ref": "s3://bkt/u.jpg"}, *[det_line(f"s3://bkt/{i}.jpg")
                                                                                        for i in range(4)]])
    r = validate(m)
    paths = write_rekognition_results(r, tmp_path / "o")
    assert [Path(p).name for p in paths] == ["training_manifest_with_validation.json", "manifest_summary.json"]
    lines = (tmp_path / "o" / "training_manifest_with_validation.json").read_text().splitlines()
    one = json.loads(lines[0])
    assert one["bounding-box-metadata"]["errors"] == [{
        "code": "ERROR_UNSUPPORTED_USE_CASE_TYPE",
        "message": "The use case type of the bounding-box-metadata label attribute metadata is unsupported. "
                   "Check the type field."}]
    assert one["errors"] == [{"code": "ERROR_NO_VALID_LABEL_ATTRIBUTES", "message": "No valid label attributes found."}]
    assert json.loads(lines[1])["warnings"] == [{"code": "WARNING_UNANNOTATED_RECORD", "message": "Record is "
                                                                                                   "unannotated."}]
    summary = json.loads((tmp_path / "o" / "manifest_summary.json").read_text())
    assert summary["statistics"]["training"]["errors"] == []


def test_render_text_limits_examples(tmp_path: Path) -> None:
    m = write_lines(tmp_path / "m.manifest", [det_line(f"s3://bkt/{i}.jpg", [(0, -1, 0, 5, 5), (1, 1, 1, 50, 50)])
                                              for i in range(9)])
    text = render_text(validate(m), max_examples=2)
    assert "... and 7 more" in text and text.count("is not inside") == 2


def test_docs_list_every_code() -> None:
    from manifestkit.validation import CODES

    doc = (Path(__file__).parent.parent / "docs" / "validate.md").read_text(encoding="utf-8")
    for code, c in CODES.items():
        assert f"| `{code}` | {c.severity} |" in doc, code
