"""Export a manifest to another format: COCO (JSON), YOLO (a folder of label files) or CSV.

Image paths in the export are the ``source-ref`` keys: with ``s3_prefix`` they are made relative to it
(lines outside the prefix are reported and left out), else they are the whole key without the bucket (COCO,
YOLO) or the ``s3://`` URI itself (CSV, AWS's layout). Class numbering:

* COCO: category ids are the manifest's ``class_id`` values when each label has one id and each id one
  label; otherwise 1..N in sorted label order (``MK_CLASS_IDS_RENUMBERED``);
* YOLO: a class is its position in ``names``, so ids must be 0..N-1: kept when the manifest's ids are
  exactly that, else 0..N-1 in sorted label order.

Box manifests export to all three; image-label manifests export to CSV only (``image,label,label...``
without a header, AWS's layout). The YOLO export writes ``labels/<image path>.txt`` (mirroring
``images/<image path>``, where the images go), ``data.yaml`` and ``obj.names``; the folder must not exist yet
and appears complete or not at all.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from .errors import ManifestKitError
from .manifest import atomic_writer, read_manifest
from .model import Dataset, ImageItem, Summary, Task
from .uris import normalize_prefix, parse_s3_uri

__all__ = ["EXPORT_FORMATS", "export_manifest"]

EXPORT_FORMATS = ("coco", "csv", "yolo")
Progress = Callable[[int], None]


def export_manifest(manifest: str | os.PathLike[str], output: str | os.PathLike[str], *, to: str,
                    s3_prefix: str | None = None, skip_invalid: bool = False,
                    progress: Progress | None = None) -> Summary:
    """Export ``manifest`` to ``to`` (coco, yolo or csv) at ``output``. Returns a summary of what was written."""
    if to not in EXPORT_FORMATS:
        raise ManifestKitError(f"unknown export format {to!r}; one of: {', '.join(EXPORT_FORMATS)}")
    ds = read_manifest(manifest, skip_invalid=skip_invalid)
    prefix = normalize_prefix(s3_prefix) if s3_prefix else None
    summary = Summary(source=os.fspath(manifest), task=ds.task.value)
    if to != "csv" and ds.task is not Task.DETECTION:
        raise ManifestKitError(f"{to} export needs a box (object-detection) manifest; export image-level "
                               "labels with --to csv")
    exporter = {"coco": _coco, "yolo": _yolo, "csv": _csv}[to]
    exporter(ds, os.fspath(output), prefix, summary, progress)
    summary.output = os.fspath(output)
    return summary


def _path(item: ImageItem, prefix: str | None, summary: Summary, *, keep_uri: bool = False) -> str | None:
    ref = item.source_ref or item.path
    if prefix is not None:
        if not ref.startswith(prefix):
            summary.note("MK_OUTSIDE_PREFIX", "line whose source-ref is outside --s3-prefix left out",
                         f"line {item.line} ({ref})")
            return None
        return ref[len(prefix):]
    if keep_uri:
        return ref
    try:
        return parse_s3_uri(ref)[1]
    except ManifestKitError:
        return ref


def _class_ids(ds: Dataset, *, start: int, contiguous: bool, summary: Summary) -> tuple[dict[str, int], list[str]]:
    """label -> id, from the manifest when consistent (and 0..N-1 when ``contiguous``), else renumbered."""
    by_label: dict[str, set[int | None]] = {}
    by_id: dict[int | None, set[str]] = {}
    for item in ds:
        for b in item.boxes:
            by_label.setdefault(b.label, set()).add(b.class_id)
            by_id.setdefault(b.class_id, set()).add(b.label)
    labels = sorted(by_label)
    ok = all(len(v) == 1 and None not in v for v in by_label.values()) and all(len(v) == 1 for v in by_id.values())
    if ok:
        ids = {label: next(iter(v)) for label, v in by_label.items()}
        if not contiguous or sorted(ids.values()) == list(range(len(ids))):
            return ids, sorted(ids, key=lambda k: ids[k])  # type: ignore[arg-type,return-value]
    if labels:
        summary.note("MK_CLASS_IDS_RENUMBERED", "class ids renumbered in sorted label order", None,
                     severity="info")
    return {label: i + start for i, label in enumerate(labels)}, labels


def _coco(ds: Dataset, output: str, prefix: str | None, summary: Summary, progress: Progress | None) -> None:
    ids, _ = _class_ids(ds, start=1, contiguous=False, summary=summary)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in ds:
        path = _path(item, prefix, summary)
        if path is None:
            continue
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": path, "width": item.width, "height": item.height})
        for b in item.boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": ids[b.label],
                                "bbox": [_int(b.left), _int(b.top), _int(b.width), _int(b.height)],
                                "area": _int(b.width * b.height),
                                "iscrowd": 0})
        summary.count_item(item)
        if progress is not None:
            progress(1)
    categories = [{"id": cid, "name": label, "supercategory": ""}
                  for label, cid in sorted(ids.items(), key=lambda kv: kv[1])]
    with atomic_writer(output, "w") as fp:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, fp,
                  ensure_ascii=False)
        fp.write("\n")


def _yolo_label_path(path: str) -> tuple[str, str]:
    """Where an image and its label file go in the export (``images/...`` and ``labels/...``)."""
    parts = path.split("/")
    if "images" in parts[:-1]:
        i = len(parts) - 2 - parts[:-1][::-1].index("images")
        label = parts[:i] + ["labels"] + parts[i + 1:]
        return path, os.path.splitext("/".join(label))[0] + ".txt"
    return "images/" + path, "labels/" + os.path.splitext(path)[0] + ".txt"


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x else "0"


def _yolo(ds: Dataset, output: str, prefix: str | None, summary: Summary, progress: Progress | None) -> None:
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise ManifestKitError(f"{output} already exists: give a new folder for the YOLO export")
    ids, names = _class_ids(ds, start=0, contiguous=True, summary=summary)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(output) + ".", dir=parent)
    try:
        seen: set[str] = set()
        for item in ds:
            path = _path(item, prefix, summary)
            if path is None:
                continue
            if path.startswith("/") or ".." in path.split("/"):
                summary.note("MK_UNSAFE_PATH", "image path that would leave the export folder left out", path,
                             severity="error")
                continue
            _, label_path = _yolo_label_path(path)
            if label_path in seen:
                summary.note("MK_DUPLICATE_SOURCE_REF", "two images share one label file; the later was left out",
                             path)
                continue
            seen.add(label_path)
            w, h = item.width or 0, item.height or 0
            if not w or not h:
                summary.note("MK_SIZE_UNKNOWN", "line without an image size left out", path, severity="error")
                continue
            lines = [f"{ids[b.label]} {_fmt((b.left + b.width / 2) / w)} {_fmt((b.top + b.height / 2) / h)} "
                     f"{_fmt(b.width / w)} {_fmt(b.height / h)}\n" for b in item.boxes]
            target = os.path.join(tmp, *label_path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as fp:
                fp.writelines(lines)
            summary.count_item(item)
            if progress is not None:
                progress(1)
        with open(os.path.join(tmp, "obj.names"), "w", encoding="utf-8") as fp:
            fp.writelines(n + "\n" for n in names)
        with open(os.path.join(tmp, "data.yaml"), "w", encoding="utf-8") as fp:
            fp.write("# written by manifestkit export: put each image at images/<path> beside labels/<path>\n")
            fp.write("path: .\ntrain: images\nval: images\n")
            fp.write(f"nc: {len(names)}\n")
            fp.write("names: [" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "]\n")
        if os.path.isdir(output):
            os.rmdir(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _csv(ds: Dataset, output: str, prefix: str | None, summary: Summary, progress: Progress | None) -> None:
    with atomic_writer(output, "w") as raw:
        out = csv.writer(raw, lineterminator="\n")
        if ds.task is Task.DETECTION:
            out.writerow(["image", "label", "xmin", "ymin", "xmax", "ymax"])
        for item in ds:
            path = _path(item, prefix, summary, keep_uri=ds.task is not Task.DETECTION)
            if path is None:
                continue
            if ds.task is Task.DETECTION:
                for b in item.boxes:
                    out.writerow([path, b.label, _num(b.left), _num(b.top), _num(b.left + b.width),
                                  _num(b.top + b.height)])
            else:
                out.writerow([path, *item.labels])
            summary.count_item(item)
            if progress is not None:
                progress(1)


def _int(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)
