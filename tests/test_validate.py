"""manifestkit validate: line checks, aggregate checks, verdicts and exit codes, edge inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from manifestkit import validate
from manifestkit.errors import ManifestKitError
from manifestkit.validation import CODES, TERMINAL
from manifestkit.validation.lines import check_line
from validate_helpers import cls_line, codes, det_line, write_lines


def two_labels() -> list[dict[str, Any]]:
    return [cls_line("s3://bkt/a.jpg", "cat"), cls_line("s3://bkt/b.jpg", "dog")]


def run(tmp_path: Path, lines: list[Any], name: str = "m.manifest", **kw: Any) -> Any:
    return validate(write_lines(tmp_path / name, lines), **kw)


def line_codes(obj: Any) -> list[str]:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    r = check_line(raw, 1, "m.manifest")
    return [f.code for f in r.findings or ()]


# ------------------------------------------------------------------------------------------ clean input

def test_clean_detection_and_classification(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line("s3://bkt/a.jpg"), det_line("s3://bkt/b.jpg", [(1, 0, 0, 640, 480)])])
    assert r.verdict == "clean" and r.findings == [] and r.exit_code() == 0
    (m,) = r.manifests
    assert (m.total_lines, m.valid_lines, m.use_case) == (2, 2, "OBJECT_LOCALIZATION")
    assert m.labels == {"cat": 1, "dog": 1}
    r = run(tmp_path, two_labels())
    assert r.verdict == "clean" and r.manifests[0].use_case == "IMAGE_LEVEL_LABELS"


def test_multilabel_rekognition_form_counts_every_label(tmp_path: Path) -> None:
    r = run(tmp_path, [cls_line("s3://bkt/a.jpg", "fern", "with_leaves"), cls_line("s3://bkt/b.jpg", "moss")])
    assert r.verdict == "clean"
    assert r.manifests[0].labels == {"fern": 1, "with_leaves": 1, "moss": 1}


# ------------------------------------------------------------------------------------------ line codes

def _without(d: dict[str, Any], *path: str) -> dict[str, Any]:
    d = copy.deepcopy(d)
    t = d
    for p in path[:-1]:
        t = t[p]
    del t[path[-1]]
    return d


def _with(d: dict[str, Any], value: Any, *path: Any) -> dict[str, Any]:
    d = copy.deepcopy(d)
    t = d
    for p in path[:-1]:
        t = t[p]
    t[path[-1]] = value
    return d


D = det_line()
C = cls_line()


@pytest.mark.parametrize("obj, expected", [
    (b"{not json", ["ERROR_INVALID_JSON_LINE"]),
    (b"[1, 2]", ["ERROR_INVALID_JSON_LINE"]),
    (b"", ["ERROR_INVALID_JSON_LINE"]),
    (_without(D, "source-ref"), ["ERROR_MISSING_SOURCE_REF"]),
    (_with(D, "images/a.jpg", "source-ref"), ["ERROR_INVALID_SOURCE_REF_FORMAT"]),
    (_with(D, "https://bkt.s3.amazonaws.com/a.jpg", "source-ref"), ["ERROR_INVALID_SOURCE_REF_FORMAT"]),
    (_with(D, "s3://bkt/", "source-ref"), ["ERROR_INVALID_SOURCE_REF_FORMAT"]),
    (_with(D, 7, "source-ref"), ["ERROR_INVALID_SOURCE_REF_FORMAT"]),
    ({"source-ref": "s3://bkt/a.jpg"}, ["WARNING_UNANNOTATED_RECORD"]),
    ({"source-ref": "s3://bkt/a.jpg", "warnings": [], "cl-metadata": {"is_labeled": False}},
     ["WARNING_UNANNOTATED_RECORD"]),
    # Without its metadata the box attribute is a stray key, checked as an image-level attribute value.
    (_without(D, "bounding-box-metadata"), ["ERROR_NO_LABEL_ATTRIBUTES", "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT"]),
    (_without(C, "label"), ["ERROR_NO_LABEL_ATTRIBUTES"]),
    (_with(C, "0", "label"), ["ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, [], "bounding-box", "image_size"),
     ["ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, {"width": 640, "height": 480, "depth": 3}, "bounding-box", "image_size"),
     ["ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_without(C, "label-metadata", "confidence"),
     ["ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, "maybe", "bounding-box-metadata", "human-annotated"),
     ["ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, "groundtruth/wrongtype", "bounding-box-metadata", "type"),
     ["ERROR_UNSUPPORTED_USE_CASE_TYPE", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, [], "bounding-box-metadata", "objects"),
     ["ERROR_MISSING_BOUNDING_BOX_CONFIDENCE", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, [{}], "bounding-box-metadata", "objects"),
     ["ERROR_MISSING_BOUNDING_BOX_CONFIDENCE", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(D, {"5": "cat"}, "bounding-box-metadata", "class-map"),
     ["ERROR_MISSING_CLASS_MAP_ID", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(C, "x" * 256, "label-metadata", "class-name"),
     ["ERROR_INVALID_LABEL_NAME_LENGTH", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (_with(C, "", "label-metadata", "class-name"),
     ["ERROR_INVALID_LABEL_NAME_LENGTH", "ERROR_NO_VALID_LABEL_ATTRIBUTES"]),
    (det_line(boxes=[(0, -1, 0, 10, 10)]), ["ERROR_INVALID_BOUNDING_BOX", "ERROR_NO_VALID_ANNOTATIONS"]),
    (det_line(boxes=[(0, 600, 0, 50, 10)]), ["ERROR_INVALID_BOUNDING_BOX", "ERROR_NO_VALID_ANNOTATIONS"]),
    (det_line(boxes=[(0, 0, 0, 0, 10)]), ["ERROR_INVALID_BOUNDING_BOX", "ERROR_NO_VALID_ANNOTATIONS"]),
    (det_line(boxes=[(0, 0, 0, 1, 10)]), ["ERROR_BOUNDING_BOX_TOO_SMALL", "ERROR_NO_VALID_ANNOTATIONS"]),
    (det_line(boxes=[(0, 0, 0, 2, 2)]), []),
    (det_line(boxes=[(0, 0, 0, 1, 1), (1, 5, 5, 50, 50)]), ["ERROR_BOUNDING_BOX_TOO_SMALL"]),
    (det_line(boxes=[(0, 1, 1, 10, 10)] * 51), ["ERROR_TOO_MANY_BOUNDING_BOXES"]),
    (det_line(boxes=[(0, 1, 1, 10, 10)] * 50), []),
    (det_line(boxes=[]), ["WARNING_NO_ATTRIBUTE_ANNOTATIONS", "WARNING_NO_ANNOTATIONS"]),
    (det_line(boxes=[], human="no"), ["WARNING_NO_ATTRIBUTE_ANNOTATIONS"]),
    (_without(D, "bounding-box", "annotations"), ["WARNING_NO_ATTRIBUTE_ANNOTATIONS", "WARNING_NO_ANNOTATIONS"]),
    (det_line(boxes=[(0, 10.5, 20, 100, 80)]), ["MK_NON_INTEGER_COORDINATES"]),
    (det_line(width=640.5), ["MK_NON_INTEGER_COORDINATES"]),
    (det_line(boxes=[(1.0, 10, 20, 100, 80)]), []),
])
def test_line_codes(obj: Any, expected: list[str]) -> None:
    assert line_codes(obj) == expected


def test_box_too_small_uses_the_1280_rescale() -> None:
    # A 3000x3000 image is scaled by 1280/3000: a 2-px box becomes 0.85 px (too small), 3 px stays 1.28 px.
    assert line_codes(det_line(boxes=[(0, 0, 0, 2, 100)], width=3000, height=3000)) == [
        "ERROR_BOUNDING_BOX_TOO_SMALL", "ERROR_NO_VALID_ANNOTATIONS"]
    assert line_codes(det_line(boxes=[(0, 0, 0, 3, 100)], width=3000, height=3000)) == []


def test_json_line_precedence_source_ref_first() -> None:
    # source-ref errors stop the checks: nothing else is reported on that line.
    bad = _with(det_line(boxes=[(0, -5, 0, 1, 1)]), "relative.jpg", "source-ref")
    assert line_codes(bad) == ["ERROR_INVALID_SOURCE_REF_FORMAT"]


def test_one_bad_pair_does_not_drop_a_line_with_a_good_one() -> None:
    line = cls_line("s3://bkt/a.jpg", "cat")
    line["mask-ref"] = "s3://bkt/mask.png"
    line["mask-ref-metadata"] = {"type": "groundtruth/semantic-segmentation", "human-annotated": "yes",
                                 "creation-date": "x"}
    r = check_line(json.dumps(line).encode(), 1, "m")
    assert [f.code for f in r.findings or ()] == ["ERROR_UNSUPPORTED_USE_CASE_TYPE"]
    assert r.status == 0 and r.cls_labels == ["cat"]


def test_native_multilabel_gets_a_convert_hint() -> None:
    line = {"source-ref": "s3://bkt/a.jpg", "tags": [0, 2],
            "tags-metadata": {"class-map": {"0": "fern", "2": "leaf"}, "confidence-map": {"0": 1, "2": 1},
                              "type": "groundtruth/image-classification-multilabel", "human-annotated": "yes",
                              "creation-date": "2024-05-01T12:00:00"}}
    r = check_line(json.dumps(line).encode(), 1, "m")
    assert r.findings is not None
    first = r.findings[0]
    assert first.code == "ERROR_UNSUPPORTED_USE_CASE_TYPE" and "manifestkit convert" in first.message
    assert first.attribute == "tags"


def test_findings_carry_location(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line("s3://bkt/a.jpg", [(0, 1, 1, 50, 50), (1, -3, 0, 10, 10)]),
                       det_line("s3://bkt/b.jpg")])
    (f,) = r.findings
    assert (f.code, f.line, f.annotation, f.attribute, f.source_ref, f.severity) == (
        "ERROR_INVALID_BOUNDING_BOX", 1, 1, "bounding-box", "s3://bkt/a.jpg", "error")
    assert f.manifest.endswith("m.manifest") and "clip" in f.message
    assert r.verdict == "would_train" and r.dropped_annotations == 1 and r.dropped_lines == 0


# ------------------------------------------------------------------------------------------ aggregates

def test_duplicate_source_ref_is_dropped(tmp_path: Path) -> None:
    r = run(tmp_path, [*two_labels(), cls_line("s3://bkt/a.jpg", "dog")])
    assert codes(r) == ["MK_DUPLICATE_SOURCE_REF"] and r.findings[0].line == 3
    assert r.verdict == "would_train" and r.dropped_lines == 1
    assert r.findings[0].severity == "warning"


def test_twenty_percent_budget_counts_blank_lines_not_ignored_ones(tmp_path: Path) -> None:
    good = [det_line(f"s3://bkt/{i}.jpg") for i in range(8)]
    # 2 invalid of 10 = 20 %: not more than 20 %, still trains.
    r = run(tmp_path, [*good, "", "{broken"])
    assert r.verdict == "would_train" and r.manifests[0].invalid_lines == 2
    # 3 invalid of 11 > 20 %: fails.
    r = run(tmp_path, [*good, "", "", "{broken"])
    assert r.verdict == "would_fail" and r.terminal == ["ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST"]
    assert r.exit_code() == 1
    # ignored lines (no boxes) do not count.
    r = run(tmp_path, [*good[:2], *[det_line(f"s3://bkt/e{i}.jpg", []) for i in range(8)]])
    assert r.verdict == "would_train" and r.manifests[0].ignored_lines == 8
    assert list(r.manifests[0].error_line_indices) == []


def test_error_line_indices_are_one_based(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line("s3://bkt/a.jpg"), "", det_line("s3://bkt/b.jpg"), det_line("s3://bkt/c.jpg"),
                       det_line("s3://bkt/d.jpg"), det_line("s3://bkt/e.jpg")])
    assert list(r.manifests[0].error_line_indices) == [2]
    assert [f.line for f in r.findings] == [2]


def test_multiple_buckets_fail(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line("s3://one/a.jpg"), det_line("s3://two/b.jpg")])
    assert r.verdict == "would_fail" and r.terminal == ["ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"]
    agg = r.findings[-1]
    assert agg.line is None and "one" in agg.message and "two" in agg.message


def test_label_counts(tmp_path: Path) -> None:
    r = run(tmp_path, [cls_line("s3://bkt/a.jpg", "cat")])
    assert r.terminal == ["ERROR_MANIFEST_TOO_FEW_LABELS"]
    r = run(tmp_path, [det_line("s3://bkt/a.jpg")])
    assert r.verdict == "clean"
    many = [cls_line(f"s3://bkt/{i}.jpg", f"label{i}") for i in range(251)]
    r = run(tmp_path, many)
    assert r.terminal == ["ERROR_MANIFEST_TOO_MANY_LABELS"]
    assert run(tmp_path, many[:250]).verdict == "clean"


def test_extension_and_empty(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line()], name="noext")
    assert r.terminal == ["ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT"]
    r = run(tmp_path, [det_line()], name="m.jsonl")
    assert r.verdict == "clean" and codes(r) == ["MK_MANIFEST_EXTENSION"]
    (tmp_path / "e.manifest").write_bytes(b"")
    r = validate(tmp_path / "e.manifest")
    assert r.verdict == "would_fail" and "MK_MANIFEST_EMPTY" in r.terminal


def test_mixed_use_case_drops_the_minority_kind(tmp_path: Path) -> None:
    lines = [det_line(f"s3://bkt/{i}.jpg") for i in range(3)] + [cls_line("s3://bkt/c.jpg", "x")]
    r = run(tmp_path, lines)
    m = r.manifests[0]
    assert m.use_case == "OBJECT_LOCALIZATION" and m.filtered_lines == 1 and m.valid_lines == 3
    assert codes(r) == ["MK_MIXED_USE_CASE"] and "line(s) 4" in r.findings[0].message
    assert r.verdict == "would_train"
    lines = [cls_line(f"s3://bkt/{i}.jpg", "a" if i % 2 else "b") for i in range(3)] + [det_line("s3://bkt/d.jpg")]
    r = run(tmp_path, lines)
    assert r.manifests[0].use_case == "IMAGE_LEVEL_LABELS" and r.manifests[0].labels == {"a": 1, "b": 2}
    # After filtering, one image-level label is left: the "usable" variant of the code.
    r = run(tmp_path, [det_line("s3://bkt/a.jpg"), cls_line("s3://bkt/b.jpg", "x")])
    assert r.terminal == [] and r.manifests[0].use_case == "OBJECT_LOCALIZATION"
    r = run(tmp_path, [cls_line("s3://bkt/a.jpg", "x"), cls_line("s3://bkt/b.jpg", "x"), det_line("s3://bkt/c.jpg")])
    assert r.terminal == ["ERROR_MANIFEST_TOO_FEW_USABLE_LABELS"]


def test_rows_limit_depends_on_use_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import manifestkit.validation.core as core

    monkeypatch.setattr(core, "MAX_ROWS_DETECTION", 3)
    r = run(tmp_path, [det_line(f"s3://bkt/{i}.jpg") for i in range(4)])
    assert r.terminal == ["ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM"]
    r = run(tmp_path, [cls_line(f"s3://bkt/{i}.jpg", "ab"[i % 2]) for i in range(4)])
    assert r.verdict == "clean"


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import manifestkit.validation.core as core

    monkeypatch.setattr(core, "MAX_MANIFEST_BYTES", 100)
    r = run(tmp_path, [det_line()])
    assert r.terminal == ["ERROR_MANIFEST_SIZE_TOO_LARGE"]


def test_train_test_overlap_and_shared_images(tmp_path: Path) -> None:
    train = write_lines(tmp_path / "train.manifest", [cls_line(f"s3://bkt/t{i}.jpg", lab)
                                                      for i, lab in enumerate("abcd")])
    test = write_lines(tmp_path / "test.manifest", [cls_line("s3://bkt/t0.jpg", "a"), cls_line("s3://bkt/x.jpg", "z")])
    r = validate(train, test=test)
    assert r.terminal == ["ERROR_INSUFFICIENT_LABEL_OVERLAP"]
    shared = [f for f in r.findings if f.code == "MK_IMAGE_IN_TRAIN_AND_TEST"]
    assert len(shared) == 1 and shared[0].manifest == str(test) and shared[0].line == 1
    overlap = r.findings[-1]
    assert overlap.manifest is None and overlap.line is None and "25 %" in overlap.message
    test2 = write_lines(tmp_path / "test2.manifest", [cls_line("s3://bkt/y.jpg", "a"), cls_line("s3://bkt/z.jpg", "b")])
    r = validate(train, test=test2)
    assert r.verdict == "clean" and [m.role for m in r.manifests] == ["training", "testing"]


def test_strict_exit_code(tmp_path: Path) -> None:
    r = run(tmp_path, [det_line("s3://bkt/a.jpg", [(0, 1, 1, 50, 50), (1, -3, 0, 10, 10)])])
    assert r.verdict == "would_train" and r.exit_code() == 0 and r.exit_code(strict=True) == 1
    r = run(tmp_path, [det_line("s3://bkt/a.jpg", [(0, 1.5, 1, 50, 50)])])
    assert r.verdict == "clean" and r.exit_code(strict=True) == 0


def test_every_code_has_documented_severity() -> None:
    for code, c in CODES.items():
        assert c.severity in ("error", "warning", "info")
        assert code.startswith(("ERROR_", "WARNING_", "MK_"))
        assert c.trigger and c.fix
        assert (c.severity == "warning") == code.startswith("WARNING_") or code.startswith("MK_")
    assert TERMINAL <= set(CODES)


# ------------------------------------------------------------------------------------------ edge input

def test_edge_inputs_never_raise(tmp_path: Path) -> None:
    good = json.dumps(det_line("s3://bkt/a.jpg")).encode()
    data = b"\r\n".join([
        b"\xef\xbb\xbf" + good,                                  # 1 BOM, CRLF
        b"",                                                      # 2 blank
        b'{"source-ref": "s3://bkt/\xff.jpg"}',                   # 3 not UTF-8
        b'{"source-ref": "s3://bkt/n.jpg", "x": NaN}',            # 4 NaN
        b'{"source-ref": "s3://bkt/i.jpg", "x": Infinity}',       # 5 Infinity
        b"[" * 100_000,                                           # 6 deeply nested
        b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}",               # 7 nested inside an object
        b'{"source-ref": "s3://bkt/big.jpg", "pad": "' + b"x" * 5_000_000 + b'"}',  # 8 a 5 MB line
        b'{"source-ref": "s3://bkt/e.jpg", "x": 1e400}',          # 9 out of range
        json.dumps(det_line("s3://bkt/b.jpg")).encode(),          # 10 fine
    ]) + b"\r\n"
    (tmp_path / "edge.manifest").write_bytes(data)
    r = validate(tmp_path / "edge.manifest")
    by_line: dict[Any, list[str]] = {}
    for f in r.findings:
        by_line.setdefault(f.line, []).append(f.code)
    assert by_line[1] == ["MK_UTF8_BOM"]
    for n in (2, 3, 4, 5, 6, 9):
        assert by_line[n] == ["ERROR_INVALID_JSON_LINE"], n
    assert by_line[7] == ["ERROR_MISSING_SOURCE_REF"]
    assert by_line[8] == ["MK_LINE_TOO_LONG"]
    assert 10 not in by_line
    m = r.manifests[0]
    assert (m.total_lines, m.valid_lines, m.invalid_lines) == (10, 2, 8)
    assert r.terminal == ["ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST"]


def test_line_over_100000_characters_counts_characters_not_bytes(tmp_path: Path) -> None:
    line = det_line("s3://bkt/a.jpg")
    line["note"] = 1
    text = json.dumps(line)
    pad = "é" * (99_000 - len(text))  # 2 bytes each: over 100,000 bytes, under 100,000 characters
    line["bounding-box-metadata"]["job-name"] = pad
    r = run(tmp_path, [line, det_line("s3://bkt/b.jpg")])
    assert "MK_LINE_TOO_LONG" not in codes(r)
    line["bounding-box-metadata"]["job-name"] = "x" * 100_001
    r = run(tmp_path, [line, det_line("s3://bkt/b.jpg")])
    assert codes(r)[0] == "MK_LINE_TOO_LONG"


def test_missing_trailing_newline_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "m.manifest"
    p.write_bytes(json.dumps(det_line()).encode())
    assert validate(p).verdict == "clean"
    with pytest.raises(ManifestKitError, match="not found"):
        validate(tmp_path / "nope.manifest")
    with pytest.raises(ManifestKitError, match="folder"):
        validate(tmp_path)


def test_the_input_is_not_modified(tmp_path: Path) -> None:
    p = write_lines(tmp_path / "m.manifest", [det_line(boxes=[(0, -1, 0, 5, 5)]), "", "{x"])
    before = p.read_bytes()
    validate(p)
    assert p.read_bytes() == before


def test_explanations_come_from_the_schema(tmp_path: Path) -> None:
    r = run(tmp_path, [_with(D, "x", "bounding-box-metadata", "objects")])
    f = r.findings[0]
    assert f.code == "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"
    assert f.details and any("object-detection-line.schema.json" in d and "objects" in d for d in f.details)
    r = run(tmp_path, [_with(D, "x", "bounding-box-metadata", "objects")], explain=0)
    assert not r.findings[0].details
