"""manifestkit: build, validate, split, stage and train Amazon Rekognition Custom Labels manifests.

The public API is the names in ``__all__``; everything else is internal and may change.
"""

from __future__ import annotations

from .convert import convert_coco, convert_folders
from .errors import AwsError, ImageError, ManifestError, ManifestKitError, SourceError, ValidationFailed
from .export import export_manifest
from .fix import fix_manifest
from .images import ImageInfo, probe_file
from .manifest import read_manifest, write_manifest
from .model import Box, Dataset, ImageItem, Summary, Task
from .ops import convert_source, filter_manifest, merge_manifests, relabel_manifest, write_dataset
from .permissions import PolicyReport, policy
from .pipeline import PrepareResult, PrepareStopped, prepare
from .rekognition import (
    DetectReport,
    Evaluation,
    TrainingReport,
    TrainResult,
    VersionInfo,
    WaitInterrupted,
    WaitTimeout,
    detect_images,
    evaluate,
    list_versions,
    start_model,
    stop_model,
    train,
    version_status,
)
from .report import ReportResult, write_html_report, write_sample_report
from .sources import detect_format
from .sources.coco import read_coco
from .sources.csvsrc import read_csv
from .sources.entries import read_entries
from .sources.folders import read_folders
from .sources.groundtruth import read_groundtruth
from .sources.voc import read_voc
from .sources.yolo import read_yolo
from .splitting import LabelSplit, SplitResult, SplitWarning, split
from .staging import StageResult, stage
from .datastats import Stats, stats
from .validation import Finding, validate
from .validation import Report as ValidationReport

__version__ = "0.1.0"

__all__ = [
    "AwsError",
    "Box",
    "Dataset",
    "DetectReport",
    "Evaluation",
    "Finding",
    "ImageError",
    "ImageInfo",
    "ImageItem",
    "LabelSplit",
    "ManifestError",
    "ManifestKitError",
    "PolicyReport",
    "PrepareResult",
    "PrepareStopped",
    "ReportResult",
    "SourceError",
    "SplitResult",
    "SplitWarning",
    "StageResult",
    "Stats",
    "Summary",
    "Task",
    "TrainResult",
    "TrainingReport",
    "ValidationFailed",
    "ValidationReport",
    "VersionInfo",
    "WaitInterrupted",
    "WaitTimeout",
    "convert_coco",
    "convert_folders",
    "convert_source",
    "detect_format",
    "detect_images",
    "evaluate",
    "export_manifest",
    "filter_manifest",
    "fix_manifest",
    "list_versions",
    "merge_manifests",
    "policy",
    "prepare",
    "probe_file",
    "read_coco",
    "read_csv",
    "read_entries",
    "read_folders",
    "read_groundtruth",
    "read_manifest",
    "read_voc",
    "read_yolo",
    "relabel_manifest",
    "split",
    "stage",
    "start_model",
    "stats",
    "stop_model",
    "train",
    "validate",
    "version_status",
    "write_dataset",
    "write_html_report",
    "write_manifest",
    "write_sample_report",
]
