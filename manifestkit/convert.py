"""Conversions from dataset sources to manifests: one reader, then the streaming writer."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable

from .manifest import atomic_writer, write_manifest
from .model import Summary
from .sources.coco import read_coco
from .sources.folders import read_folders

__all__ = ["convert_coco", "convert_folders", "write_report"]

Progress = Callable[[int], None]


def convert_coco(annotations: str | os.PathLike[str], output: str | os.PathLike[str], *, s3_prefix: str,
                 images: str | os.PathLike[str] | None = None, label_attribute: str | None = None,
                 creation_date: str | _dt.datetime | None = None, crowd: str = "skip", bad_boxes: str = "clip",
                 keep_empty: bool = False, trust_sizes: bool = False, skip_missing: bool = False,
                 progress: Progress | None = None) -> Summary:
    """Convert a COCO detection file to an object-detection manifest. Returns the conversion summary."""
    ds = read_coco(annotations, images, crowd=crowd, bad_boxes=bad_boxes, keep_empty=keep_empty,
                   trust_sizes=trust_sizes, skip_missing=skip_missing)
    return write_manifest(ds, output, s3_prefix=s3_prefix, label_attribute=label_attribute,
                          creation_date_value=creation_date, progress=progress)


def convert_folders(root: str | os.PathLike[str], output: str | os.PathLike[str], *, s3_prefix: str,
                    label_attribute: str | None = None, creation_date: str | _dt.datetime | None = None,
                    skip_invalid: bool = False, progress: Progress | None = None) -> Summary:
    """Convert a folder-per-label tree to an image-level (classification) manifest."""
    # The scan (one header probe per image) is the slow part, so progress follows the reader.
    ds = read_folders(root, skip_invalid=skip_invalid, progress=progress)
    return write_manifest(ds, output, s3_prefix=s3_prefix, label_attribute=label_attribute,
                          creation_date_value=creation_date)


def write_report(summary: Summary, path: str | os.PathLike[str]) -> None:
    """Write the conversion summary as JSON (atomically)."""
    with atomic_writer(path, "w") as fp:
        json.dump(summary.to_dict(), fp, indent=2, ensure_ascii=False)
        fp.write("\n")
