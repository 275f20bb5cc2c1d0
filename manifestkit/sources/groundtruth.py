"""Ground Truth labelling-job output manifests, rewritten in the form Rekognition accepts.

Per line (policies documented in docs/sources.md):

* ``groundtruth/image-classification``: the ``class-name`` is the label; several such attributes on one
  line (Rekognition's multi-label form) are all kept;
* ``groundtruth/image-classification-multilabel`` (Ground Truth's native multi-label): the list of class
  ids is turned into names through ``class-map`` and written as one ``groundtruth/image-classification``
  pair per label (``MK_MULTILABEL_REWRITTEN``), since Rekognition rejects the native type;
* ``groundtruth/object-detection``: boxes through ``class-map``; float coordinates are rounded and
  clipped to ``image_size``; a ``class_id`` missing from ``class-map`` drops the box
  (``ERROR_MISSING_CLASS_MAP_ID``). When a line has several box attributes (an adjustment job writes its
  own beside the original) the one with the latest ``creation-date`` is used (``MK_SEVERAL_BOX_ATTRIBUTES``);
  ``attribute`` picks one by name instead;
* ``groundtruth/label-verification``: not a label; its verdict (``class-name``) is counted, and lines whose
  verdict is in ``reject`` are left out (``MK_REJECTED_BY_VERIFICATION``);
* other types (segmentation, text, video) and lines without ``source-ref`` are skipped and counted.

Confidences below 1 are not carried over: a manifest for training holds accepted labels (confidence 1).
Class ids of box lines are kept when they mean the same class on every line; otherwise classes are
renumbered 0..N-1 in sorted label order (``MK_CLASS_IDS_RENUMBERED``). Image-level classes are numbered
0..N-1 in sorted order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from ..errors import ManifestKitError, SourceError
from ..manifest import CLASSIFICATION_TYPE, DETECTION_TYPE, MULTILABEL_TYPE
from ..model import Box, Dataset, ImageItem, Summary, Task
from ..uris import parse_s3_uri
from ._shared import Reiterable, add_box, check_policy

__all__ = ["VERIFICATION_TYPE", "LineReader", "iter_json_lines", "read_groundtruth"]

VERIFICATION_TYPE = "groundtruth/label-verification"
Progress = Callable[[int], None]
_decode = msgspec.json.Decoder().decode


def iter_json_lines(path: str, summary: Summary, *, skip_invalid: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line; bad JSON fails unless ``skip_invalid``."""
    try:
        fp = open(path, "rb")
    except OSError as e:
        raise SourceError(f"cannot open ({e.strerror or e})", path=path) from None
    with fp:
        for n, raw in enumerate(fp, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                obj = _decode(raw)
            except msgspec.DecodeError as e:
                if not skip_invalid:
                    raise SourceError(f"invalid JSON ({e}); fix the line or pass --skip-invalid", path=path,
                                      item=f"line {n}") from None
                summary.note("ERROR_INVALID_JSON_LINE", "line that is not JSON skipped (--skip-invalid)",
                             f"line {n}", severity="error")
                continue
            yield n, obj


def _date(meta: dict[str, Any]) -> str:
    d = meta.get("creation-date")
    return d if isinstance(d, str) else ""


class LineReader:
    """Turns one decoded output line into an item (or None), counting every decision in ``summary``."""

    def __init__(self, summary: Summary, *, attribute: str | None = None, reject: Iterable[str] = (),
                 bad_boxes: str = "clip", task: Task | None = None) -> None:
        self.summary = summary
        self.attribute = attribute
        self.reject = frozenset(reject)
        self.bad_boxes = bad_boxes
        self.task = task

    def attributes(self, obj: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any], str]]:
        """The ``(name, value, metadata, type)`` label attribute pairs of a line."""
        out = []
        for name, meta in obj.items():
            if not name.endswith("-metadata") or not isinstance(meta, dict):
                continue
            attr = name[: -len("-metadata")]
            if attr in obj:
                out.append((attr, obj[attr], meta, str(meta.get("type", ""))))
        return out

    def item(self, obj: Any, n: int) -> ImageItem | None:
        s = self.summary
        where = f"line {n}"
        if not isinstance(obj, dict):
            s.note("MK_NOT_AN_OBJECT", "line that is not a JSON object skipped", where, severity="error")
            return None
        ref = obj.get("source-ref")
        if not isinstance(ref, str):
            s.note("MK_NO_SOURCE_REF", "line without an image source-ref skipped (text or other data)", where)
            return None
        try:
            _, key = parse_s3_uri(ref)
        except ManifestKitError:
            s.note("ERROR_INVALID_SOURCE_REF_FORMAT", "line whose source-ref is not an s3:// URI skipped",
                   f"{where} ({ref[:60]})", severity="error")
            return None
        pairs = self.attributes(obj)
        if self.attribute is not None:
            chosen = [p for p in pairs if p[0] == self.attribute or p[3] == VERIFICATION_TYPE]
            if not any(p[0] == self.attribute for p in pairs):
                s.note("MK_ATTRIBUTE_MISSING", f"line without the attribute {self.attribute!r} skipped", where)
                return None
            pairs = chosen
        for attr, value, meta, kind in pairs:
            if kind == VERIFICATION_TYPE:
                verdict = str(meta.get("class-name", value))
                if verdict in self.reject:
                    s.note("MK_REJECTED_BY_VERIFICATION", "line left out: a verification job judged it "
                           "(--reject)", f"{where} ({verdict})")
                    return None
                s.note("MK_VERIFICATION_IGNORED", "verification attribute not written (it is not a label)",
                       f"{where} ({attr}: {verdict})", severity="info")
        det = [p for p in pairs if p[3] == DETECTION_TYPE]
        cls = [p for p in pairs if p[3] in (CLASSIFICATION_TYPE, MULTILABEL_TYPE)]
        for attr, _, _, kind in pairs:
            if kind not in (DETECTION_TYPE, CLASSIFICATION_TYPE, MULTILABEL_TYPE, VERIFICATION_TYPE):
                s.note("ERROR_UNSUPPORTED_USE_CASE_TYPE", "attribute of a type Rekognition does not train on "
                       "ignored", f"{where} ({attr}: {kind or 'no type'})", severity="warning")
        task = self.task
        if det and (task is Task.DETECTION or task is None):
            return self._detection(obj, det, ref, key, where, len(cls))
        if cls and (task is Task.CLASSIFICATION or task is None):
            if det:
                s.note("MK_MIXED_TASKS", "box attribute ignored on a line of an image-level dataset", where)
            return self._classification(cls, ref, key, where)
        if cls or det:
            s.note("MK_MIXED_TASKS", "line of the other task (image labels vs boxes) skipped: convert them "
                   "separately with --attribute", where)
            return None
        s.note("MK_NO_LABEL_ATTRIBUTE", "line without an image label or box attribute skipped", where)
        return None

    def _classification(self, cls: list[tuple[str, Any, dict[str, Any], str]], ref: str, key: str,
                        where: str) -> ImageItem | None:
        s = self.summary
        labels: list[str] = []
        for attr, value, meta, kind in cls:
            if meta.get("cl-errors") or meta.get("errors"):
                s.note("MK_ATTRIBUTE_HAS_ERRORS", "attribute Rekognition marked with errors ignored",
                       f"{where} ({attr})")
                continue
            if kind == MULTILABEL_TYPE:
                cmap = meta.get("class-map")
                if not isinstance(value, list) or not isinstance(cmap, dict):
                    s.note("MK_MALFORMED_ATTRIBUTE", "multi-label attribute without a list and class-map ignored",
                           f"{where} ({attr})", severity="error")
                    continue
                s.note("MK_MULTILABEL_REWRITTEN", "Ground Truth multi-label attribute rewritten as one "
                       "groundtruth/image-classification pair per label", where, severity="info")
                for cid in value:
                    name = cmap.get(str(cid))
                    if not isinstance(name, str) or not name:
                        s.note("ERROR_MISSING_CLASS_MAP_ID", "class id missing from class-map dropped",
                               f"{where} ({attr}: {cid})", severity="error")
                    elif name not in labels:
                        labels.append(name)
                continue
            name = meta.get("class-name")
            if not isinstance(name, str) or not name:
                s.note("MK_MALFORMED_ATTRIBUTE", "classification attribute without class-name ignored",
                       f"{where} ({attr})", severity="error")
                continue
            if name not in labels:
                labels.append(name)
        if not labels:
            s.note("MK_UNLABELLED_IMAGE", "line without a usable label skipped", where)
            return None
        return ImageItem(path=key, labels=tuple(labels), source_ref=ref, source_id=where)

    def _detection(self, obj: dict[str, Any], det: list[tuple[str, Any, dict[str, Any], str]], ref: str,
                   key: str, where: str, n_cls: int) -> ImageItem | None:
        s = self.summary
        if n_cls:
            s.note("MK_MIXED_TASKS", "image-level label attribute ignored on a line with boxes", where)
        if len(det) > 1:
            det = sorted(det, key=lambda p: _date(p[2]))
            s.note("MK_SEVERAL_BOX_ATTRIBUTES", "line with several box attributes: the latest (by creation-date, "
                   "e.g. an adjustment job) was used", f"{where} ({det[-1][0]})", severity="info")
        attr, value, meta, _ = det[-1]
        if not isinstance(value, dict):
            s.note("MK_MALFORMED_ATTRIBUTE", "box attribute that is not an object skipped", where, severity="error")
            return None
        size = value.get("image_size")
        if isinstance(size, list) and size:
            size = size[0]
        width = size.get("width") if isinstance(size, dict) else None
        height = size.get("height") if isinstance(size, dict) else None
        depth = size.get("depth", 3) if isinstance(size, dict) else 3
        if not isinstance(width, (int, float)) or not isinstance(height, (int, float)) or width <= 0 or height <= 0:
            s.note("MK_SIZE_UNKNOWN", "box line without a usable image_size skipped", where, severity="error")
            return None
        w, h = int(round(width)), int(round(height))
        cmap = meta.get("class-map") if isinstance(meta.get("class-map"), dict) else {}
        boxes: list[Box] = []
        for i, ann in enumerate(value.get("annotations") or []):
            at = f"{where} box {i + 1}"
            if not isinstance(ann, dict):
                s.note("MK_BOX_MALFORMED", "annotation that is not an object skipped", at, severity="error")
                continue
            if ann.get("errors"):
                s.note("MK_BOX_HAS_ERRORS", "box Rekognition marked with errors dropped", at)
                continue
            cid = ann.get("class_id")
            name = cmap.get(str(cid)) if cid is not None else None
            if not isinstance(name, str) or not name:
                s.note("ERROR_MISSING_CLASS_MAP_ID", "box whose class_id is not in class-map dropped", at,
                       severity="error")
                continue
            try:
                left, top = float(ann["left"]), float(ann["top"])
                bw, bh = float(ann["width"]), float(ann["height"])
            except (KeyError, TypeError, ValueError):
                s.note("MK_BOX_MALFORMED", "box without numeric left/top/width/height dropped", at,
                       severity="error")
                continue
            add_box(boxes, s, name, left, top, bw, bh, w, h, where=at, bad_boxes=self.bad_boxes,
                    class_id=cid if isinstance(cid, int) and not isinstance(cid, bool) else None)
        objects = meta.get("objects")
        if isinstance(objects, list) and any(isinstance(o, dict) and isinstance(o.get("confidence"), (int, float))
                                             and o["confidence"] < 1 for o in objects):
            s.note("MK_CONFIDENCE_RESET", "worker confidences below 1 written as 1 (accepted labels)", where,
                   severity="info")
        if not boxes:
            s.note("MK_NO_ANNOTATIONS", "line without usable boxes left out", where, severity="info")
            return None
        return ImageItem(path=key, width=w, height=h, boxes=tuple(boxes),
                         depth=depth if isinstance(depth, int) else 3, source_ref=ref, source_id=where)


def read_lines(path: str, make_reader: Callable[[Summary, Task | None], LineReader],
               prepare: Callable[[int, Any, Summary], Any] | None = None, *, skip_invalid: bool,
               progress: Progress | None, lines: Callable[[str, Summary], Iterator[tuple[int, Any]]] | None = None
               ) -> Dataset:
    """Two passes over a JSON Lines source: classes and task first, then the items, lazily."""
    if not os.path.isfile(path):
        raise SourceError("file not found", path=path)
    source = lines or (lambda p, s: iter_json_lines(p, s, skip_invalid=skip_invalid))
    probe_summary = Summary(source=path)
    scout = make_reader(probe_summary, None)
    n_det = n_cls = 0
    ids: dict[str, set[int | None]] = {}
    names: dict[int | None, set[str]] = {}
    cls_labels: set[str] = set()
    refs: set[str] = set()
    for n, obj in source(path, probe_summary):
        if prepare is not None:
            obj = prepare(n, obj, probe_summary)
        item = scout.item(obj, n)
        # A repeated image is left out by the writer: its labels must not shape the class list.
        if item is None or item.source_ref in refs:
            continue
        refs.add(item.source_ref or "")
        if item.boxes:
            n_det += 1
            for b in item.boxes:
                ids.setdefault(b.label, set()).add(b.class_id)
                names.setdefault(b.class_id, set()).add(b.label)
        else:
            n_cls += 1
            cls_labels.update(item.labels)
    if not n_det and not n_cls:
        raise SourceError("no labelled image line found: " + _why(probe_summary), path=path)
    task = Task.DETECTION if n_det >= n_cls and n_det else Task.CLASSIFICATION
    summary = Summary(source=path, task=task.value)
    renumber = True
    if task is Task.DETECTION:
        consistent = all(len(v) == 1 and None not in v for v in ids.values()) and all(
            len(v) == 1 for v in names.values())
        if consistent:
            classes = {label: next(iter(v)) for label, v in ids.items()}
            renumber = False
    if renumber:
        wanted = ids if task is Task.DETECTION else cls_labels
        classes = {label: i for i, label in enumerate(sorted(wanted))}
    reader = make_reader(summary, task)

    def items() -> Iterator[ImageItem]:
        summary.notes.clear()
        if renumber and task is Task.DETECTION:
            summary.note("MK_CLASS_IDS_RENUMBERED", "class ids differ between lines for one label: renumbered "
                         "0..N-1 in sorted label order", None, severity="info")
        pending = 0
        for n, obj in source(path, summary):
            if prepare is not None:
                obj = prepare(n, obj, summary)
            item = reader.item(obj, n)
            pending += 1
            if progress is not None and pending >= 1000:
                progress(pending)
                pending = 0
            if item is None:
                continue
            if renumber and item.boxes:
                item = ImageItem(path=item.path, width=item.width, height=item.height, boxes=tuple(
                    Box(b.label, b.left, b.top, b.width, b.height, None) for b in item.boxes), depth=item.depth,
                    source_ref=item.source_ref, source_id=item.source_id)
            yield item
        if progress is not None and pending:
            progress(pending)

    return Dataset(task=task, items=Reiterable(items), classes=classes, summary=summary)


def _why(summary: Summary) -> str:
    if not summary.notes:
        return "the file is empty"
    return "; ".join(f"{n.count} x {n.message}" for n in summary.notes.values())


def read_groundtruth(path: str | os.PathLike[str], *, attribute: str | None = None, reject: Iterable[str] = (),
                     bad_boxes: str = "clip", skip_invalid: bool = False,
                     progress: Progress | None = None) -> Dataset:
    """Read a Ground Truth job output manifest into a :class:`Dataset` in Rekognition's form.

    ``attribute`` picks the label attribute to use (default: every image-label attribute, or the latest box
    attribute); ``reject`` lists verification verdicts (``class-name`` of a label-verification attribute)
    whose lines are left out. Items keep their ``source-ref``.
    """
    check_policy(bad_boxes)
    reject = tuple(reject)
    return read_lines(os.fspath(path),
                      lambda s, t: LineReader(s, attribute=attribute, reject=reject, bad_boxes=bad_boxes, task=t),
                      skip_invalid=skip_invalid, progress=progress)
