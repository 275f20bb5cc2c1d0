"""evaluate(): both summary layouts, per-label metrics, confusion matrix, worst test images."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import CONFORMANCE
from hypothesis import given, settings
from hypothesis import strategies as st
from rekstub import PROJECT, Stubbed, rek  # noqa: F401
from s3server import s3_client, s3_endpoint  # noqa: F401
from typer.testing import CliRunner

from manifestkit import aws
from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.rekognition import evaluate, parse_summary, worst_images

SUMMARY_DOC = os.path.join(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide", "doc_source",
                           "im-summary-file-api.md.blocks", "block-00.json")

# The reference layout (rekognition.md 5.2): aggregates nested under "Metrics", detection fields.
NESTED = {
    "Version": 1,
    "EvaluationDetails": {"ProjectVersionArn": "arn:aws:rekognition:us-east-1:123456789012:project/parts/version/v1/1",
                          "EvaluationEndTimestamp": "2026-11-27T21:00:00", "Labels": ["cap", "screw"],
                          "NumberOfTrainingImages": 400, "NumberOfTestingImages": 100},
    "AggregatedEvaluationResults": {"Metrics": {"Precision": 0.8, "Recall": 0.7, "F1Score": 0.75,
                                                "AveragePrecision": 0.66, "AverageRecall": 0.61}},
    "LabelEvaluationResults": [
        {"Label": "screw", "NumberOfTestingImages": 60,
         "Metrics": {"Threshold": 0.41, "Precision": 0.9, "Recall": 0.8, "F1Score": 0.85}},
        {"Label": "cap", "NumberOfTestingImages": 40,
         "Metrics": {"Threshold": 0.52, "Precision": 0.6, "Recall": 0.5, "F1Score": 0.55}}],
}


def test_guide_example_layout_without_metrics_level() -> None:
    with open(SUMMARY_DOC) as fp:
        ev = parse_summary(json.load(fp), project="p", version="v0")
    assert ev.task == "classification"
    assert ev.f1 == pytest.approx(0.9726959470546408)
    assert ev.precision == pytest.approx(0.9719115848331294) and ev.recall == pytest.approx(0.9735042735042735)
    assert (ev.training_images, ev.testing_images) == (5216, 624)
    assert [(lm.label, lm.test_images) for lm in ev.labels] == [("WATCH", 234), ("CAP", 390)]  # worst F1 first
    assert ev.labels[0].threshold == pytest.approx(0.014450683258473873)
    assert len(ev.confusion) == 4
    assert {"ground_truth": "WATCH", "predicted": "CAP", "value": pytest.approx(0.1794871794871795)} in ev.confusion
    assert ev.average_precision is None


def test_reference_layout_with_metrics_level_is_detection() -> None:
    ev = parse_summary(NESTED)
    assert ev.task == "detection"
    assert (ev.f1, ev.average_precision, ev.average_recall) == (0.75, 0.66, 0.61)
    assert [lm.label for lm in ev.labels] == ["cap", "screw"]
    assert ev.confusion == []


def test_not_a_summary_is_refused() -> None:
    with pytest.raises(ManifestKitError, match="AggregatedEvaluationResults"):
        parse_summary({"Version": 1})


def _classification_line(ref: str, truth: str, predicted: str, conf: float, *, fp: bool, fn: bool) -> dict[str, Any]:
    # The classification example of im-evaluation-manifest-snapshot-api.md (block 01), made concrete.
    return {
        "source-ref": ref,
        "rekognition-custom-labels-training-0": 1,
        "rekognition-custom-labels-training-0-metadata": {
            "confidence": 1.0, "job-name": "rekognition-custom-labels-training-job", "class-name": truth,
            "human-annotated": "yes", "creation-date": "2019-09-06T00:07:25.488243",
            "type": "groundtruth/image-classification"},
        "rekognition-custom-labels-evaluation-0": 1,
        "rekognition-custom-labels-evaluation-0-metadata": {
            "confidence": conf, "job-name": "rekognition-custom-labels-evaluation-job", "class-name": predicted,
            "human-annotated": "no", "creation-date": "2019-09-06T00:07:25.488243",
            "type": "groundtruth/image-classification",
            "rekognition-custom-labels-evaluation-details": {
                "version": 1, "ground-truth-labelling-jobs": ["rekognition-custom-labels-training-job"],
                "is-true-positive": not fp and not fn, "is-true-negative": False, "is-false-positive": fp,
                "is-false-negative": fn, "is-present-in-ground-truth": truth == predicted}}}


def _detection_line(ref: str, flags: list[tuple[bool, bool, float]]) -> dict[str, Any]:
    # The detection example of the same page: details inside each predicted object.
    anns = [{"class_id": i % 2, "width": 39, "top": 409, "height": 63, "left": 712} for i in range(len(flags))]
    return {
        "source-ref": ref,
        "rekognition-custom-labels-training-0": {"annotations": anns[:1], "image_size": [
            {"width": 1024, "depth": 3, "height": 768}]},
        "rekognition-custom-labels-training-0-metadata": {
            "job-name": "rekognition-custom-labels-training-job", "class-map": {"0": "Cap", "1": "Watch"},
            "human-annotated": "yes", "objects": [{"confidence": 1.0}], "creation-date": "2019-10-21T22:02:18.432644",
            "type": "groundtruth/object-detection"},
        "rekognition-custom-labels-evaluation": {"annotations": anns, "image_size": [
            {"width": 1024, "depth": 3, "height": 768}]},
        "rekognition-custom-labels-evaluation-metadata": {
            "confidence": 0.95, "job-name": "rekognition-custom-labels-evaluation-job",
            "class-map": {"0": "Cap", "1": "Watch"}, "human-annotated": "no",
            "objects": [{"confidence": c, "rekognition-custom-labels-evaluation-details": {
                "version": 1, "ground-truth-labelling-jobs": ["rekognition-custom-labels-training-job"],
                "is-true-positive": not fp and not fn, "is-true-negative": False, "is-false-positive": fp,
                "is-false-negative": fn, "is-present-in-ground-truth": not fp}} for fp, fn, c in flags],
            "creation-date": "2019-10-21T22:02:18.432644", "type": "groundtruth/object-detection"}}


def _jsonl(lines: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(x).encode() + b"\n" for x in lines]


def test_worst_classification_images_rank_errors_then_confidence() -> None:
    lines = [_classification_line("s3://b/ok.jpg", "cap", "cap", 0.99, fp=False, fn=False),
             _classification_line("s3://b/low.jpg", "cap", "watch", 0.55, fp=True, fn=False),
             _classification_line("s3://b/high.jpg", "cap", "watch", 0.97, fp=True, fn=False),
             _classification_line("s3://b/miss.jpg", "watch", "watch", 0.2, fp=False, fn=True)]
    worst, task = worst_images(_jsonl(lines) + [b"\n", b"not json\n"], 2)
    assert task == "classification"
    assert [w.source_ref for w in worst] == ["s3://b/high.jpg", "s3://b/low.jpg"]
    assert worst[0].false_positive_labels == ["watch"] and worst[0].ground_truth == ["cap"]
    assert worst[0].top_false_positive_confidence == 0.97


def test_worst_detection_images_count_objects() -> None:
    lines = [_detection_line("s3://b/a.jpg", [(False, False, 0.9), (True, False, 0.8)]),
             _detection_line("s3://b/b.jpg", [(True, False, 0.6), (False, True, 0.4), (True, False, 0.3)]),
             _detection_line("s3://b/c.jpg", [(False, False, 0.9)])]
    worst, task = worst_images(_jsonl(lines), 10)
    assert task == "detection"
    assert [(w.source_ref, w.false_positives, w.false_negatives) for w in worst] == [
        ("s3://b/b.jpg", 2, 1), ("s3://b/a.jpg", 1, 0)]
    assert worst[0].false_positive_labels == ["Cap", "Cap"] and worst[0].false_negative_labels == ["Watch"]
    assert worst[0].ground_truth == ["Cap"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from([0.1, 0.5, 0.9])), max_size=25),
       st.integers(0, 6))
def test_worst_images_is_the_top_n_of_a_full_sort(images: list[tuple[int, int, float]], n: int) -> None:
    lines = []
    for i, (fps, fns, conf) in enumerate(images):
        flags = [(True, False, conf)] * fps + [(False, True, 0.2)] * fns + [(False, False, 0.9)]
        lines.append(_detection_line(f"s3://b/{i}.jpg", flags))
    worst, _ = worst_images(_jsonl(lines), n)
    full = sorted(((fps + fns, conf if fps else 0.0, -i) for i, (fps, fns, conf) in enumerate(images)
                   if fps + fns), reverse=True)[:n]
    assert [w.source_ref for w in worst] == [f"s3://b/{-k[2]}.jpg" for k in full]


def _trained_version(s3: Any) -> dict[str, Any]:
    b = s3.test_bucket
    with open(SUMMARY_DOC, "rb") as fp:
        s3.put_object(Bucket=b, Key="out/EvaluationResultSummary-parts-v1.json", Body=fp.read())
    lines = [_classification_line("s3://b/high.jpg", "CAP", "WATCH", 0.97, fp=True, fn=False),
             _classification_line("s3://b/fine.jpg", "CAP", "CAP", 0.97, fp=False, fn=False)]
    s3.put_object(Bucket=b, Key="out/TestingDataResult.manifest", Body=b"".join(_jsonl(lines)))
    return {"EvaluationResult": {"F1Score": 0.97, "Summary": {"S3Object": {
                "Bucket": b, "Name": "out/EvaluationResultSummary-parts-v1.json"}}},
            "TestingDataResult": {"Output": {"Assets": [{"GroundTruthManifest": {"S3Object": {
                "Bucket": b, "Name": "out/TestingDataResult.manifest"}}}]}}}


def test_evaluate_fetches_summary_and_snapshot(rek: Stubbed, s3_client: Any) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "TRAINING_COMPLETED", **_trained_version(s3_client))
    ev = evaluate(rekognition=rek.client, s3=s3_client, project=PROJECT, version="v1")
    assert ev.f1 == 0.97 and ev.task == "classification"
    assert [w.source_ref for w in ev.worst] == ["s3://b/high.jpg"]
    assert ev.summary_uri == f"s3://{s3_client.test_bucket}/out/EvaluationResultSummary-parts-v1.json"


def test_evaluate_before_training_succeeded_says_why(rek: Stubbed, s3_client: Any) -> None:  # noqa: F811
    rek.project()
    rek.version("v1", "TRAINING_IN_PROGRESS")
    with pytest.raises(ManifestKitError, match="only after a successful training.*status --wait"):
        evaluate(rekognition=rek.client, s3=s3_client, project=PROJECT, version="v1")


def test_unknown_project_is_a_clear_error(rek: Stubbed, s3_client: Any) -> None:  # noqa: F811
    rek.project(arn=None)
    with pytest.raises(ManifestKitError, match="there is no project 'parts' in us-east-1"):
        evaluate(rekognition=rek.client, s3=s3_client, project=PROJECT, version="v1")


def test_cli_evaluate_table_and_json(rek: Stubbed, s3_client: Any,  # noqa: F811
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=s3_client))
    desc = _trained_version(s3_client)
    for _ in range(2):
        rek.project()
        rek.version("v1", "TRAINING_COMPLETED", **desc)
    result = CliRunner().invoke(app, ["evaluate", "--project", PROJECT, "--version", "v1"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "parts/v1 (classification): F1 0.970" in out
    assert "WATCH  0.962      0.970   0.966  0.014      234" in out
    assert "confusion matrix (rows: ground truth, columns: predicted)" in out
    assert "s3://b/high.jpg: 1 false positive(s) WATCH (top confidence 0.97) [labelled: CAP]" in out
    result = CliRunner().invoke(app, ["evaluate", "--project", PROJECT, "--version", "v1", "--json"])
    data = json.loads(result.stdout)
    assert data["worst"][0]["errors"] == 1 and data["labels"][1]["label"] == "CAP"
