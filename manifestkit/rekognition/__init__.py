"""The Rekognition Custom Labels lifecycle: train, watch, evaluate, start, stop, detect.

Every function takes its clients (``rekognition``, ``s3``) as keyword parameters; only the CLI creates
them (:func:`manifestkit.aws.make_clients`).

    train.py     create the project, CreateProjectVersion (or datasets first), poll until trained
    results.py   validation files after training, findings traced to the user's manifest lines
    evaluate.py  the evaluation summary, per-label metrics, worst test images
    run.py       status listing, start and stop
    detect.py    DetectCustomLabels on a batch: JSON lines, a predictions manifest, drawings
"""

from __future__ import annotations

from ._base import Clock, ModelNotFound, WaitInterrupted, WaitTimeout, check_request, default_version_name
from .detect import DetectReport, ImageResult, detect_images, predictions_to_lines
from .evaluate import Evaluation, LabelMetrics, evaluate, parse_summary, worst_images
from .results import LineIssue, TrainingReport, training_report
from .run import StartResult, VersionInfo, list_versions, start_model, stop_model, version_status
from .train import StatusUpdate, TrainResult, poll_version, train, wait_for_training

__all__ = [
    "Clock",
    "DetectReport",
    "Evaluation",
    "ImageResult",
    "LabelMetrics",
    "LineIssue",
    "ModelNotFound",
    "StartResult",
    "StatusUpdate",
    "TrainResult",
    "TrainingReport",
    "VersionInfo",
    "WaitInterrupted",
    "WaitTimeout",
    "check_request",
    "default_version_name",
    "detect_images",
    "evaluate",
    "list_versions",
    "parse_summary",
    "poll_version",
    "predictions_to_lines",
    "start_model",
    "stop_model",
    "train",
    "training_report",
    "version_status",
    "wait_for_training",
    "worst_images",
]
