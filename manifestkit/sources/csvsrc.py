"""CSV readers: image-level labels (AWS's ``image,label[,label...]`` layout and headed variants) and boxes.

Which layout a file has is decided by its first row:

* **no header** (the first cell is not a known image column name): AWS's layout, ``image,label,label...``.
  The image is an ``s3://`` URI (kept as the ``source-ref``) or a path relative to ``--s3-prefix``. Any
  number of labels per row (multi-label); empty cells are skipped; a label repeated in a row is kept once
  (``MK_DUPLICATE_LABEL``); an image on several rows gets the union of their labels
  (``MK_DUPLICATE_IMAGE``, with the row numbers). Unlike AWS's script we write the manifest anyway, with
  numeric attribute names (``label``, ``label-1``...) rather than the label text, so any label is safe.
* **a header with an image column and a label column** (``image``, ``image_name``, ``filename``, ``file``,
  ``path``, ``source-ref`` / ``label``, ``label_name``, ``class``, ``category``...):
  - with box columns it is a detection CSV, one box per row: ``xmin,ymin,xmax,ymax`` (also ``x1,y1,x2,y2``,
    ``left,top,right,bottom``), or ``x,y,width,height`` (also ``x1,y1,w,h``, ``left,top,width,height``), or
    one ``bbox`` column holding ``xmin ymin xmax ymax`` (``[0,1,2,3]``, ``0 1 2 3``, ``0,1,2,3``). Pixels,
    0-based edges. The image size comes from the image header, so the images must be at hand (``images``);
  - without box columns it is image-level, one label per row (rows of one image are merged).
* **a header with an image column and 0/1 columns** (Kaggle / Roboflow one-hot): each column whose cell
  is 1 is a label of that image.

Image names without an extension are matched to a file in ``images`` with one. Cells are trimmed.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable

from ..errors import ManifestKitError, SourceError
from ..model import Box, Dataset, ImageItem, Summary, Task
from ..uris import parse_s3_uri
from ._shared import add_box, check_policy, find_image, image_note, is_inside, probe, rel_key

__all__ = ["read_csv"]

Progress = Callable[[int], None]

_IMAGE_COLS = ("image", "image_name", "image_path", "imagename", "filename", "file_name", "file", "path",
               "source-ref", "source_ref", "image_id", "img", "name", "uri", "s3_uri", "s3-uri")
_LABEL_COLS = ("label", "label_name", "labels", "class", "class_name", "category", "category_name", "name",
               "object")
_XYXY = (("xmin", "ymin", "xmax", "ymax"), ("x1", "y1", "x2", "y2"), ("left", "top", "right", "bottom"),
         ("x_min", "y_min", "x_max", "y_max"))
_XYWH = (("x", "y", "width", "height"), ("x1", "y1", "w", "h"), ("left", "top", "width", "height"),
         ("x", "y", "w", "h"), ("xmin", "ymin", "width", "height"))
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def read_csv(path: str | os.PathLike[str], *, images: str | os.PathLike[str] | None = None,
             bad_boxes: str = "clip", skip_missing: bool = False, skip_invalid: bool = False,
             progress: Progress | None = None) -> Dataset:
    """Read a label CSV into a :class:`Dataset` (classification, or detection when it has box columns).

    ``images`` is the folder image names are relative to: needed for detection CSVs (default: ``images/``
    beside the CSV if it exists, else the CSV's folder) and used for image-level CSVs when given (names are
    then checked and completed with their extension).
    """
    check_policy(bad_boxes)
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8-sig", newline="") as fp:
            rows = list(csv.reader(fp))
    except FileNotFoundError:
        raise SourceError("CSV file not found", path=p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read the CSV ({e})", path=p) from None
    except csv.Error as e:
        raise SourceError(f"malformed CSV ({e})", path=p) from None
    rows = [[c.strip() for c in r] for r in rows]
    numbered = [(n, r) for n, r in enumerate(rows, 1) if any(r)]
    if not numbered:
        raise SourceError("the CSV is empty", path=p)
    header = [c.lower() for c in numbered[0][1]]
    image_col = _find(header, _IMAGE_COLS)
    summary = Summary(source=p)
    if image_col is None:
        return _aws_layout(p, numbered, summary, images)
    body = numbered[1:]
    label_col = _find([h if i != image_col else "" for i, h in enumerate(header)], _LABEL_COLS)
    box_cols = _box_columns(header)
    if box_cols is not None:
        if label_col is None:
            raise SourceError("detection CSV without a label column (label, class, category...)", path=p)
        return _detection(p, header, body, image_col, label_col, box_cols, summary, images,
                          bad_boxes=bad_boxes, skip_missing=skip_missing, skip_invalid=skip_invalid)
    if label_col is not None:
        pairs = [(n, r[image_col] if image_col < len(r) else "", [r[label_col]] if label_col < len(r) else [])
                 for n, r in body]
        return _image_level(p, pairs, summary, images)
    onehot = [i for i in range(len(header)) if i != image_col]
    if not onehot:
        raise SourceError("the CSV has an image column but no label column", path=p)
    pairs = []
    for n, r in body:
        labels = []
        for i in onehot:
            cell = r[i] if i < len(r) else ""
            if cell in ("1", "1.0", "true", "True", "yes"):
                labels.append(numbered[0][1][i])
            elif cell not in ("0", "0.0", "", "false", "False", "no"):
                raise SourceError(f"column {numbered[0][1][i]!r} holds {cell!r}; a one-hot label CSV holds 0 or 1",
                                  path=p, item=f"row {n}")
        pairs.append((n, r[image_col] if image_col < len(r) else "", labels))
    return _image_level(p, pairs, summary, images)


def _box_columns(header: list[str]) -> tuple[str, tuple[int, ...]] | None:
    for names in _XYXY:
        if all(n in header for n in names):
            return "xyxy", tuple(header.index(n) for n in names)
    for names in _XYWH:
        if all(n in header for n in names):
            return "xywh", tuple(header.index(n) for n in names)
    for name in ("bbox", "box", "bounding_box"):
        if name in header:
            return "bbox", (header.index(name),)
    return None


def _aws_layout(p: str, rows: list[tuple[int, list[str]]], summary: Summary,
                images: str | os.PathLike[str] | None) -> Dataset:
    pairs = [(n, r[0], r[1:]) for n, r in rows]
    return _image_level(p, pairs, summary, images)


def _resolve_name(name: str, images: str, summary: Summary, where: str) -> str | None:
    found = find_image(name, [images])
    if found is None or not is_inside(found, images):
        summary.note("MK_IMAGE_NOT_FOUND", "image not found in the image folder; row left out", where,
                     severity="error")
        return None
    return rel_key(found, images)


def _image_level(p: str, pairs: list[tuple[int, str, list[str]]], summary: Summary,
                 images: str | os.PathLike[str] | None) -> Dataset:
    summary.task = Task.CLASSIFICATION.value
    img_root = os.fspath(images) if images is not None else None
    if img_root is not None and not os.path.isdir(img_root):
        raise SourceError("image folder not found", path=img_root)
    order: dict[str, tuple[str | None, list[str], int]] = {}
    for n, image, labels in pairs:
        where = f"row {n}"
        if not image:
            summary.note("MK_ROW_NO_IMAGE", "row without an image name skipped", where, severity="error")
            continue
        ref: str | None = None
        if image.startswith("s3://"):
            try:
                _, key = parse_s3_uri(image)
            except ManifestKitError as e:  # a malformed URI
                raise SourceError(str(e), path=p, item=where) from None
            ref = image
        else:
            key = image.replace("\\", "/")
            if img_root is not None:
                resolved = _resolve_name(image, img_root, summary, f"{where} ({image})")
                if resolved is None:
                    continue
                key = resolved
            if key.startswith("/") or ".." in key.split("/"):
                raise SourceError(f"image path {image!r} is absolute or leaves the dataset folder; give paths "
                                  "relative to the --s3-prefix", path=p, item=where)
        clean: list[str] = []
        empty = 0
        for label in labels:
            if not label:
                empty += 1
                continue
            if len(label) > 255:
                raise SourceError(f"label {label[:40]!r}... is longer than 255 characters", path=p, item=where)
            if label in clean:
                summary.note("MK_DUPLICATE_LABEL", "label repeated on one row kept once", f"{where} ({label})",
                             severity="info")
                continue
            clean.append(label)
        if empty and clean:
            summary.note("MK_EMPTY_CELL", "empty label cells skipped", where, severity="info", count=empty)
        ident = ref or key
        if ident in order:
            prev_ref, prev_labels, first = order[ident]
            summary.note("MK_DUPLICATE_IMAGE", "image listed on several rows: its labels were merged",
                         f"{where} (first on row {first}: {image})")
            for label in clean:
                if label not in prev_labels:
                    prev_labels.append(label)
            continue
        order[ident] = (ref, clean, n)
    items = []
    for ident, (ref, labels, n) in order.items():
        if not labels:
            summary.note("MK_UNLABELLED_IMAGE", "image without any label left out", f"row {n} ({ident})")
            continue
        key = parse_s3_uri(ref)[1] if ref else ident
        items.append(ImageItem(path=key, labels=tuple(labels), source_ref=ref, line=n, source_id=f"row {n}"))
    if not items:
        raise SourceError("no labelled image in the CSV", path=p)
    classes = {label: i for i, label in enumerate(sorted({lab for it in items for lab in it.labels}))}
    return Dataset(task=Task.CLASSIFICATION, items=items, classes=classes, summary=summary, root=img_root)


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in _NUM.findall(cell)]


def _detection(p: str, header: list[str], body: list[tuple[int, list[str]]], image_col: int, label_col: int,
               box_cols: tuple[str, tuple[int, ...]], summary: Summary, images: str | os.PathLike[str] | None,
               *, bad_boxes: str, skip_missing: bool, skip_invalid: bool) -> Dataset:
    summary.task = Task.DETECTION.value
    if images is not None:
        img_root = os.fspath(images)
    else:
        here = os.path.dirname(os.path.abspath(p))
        img_root = os.path.join(here, "images") if os.path.isdir(os.path.join(here, "images")) else here
    if not os.path.isdir(img_root):
        raise SourceError("image folder not found", path=img_root)
    kind, cols = box_cols
    grouped: dict[str, list[tuple[int, str, list[float]]]] = {}
    for n, r in body:
        where = f"row {n}"
        image = r[image_col] if image_col < len(r) else ""
        label = r[label_col] if label_col < len(r) else ""
        if not image:
            summary.note("MK_ROW_NO_IMAGE", "row without an image name skipped", where, severity="error")
            continue
        if not label:
            # An image listed with no label and no box: a background image (kept with --keep-empty elsewhere).
            if all(not (r[c] if c < len(r) else "") for c in cols):
                grouped.setdefault(image, [])
                continue
            summary.note("MK_BOX_NO_LABEL", "box row without a label skipped", where, severity="error")
            continue
        try:
            if kind == "bbox":
                nums = _numbers(r[cols[0]] if cols[0] < len(r) else "")
            else:
                nums = [float(r[c]) for c in cols]
            if len(nums) != 4:
                raise ValueError
        except (ValueError, IndexError):
            if not skip_invalid:
                raise SourceError("the box needs four numbers; fix the row or pass --skip-invalid", path=p,
                                  item=where) from None
            summary.note("MK_BOX_MALFORMED", "row whose box is not four numbers skipped", where, severity="error")
            continue
        grouped.setdefault(image, []).append((n, label, nums))
    items = []
    labels: set[str] = set()
    for image, rows in grouped.items():
        found = find_image(image, [img_root])
        first = rows[0][0] if rows else 0
        if found is None or not is_inside(found, img_root):
            if not skip_missing:
                raise SourceError(f"image {image!r} not found in {img_root}; pass --images DIR, or --skip-missing "
                                  "to leave such rows out", path=p, item=f"row {first}")
            summary.note("MK_IMAGE_NOT_FOUND", "rows whose image is missing left out (--skip-missing)", image,
                         severity="error")
            continue
        key = rel_key(found, img_root)
        info = probe(found, summary, key, skip_invalid=skip_invalid)
        if info is None or not image_note(summary, info, key):
            continue
        boxes: list[Box] = []
        for n, label, (a, b, c, d) in rows:
            x, y, w, h = (a, b, c - a, d - b) if kind in ("xyxy", "bbox") else (a, b, c, d)
            add_box(boxes, summary, label, x, y, w, h, info.width, info.height, where=f"row {n}",
                    bad_boxes=bad_boxes, path=p)
        if not boxes:
            summary.note("MK_NO_ANNOTATIONS", "image without boxes left out", key, severity="info")
            continue
        labels.update(b.label for b in boxes)
        items.append(ImageItem(path=key, width=info.width, height=info.height, format=info.format,
                               boxes=tuple(boxes), depth=info.channels, orientation=info.orientation,
                               source_id=f"row {first}"))
    if not items:
        raise SourceError("no image with a usable box in the CSV", path=p)
    classes = {label: i for i, label in enumerate(sorted(labels))}
    return Dataset(task=Task.DETECTION, items=items, classes=classes, summary=summary, root=img_root)
