"""A trained model's evaluation: the summary file, per-label metrics, and the worst test images.

The summary file comes in two documented layouts (rekognition.md 5.2): aggregate metrics under
``AggregatedEvaluationResults.Metrics``, or directly under ``AggregatedEvaluationResults`` (the guide's
worked example). Both are read. The worst images come from the evaluation manifest snapshot
(``TestingDataResult.Output``), whose prediction metadata flags each prediction as a true/false
positive/negative (rekognition.md 5.3).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from ..errors import ManifestKitError
from ._base import describe_version, project_arn, read_s3_json, read_s3_lines, s3_object_uri

__all__ = ["Evaluation", "ImageErrors", "LabelMetrics", "evaluate", "parse_summary", "worst_images"]

_decode = msgspec.json.Decoder().decode
_EVAL_PREFIX = "rekognition-custom-labels-evaluation"
_TRAIN_PREFIX = "rekognition-custom-labels-training"
_DETAILS = "rekognition-custom-labels-evaluation-details"


@dataclass
class LabelMetrics:
    """One label's line of the summary: metrics at the label's assumed threshold (0..1)."""

    label: str
    precision: float | None
    recall: float | None
    f1: float | None
    threshold: float | None
    test_images: int | None


@dataclass
class ImageErrors:
    """A test image the model got wrong: counts of false positives/negatives and the labels involved."""

    source_ref: str
    false_positives: int = 0
    false_negatives: int = 0
    top_false_positive_confidence: float = 0.0
    false_positive_labels: list[str] = field(default_factory=list)
    false_negative_labels: list[str] = field(default_factory=list)
    ground_truth: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.false_positives + self.false_negatives


@dataclass
class Evaluation:
    """Everything ``manifestkit evaluate`` reports."""

    project: str
    version: str
    task: str                                  # "classification", "detection" or "unknown"
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    average_precision: float | None = None     # detection only (mAP)
    average_recall: float | None = None        # detection only (mAR)
    training_images: int | None = None
    testing_images: int | None = None
    threshold_note: str = "thresholds are on a 0..1 scale; DetectCustomLabels' MinConfidence is threshold x 100"
    labels: list[LabelMetrics] = field(default_factory=list)
    confusion: list[dict[str, Any]] = field(default_factory=list)   # classification only
    worst: list[ImageErrors] = field(default_factory=list)
    summary_uri: str | None = None
    snapshot_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for w, img in zip(d["worst"], self.worst):
            w["errors"] = img.errors
        return d


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def parse_summary(doc: Any, *, project: str = "", version: str = "") -> Evaluation:
    """Read an evaluation summary file (either documented layout) into an :class:`Evaluation`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("AggregatedEvaluationResults"), dict):
        raise ManifestKitError("not a Rekognition evaluation summary: AggregatedEvaluationResults is missing")
    agg = doc["AggregatedEvaluationResults"]
    # Layout 1 nests the aggregates under "Metrics"; layout 2 (the guide's example) does not.
    metrics = agg["Metrics"] if isinstance(agg.get("Metrics"), dict) else agg
    details = doc.get("EvaluationDetails") if isinstance(doc.get("EvaluationDetails"), dict) else {}
    confusion = metrics.get("ConfusionMatrix", agg.get("ConfusionMatrix"))
    ev = Evaluation(project=project, version=version, task="unknown",
                    f1=_num(metrics.get("F1Score")), precision=_num(metrics.get("Precision")),
                    recall=_num(metrics.get("Recall")), average_precision=_num(metrics.get("AveragePrecision")),
                    average_recall=_num(metrics.get("AverageRecall")),
                    training_images=_int(details.get("NumberOfTrainingImages")),
                    testing_images=_int(details.get("NumberOfTestingImages")))
    if isinstance(confusion, list):
        ev.confusion = [{"ground_truth": c.get("GroundTruthLabel"), "predicted": c.get("PredictedLabel"),
                         "value": _num(c.get("Value"))} for c in confusion if isinstance(c, dict)]
    if ev.confusion:
        ev.task = "classification"
    elif ev.average_precision is not None or ev.average_recall is not None:
        ev.task = "detection"
    for entry in doc.get("LabelEvaluationResults") or []:
        if not isinstance(entry, dict):
            continue
        m = entry.get("Metrics") if isinstance(entry.get("Metrics"), dict) else entry
        ev.labels.append(LabelMetrics(label=str(entry.get("Label", "")), precision=_num(m.get("Precision")),
                                      recall=_num(m.get("Recall")), f1=_num(m.get("F1Score")),
                                      threshold=_num(m.get("Threshold")),
                                      test_images=_int(entry.get("NumberOfTestingImages"))))
    # Worst first: the labels that need attention lead the table.
    ev.labels.sort(key=lambda lm: (lm.f1 if lm.f1 is not None else -1.0, lm.label))
    return ev


def _line_errors(obj: dict[str, Any]) -> tuple[ImageErrors | None, str | None]:
    """The errors of one evaluation-snapshot line, and its task (None if the line has no predictions)."""
    ref = obj.get("source-ref")
    img = ImageErrors(source_ref=ref if isinstance(ref, str) else "")
    task = None
    for name, meta in obj.items():
        if not name.endswith("-metadata") or not isinstance(meta, dict):
            continue
        attr = name[: -len("-metadata")]
        if attr.startswith(_TRAIN_PREFIX):
            if isinstance(meta.get("class-name"), str):
                img.ground_truth.append(meta["class-name"])
            elif isinstance(meta.get("class-map"), dict):
                value = obj.get(attr) if isinstance(obj.get(attr), dict) else {}
                cmap = meta["class-map"]
                for ann in value.get("annotations") or []:
                    label = cmap.get(str(ann.get("class_id"))) if isinstance(ann, dict) else None
                    if isinstance(label, str) and label not in img.ground_truth:
                        img.ground_truth.append(label)
            continue
        if not attr.startswith(_EVAL_PREFIX):
            continue
        if isinstance(meta.get(_DETAILS), dict):     # classification: one details object per label pair
            task = "classification"
            flags = [(meta[_DETAILS], meta.get("class-name"), _num(meta.get("confidence")))]
        else:                                         # detection: details on every predicted object
            task = "detection"
            value = obj.get(attr) if isinstance(obj.get(attr), dict) else {}
            anns = value.get("annotations") or []
            cmap = meta.get("class-map") if isinstance(meta.get("class-map"), dict) else {}
            flags = []
            for i, o in enumerate(meta.get("objects") or []):
                if not isinstance(o, dict) or not isinstance(o.get(_DETAILS), dict):
                    continue
                cid = anns[i].get("class_id") if i < len(anns) and isinstance(anns[i], dict) else None
                flags.append((o[_DETAILS], cmap.get(str(cid), None if cid is None else str(cid)),
                              _num(o.get("confidence"))))
        for details, label, conf in flags:
            label = str(label) if label is not None else "?"
            if details.get("is-false-positive") is True:
                img.false_positives += 1
                img.false_positive_labels.append(label)
                img.top_false_positive_confidence = max(img.top_false_positive_confidence, conf or 0.0)
            if details.get("is-false-negative") is True:
                img.false_negatives += 1
                img.false_negative_labels.append(label)
    return (img if task else None), task


def worst_images(lines: Iterable[bytes], n: int = 10) -> tuple[list[ImageErrors], str | None]:
    """The ``n`` test images with the most errors (confident false positives first), and the task.

    Streams the snapshot and keeps only ``n`` images in memory.
    """
    heap: list[tuple[tuple[int, float], int, ImageErrors]] = []
    counter = itertools.count()
    task = None
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = _decode(raw)
        except msgspec.DecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        img, line_task = _line_errors(obj)
        task = task or line_task
        if img is None or img.errors == 0 or n <= 0:
            continue
        key = (img.errors, img.top_false_positive_confidence)
        # The counter breaks ties in favour of the earlier line; it is negated so a min-heap keeps it.
        entry = (key, -next(counter), img)
        if len(heap) < n:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)
    return [e[2] for e in sorted(heap, key=lambda e: (e[0], e[1]), reverse=True)], task


def evaluate(*, rekognition: Any, s3: Any, project: str, version: str, worst: int = 10) -> Evaluation:
    """Fetch and read the evaluation of a trained version: summary, per-label metrics, worst images."""
    arn = project_arn(rekognition, project)
    desc = describe_version(rekognition, arn, version)
    result = desc.get("EvaluationResult") or {}
    summary_uri = s3_object_uri((result.get("Summary") or {}).get("S3Object"))
    if summary_uri is None:
        status = desc.get("Status")
        raise ManifestKitError(
            f"{project}/{version} has no evaluation (status {status}): evaluations exist only after a "
            "successful training" + ("; 'manifestkit status --wait' waits for it" if status == "TRAINING_IN_PROGRESS"
                                     else ""))
    ev = parse_summary(read_s3_json(s3, summary_uri), project=project, version=version)
    ev.summary_uri = summary_uri
    if result.get("F1Score") is not None:
        ev.f1 = float(result["F1Score"])
    for asset in ((desc.get("TestingDataResult") or {}).get("Output") or {}).get("Assets") or []:
        uri = s3_object_uri((asset.get("GroundTruthManifest") or {}).get("S3Object"))
        if uri:
            ev.snapshot_uri = uri
            ev.worst, task = worst_images(read_s3_lines(s3, uri), worst)
            if ev.task == "unknown" and task:
                ev.task = task
            break
    return ev
