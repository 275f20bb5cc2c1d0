"""Conformance: third-party manifests and the AWS documentation's examples, tested in place."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest

from conftest import CONFORMANCE
from manifestkit import validate
from manifestkit.validation.lines import VALID, check_line

RCL = os.path.join(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide")
DOC_BLOCKS = os.path.join(RCL, "doc_source")


def all_manifests() -> list[str]:
    found = glob.glob(os.path.join(CONFORMANCE, "**", "*.manifest"), recursive=True)
    found += glob.glob(os.path.join(CONFORMANCE, "**", "*.jsonl"), recursive=True)
    return sorted(found)


def test_conformance_folder_is_there() -> None:
    assert len(all_manifests()) >= 25


@pytest.mark.parametrize("path", all_manifests(), ids=lambda p: os.path.relpath(p, CONFORMANCE))
def test_every_conformance_manifest_validates_without_raising(path: str) -> None:
    r = validate(path)
    m = r.manifests[0]
    assert m.total_lines == m.valid_lines + m.invalid_lines + m.ignored_lines
    assert r.verdict in ("clean", "would_train", "would_fail")
    broken = {f.line for f in r.findings if f.line is not None}
    assert set(m.error_line_indices) <= broken


def _lines(path: str) -> list[bytes]:
    with open(path, "rb") as fp:
        return [ln.rstrip(b"\r\n") for ln in fp if ln.strip()]


def test_doc_valid_lines_are_clean_one_by_one() -> None:
    lines = _lines(os.path.join(RCL, "derived", "doc-valid-input-lines.manifest"))
    assert len(lines) == 9
    for raw in lines:
        r = check_line(raw, 1, "doc")
        assert r.status == VALID and r.findings is None, raw[:120]


def test_doc_valid_lines_as_one_manifest() -> None:
    # As one file the nine doc lines mix image-level and box lines, three buckets and repeated images:
    # nothing is wrong inside a line, but the file as a dataset would not train (see docs/validate.md).
    r = validate(os.path.join(RCL, "derived", "doc-valid-input-lines.manifest"))
    assert {f.code for f in r.findings} == {"MK_MIXED_USE_CASE", "MK_DUPLICATE_SOURCE_REF",
                                            "ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"}
    assert r.terminal == ["ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"]
    assert r.manifests[0].use_case == "OBJECT_LOCALIZATION"


def test_doc_pretty_printed_blocks_are_clean() -> None:
    for rel in ["md-create-manifest-file-classification.md.blocks/block-01.json",
                "md-create-manifest-file-object-detection.md.blocks/block-01.json",
                "md-add-images.md.blocks/block-00.json", "md-assign-image-level-labels.md.blocks/block-00.json",
                "tm-debugging-json-line-errors.md.blocks/block-00.json",
                "tm-debugging-aggregate-errors.md.blocks/block-02.json",
                "tm-debugging-aggregate-errors.md.blocks/block-03.json"]:
        obj = json.loads(Path(DOC_BLOCKS, rel).read_text())
        r = check_line(json.dumps(obj).encode(), 1, rel)
        assert r.status == VALID and r.findings is None, rel


def _documented_codes(obj: object) -> list[str]:
    """Every code Rekognition wrote into a documented validation-result line, in document order."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("errors", "warnings", "cl-errors") and isinstance(v, list):
                out.extend(e["code"] for e in v)
            else:
                out.extend(_documented_codes(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_documented_codes(v))
    return out


def _result_examples() -> list[tuple[str, bytes]]:
    out = [(f"derived:{i}", raw) for i, raw in enumerate(_lines(os.path.join(RCL, "derived",
                                                                               "doc-validation-result-lines.jsonl")))]
    for rel in ["tm-debugging-json-line-errors.md.blocks/block-10.json",
                "tm-debugging-json-line-errors.md.blocks/block-11.json",
                "tm-debugging-json-line-errors.md.blocks/block-12.json",
                "tm-debugging-json-line-errors.md.blocks/block-13.json",
                "tm-debugging-scope-json-line.md.blocks/block-02.json"]:
        out.append((rel, json.dumps(json.loads(Path(DOC_BLOCKS, rel).read_text())).encode()))
    return out


@pytest.mark.parametrize("name, raw", _result_examples(), ids=[n for n, _ in _result_examples()])
def test_documented_validation_results_yield_the_documented_codes(name: str, raw: bytes) -> None:
    expected = _documented_codes(json.loads(raw))
    assert expected
    r = check_line(raw, 1, name)
    got = [f.code for f in r.findings or ()]
    assert sorted(got) == sorted(expected), (got, expected)


def test_doc_coco_expected_output_has_bare_image_size() -> None:
    # The COCO page prints image_size as an object; every other page (and Ground Truth) uses a list.
    r = validate(os.path.join(RCL, "derived", "doc-coco-transform-expected-output.manifest"))
    assert r.findings[0].code == "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT" and "image_size" in r.findings[0].message


def test_ground_truth_types_rekognition_does_not_train() -> None:
    gt = os.path.join(CONFORMANCE, "amazon-sagemaker-developer-guide", "derived", "gt-output-examples.manifest")
    by_line: dict[int, list[str]] = {}
    msgs: dict[int, str] = {}
    for n, raw in enumerate(_lines(gt), 1):
        r = check_line(raw, n, "gt")
        by_line[n] = [f.code for f in r.findings or ()]
        msgs[n] = " ".join(f.message for f in r.findings or ())
    assert by_line[1] == []                                        # image classification
    assert by_line[2][0] == "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT"  # label value written as "0"
    assert by_line[3] == ["ERROR_MISSING_SOURCE_REF"]               # text classification: "source"
    assert by_line[4][0] == "ERROR_UNSUPPORTED_USE_CASE_TYPE"       # native multi-label ...
    assert "manifestkit convert" in msgs[4]                         # ... with a hint to convert
    assert by_line[5] == ["ERROR_INVALID_SOURCE_REF_FORMAT"]        # multi-label text, no s3://
    assert by_line[6] == []                                         # bounding boxes
    assert by_line[7] == ["ERROR_INVALID_SOURCE_REF_FORMAT"]        # "S3 bucket location"
    assert by_line[8] == ["ERROR_UNSUPPORTED_USE_CASE_TYPE"]        # boxes + label verification pair
    seg = os.path.join(CONFORMANCE, "amazon-lookout-for-vision-image-augmentation-pipeline", "output.manifest")
    r = validate(seg)
    assert [f.code for f in r.findings if f.line == 1] == ["ERROR_UNSUPPORTED_USE_CASE_TYPE",
                                                           "ERROR_NO_VALID_LABEL_ATTRIBUTES"]
    assert "semantic-segmentation" in r.findings[0].message
    ml = os.path.join(CONFORMANCE, "oracle-outputs", "aws-gt-multilabel-transform",
                      "input-examplefromdocumentation.manifest")
    r = validate(ml)
    assert r.findings[0].code == "ERROR_UNSUPPORTED_USE_CASE_TYPE" and "manifestkit convert" in r.findings[0].message


def test_real_ground_truth_outputs() -> None:
    birds = os.path.join(CONFORMANCE, "amazon-sagemaker-examples", "archived", "pytorch_yolov5_training_and_hpo",
                         "sample_output.manifest")
    r = validate(birds)
    assert r.verdict == "clean" and {f.code for f in r.findings} == {"MK_NON_INTEGER_COORDINATES"}
    assert all(f.severity == "warning" for f in r.findings)
    assert r.manifests[0].valid_lines == 100 and r.manifests[0].labels == {"Bird": 100}
    ic = os.path.join(CONFORMANCE, "amazon-sagemaker-examples", "prepare_data",
                      "sm-ground_truth_annotation_consolidation_image_classification", "ic_data", "output.manifest")
    r = validate(ic)
    assert r.verdict == "clean" and r.findings == []
    assert r.manifests[0].valid_lines == 302 and len(r.manifests[0].labels) == 10


def test_lookout_for_vision_manifests() -> None:
    lfv = os.path.join(CONFORMANCE, "amazon-lookout-for-vision", "computer-vision-defect-detection")
    r = validate(os.path.join(lfv, "train_class.manifest"))
    missing = [f for f in r.findings if f.code == "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"]
    assert len(missing) == 32 and all("confidence" in f.message for f in missing)
    assert r.verdict == "would_fail"
    r = validate(os.path.join(lfv, "cookie-dataset", "dataset-files", "manifests", "template.manifest"))
    assert {f.code for f in r.findings if f.line is not None} == {"ERROR_INVALID_SOURCE_REF_FORMAT"}
    test_manifest = os.path.join(CONFORMANCE, "aws-doc-sdk-examples", "python", "example_code", "lookoutvision",
                                 "test.manifest")
    r = validate(test_manifest)
    counts = r.counts
    assert counts["ERROR_UNSUPPORTED_USE_CASE_TYPE"] == 32  # the segmentation pair of every anomaly line
    assert r.manifests[0].valid_lines == 31


def test_panlabel_manifests() -> None:
    pl = os.path.join(CONFORMANCE, "panlabel")
    r = validate(os.path.join(pl, "tests", "fixtures", "sample_valid.sagemaker.manifest"))
    assert [f.code for f in r.findings] == ["WARNING_NO_ATTRIBUTE_ANNOTATIONS", "WARNING_NO_ANNOTATIONS"]
    assert r.verdict == "would_train" and r.manifests[0].ignored_lines == 1
    r = validate(os.path.join(pl, "fuzz", "corpus", "sagemaker_manifest_parse", "seed_valid.jsonl"))
    f = r.findings[0]
    assert f.code == "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"
    assert "human-annotated" in f.message and "creation-date" in f.message
