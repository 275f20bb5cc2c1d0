"""manifestkit: build, validate, split, stage and train Amazon Rekognition Custom Labels manifests.

The public API is the names in ``__all__``; everything else is internal and may change.
"""

from __future__ import annotations

from .convert import convert_coco, convert_folders
from .errors import AwsError, ImageError, ManifestError, ManifestKitError, SourceError, ValidationFailed
from .images import ImageInfo, probe_file
from .manifest import read_manifest, write_manifest
from .model import Box, Dataset, ImageItem, Summary, Task
from .sources.coco import read_coco
from .sources.folders import read_folders

__version__ = "0.1.0"

__all__ = [
    "AwsError",
    "Box",
    "Dataset",
    "ImageError",
    "ImageInfo",
    "ImageItem",
    "ManifestError",
    "ManifestKitError",
    "SourceError",
    "Summary",
    "Task",
    "ValidationFailed",
    "convert_coco",
    "convert_folders",
    "probe_file",
    "read_coco",
    "read_folders",
    "read_manifest",
    "write_manifest",
]
