"""Dataset source readers: a plain registry (name -> reader) and format auto-detection.

Each reader takes the source path (plus keyword options) and returns a :class:`manifestkit.model.Dataset`.
:func:`detect_format` looks at a path and says which reader fits, and why, without reading whole files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import SourceError
from ..model import Dataset

__all__ = ["READERS", "detect_format"]


def _coco(source: Any, images: Any = None, **kw: Any) -> Dataset:
    from .coco import read_coco

    return read_coco(source, images, **kw)


def _folders(source: Any, **kw: Any) -> Dataset:
    from .folders import read_folders

    return read_folders(source, **kw)


def _voc(source: Any, **kw: Any) -> Dataset:
    from .voc import read_voc

    return read_voc(source, **kw)


def _yolo(source: Any, **kw: Any) -> Dataset:
    from .yolo import read_yolo

    return read_yolo(source, **kw)


def _csv(source: Any, **kw: Any) -> Dataset:
    from .csvsrc import read_csv

    return read_csv(source, **kw)


def _groundtruth(source: Any, **kw: Any) -> Dataset:
    from .groundtruth import read_groundtruth

    return read_groundtruth(source, **kw)


def _entries(source: Any, **kw: Any) -> Dataset:
    from .entries import read_entries

    return read_entries(source, **kw)


# Imports are deferred so that one reader's import cost (or breakage) does not reach the others.
READERS: dict[str, Callable[..., Dataset]] = {
    "coco": _coco,
    "csv": _csv,
    "entries": _entries,
    "folders": _folders,
    "groundtruth": _groundtruth,
    "voc": _voc,
    "yolo": _yolo,
}

_YOLO_FILES = ("data.yaml", "data.yml", "obj.data", "obj.names", "classes.txt")
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _head(path: str, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fp:
            return fp.read(n)
    except OSError as e:
        raise SourceError(f"cannot read ({e.strerror or e})", path=path) from None


def _json_kind(path: str) -> tuple[str, str] | None:
    head = _head(path, 65536).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        return None
    first = head.split(b"\n", 1)[0]
    if b'"DatasetEntries"' in head[:400] or b'"cl-metadata"' in first or b'"cl-errors"' in first:
        return "entries", "Rekognition dataset entries (cl-metadata / DatasetEntries)"
    if b'"source-ref"' in first:
        return "groundtruth", "JSON Lines with source-ref: a Ground Truth / manifest file"
    if b'"images"' in head and (b'"annotations"' in head or b'"categories"' in head):
        return "coco", "JSON with images and annotations: COCO"
    return None


def detect_format(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Which reader fits ``path``: ``(format, reason)``. Raises SourceError when nothing fits."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise SourceError("not found", path=p)
    if os.path.isfile(p):
        name = os.path.basename(p).lower()
        ext = os.path.splitext(name)[1]
        if ext == ".xml":
            return "voc", "an .xml file: Pascal VOC annotation"
        if ext in (".csv", ".tsv"):
            return "csv", "a .csv file"
        if name in _YOLO_FILES or ext in (".yaml", ".yml"):
            return "yolo", f"{name}: YOLO dataset description (the folder holding it is read)"
        if ext in (".json", ".jsonl", ".manifest", ".ndjson", ".txt", ""):
            kind = _json_kind(p)
            if kind is not None:
                return kind
        raise SourceError("cannot tell the format of this file; name it: manifestkit convert "
                          "voc|yolo|csv|coco|groundtruth|entries", path=p)
    entries = sorted(os.listdir(p))
    lower = {e.lower() for e in entries}
    if "annotations" in lower and any(f.lower().endswith(".xml") for f in _walk_names(os.path.join(p, "Annotations"),
                                                                                       limit=200)):
        return "voc", "an Annotations/ folder with .xml files: Pascal VOC"
    for f in _YOLO_FILES:
        if f in lower:
            return "yolo", f"{f} in the folder: YOLO"
    names = _walk_names(p, limit=2000)
    xml = sum(1 for f in names if f.lower().endswith(".xml"))
    txt = sum(1 for f in names if f.lower().endswith(".txt"))
    images = sum(1 for f in names if f.lower().endswith(_IMAGE_EXTS))
    if xml and xml >= images / 2:
        return "voc", f"{xml} .xml files beside the images: Pascal VOC"
    if "labels" in lower and "images" in lower:
        return "yolo", "images/ and labels/ folders: YOLO"
    if txt and images and txt >= images / 2:
        return "yolo", f"{txt} .txt label files beside {images} images: YOLO"
    if images and any(os.path.isdir(os.path.join(p, e)) for e in entries):
        return "folders", "image files in sub-folders: one folder per label"
    raise SourceError("cannot tell the dataset format of this folder; name it: manifestkit convert "
                      "voc|yolo|csv|coco|folders|groundtruth|entries", path=p)


def _walk_names(root: str, limit: int) -> list[str]:
    out: list[str] = []
    for _, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(f for f in files if not f.startswith("."))
        if len(out) >= limit:
            break
    return out
