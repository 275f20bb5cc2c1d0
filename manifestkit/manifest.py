"""Ground Truth / Rekognition manifests: write a :class:`Dataset` as JSON Lines, read one back.

The writer streams: one item in, one line out, into a temporary file that replaces the target only when
everything went well. Lines are compact JSON in a fixed key order, so the same input and creation date
give a byte-identical file.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import msgspec

from .errors import ManifestError, ManifestKitError
from .model import Batched, Box, Dataset, ImageItem, Summary, Task
from .uris import normalize_prefix, parse_s3_uri

__all__ = [
    "CLASSIFICATION_TYPE",
    "DETECTION_TYPE",
    "MULTILABEL_TYPE",
    "atomic_writer",
    "creation_date",
    "default_label_attribute",
    "item_to_line",
    "manifest_path",
    "parse_line",
    "read_manifest",
    "write_manifest",
]

CLASSIFICATION_TYPE = "groundtruth/image-classification"
DETECTION_TYPE = "groundtruth/object-detection"
MULTILABEL_TYPE = "groundtruth/image-classification-multilabel"
JOB_NAME = "manifestkit"

Progress = Callable[[int], None]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def default_label_attribute(task: Task) -> str:
    """``bounding-box`` for detection (as AWS's COCO converter), ``label`` for image-level labels."""
    return "bounding-box" if task is Task.DETECTION else "label"


def creation_date(value: str | _dt.datetime | None = None) -> str:
    """The ``creation-date`` to write: ISO 8601 UTC ``YYYY-MM-DDTHH:MM:SS.ffffff``.

    Taken from ``value`` (a datetime or an ISO 8601 string; naive times are UTC), else from
    ``SOURCE_DATE_EPOCH`` (reproducible builds), else the current time.
    """
    if value is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch:
            try:
                when = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
            except (ValueError, OverflowError, OSError):
                raise ManifestKitError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {epoch!r}")
        else:
            when = _dt.datetime.now(_dt.timezone.utc)
    elif isinstance(value, _dt.datetime):
        when = value
    else:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            when = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ManifestKitError(
                f"invalid creation date {value!r}: use ISO 8601, for example 2024-05-01T12:00:00") from None
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def manifest_path(path: str | os.PathLike[str]) -> str:
    """The output path with the ``.manifest`` extension Rekognition needs (added when missing)."""
    p = os.fspath(path)
    return p if p.endswith(".manifest") else p + ".manifest"


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise ManifestKitError(f"cannot write {target}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode) as fp:
            yield fp
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def item_to_line(item: ImageItem, *, task: Task, source_ref: str, classes: dict[str, int], attribute: str,
                 date: str) -> dict[str, Any] | None:
    """The manifest line of one item as a dict in Rekognition's form, or None if it has no labels.

    Image-level labels become one ``groundtruth/image-classification`` attribute pair each
    (``attribute``, ``attribute-1``, ...); boxes become one ``groundtruth/object-detection`` pair.
    """
    line: dict[str, Any] = {"source-ref": source_ref}
    if task is Task.DETECTION:
        if item.width is None or item.height is None:
            raise ManifestError(f"{item.path}: the image size is unknown, so no detection line can be written")
        anns = []
        used: dict[int, str] = {}
        for b in item.boxes:
            cid = b.class_id if b.class_id is not None else classes[b.label]
            used[cid] = b.label
            anns.append({"class_id": cid, "left": int(b.left), "top": int(b.top), "width": int(b.width),
                         "height": int(b.height)})
        line[attribute] = {
            "image_size": [{"width": int(item.width), "height": int(item.height), "depth": item.depth}],
            "annotations": anns,
        }
        line[attribute + "-metadata"] = {
            "objects": [{"confidence": 1} for _ in anns],
            "class-map": {str(k): used[k] for k in sorted(used)},
            "type": DETECTION_TYPE,
            "human-annotated": "yes",
            "creation-date": date,
            "job-name": JOB_NAME,
        }
        return line
    if not item.labels:
        return None
    for i, label in enumerate(item.labels):
        name = attribute if i == 0 else f"{attribute}-{i}"
        line[name] = classes[label]
        line[name + "-metadata"] = {
            "class-name": label,
            "confidence": 1,
            "type": CLASSIFICATION_TYPE,
            "human-annotated": "yes",
            "creation-date": date,
            "job-name": JOB_NAME,
        }
    return line


class _DetectionEncoder:
    """Writes object-detection lines straight to JSON bytes: the same bytes as ``_encode(item_to_line(...))``
    (a test holds them equal), without building a dict per box. On a COCO train2017-sized dataset
    (850,000 boxes) this is most of the writer's time."""

    _ANN = b'{"class_id":%d,"left":%d,"top":%d,"width":%d,"height":%d}'

    def __init__(self, attribute: str, date: str) -> None:
        self._head = b'{"source-ref":'
        # The attribute name may hold '%': keep it out of the %-format below.
        self._attr = b"," + _encode(attribute) + b':{"image_size":['
        self._meta = b"]}," + _encode(attribute + "-metadata") + b':{"objects":['
        self._tail = (b'},"type":' + _encode(DETECTION_TYPE) + b',"human-annotated":"yes","creation-date":'
                      + _encode(date) + b',"job-name":' + _encode(JOB_NAME) + b"}}\n")
        self._entries: dict[tuple[int, str], bytes] = {}

    def _entry(self, cid: int, label: str) -> bytes:
        """``"cid":"label"`` of a class-map, encoded once per class."""
        b = self._entries.get((cid, label))
        if b is None:
            b = self._entries[(cid, label)] = _encode(str(cid)) + b":" + _encode(label)
        return b

    def line(self, item: ImageItem, ref: str, classes: dict[str, int]) -> tuple[bytes, list[str]]:
        """The line's bytes, and the label of each box (for the summary's counts)."""
        if item.width is None or item.height is None:
            raise ManifestError(f"{item.path}: the image size is unknown, so no detection line can be written")
        ann = self._ANN
        boxes = item.boxes
        labels = [b.label for b in boxes]
        cids = [b.class_id for b in boxes]
        if None in cids:
            cids = [classes[lab] if c is None else c for c, lab in zip(cids, labels)]
        anns = [ann % (c, b.left, b.top, b.width, b.height) for c, b in zip(cids, boxes)]
        used = dict(zip(cids, labels))
        entry = self._entry
        cmap = b",".join([entry(k, used[k]) for k in sorted(used)])
        size = b'{"width":%d,"height":%d,"depth":%d}],"annotations":[' % (item.width, item.height, item.depth)
        return b"".join((self._head, _encode(ref), self._attr, size, b",".join(anns), self._meta,
                         b",".join([b'{"confidence":1}'] * len(anns)), b'],"class-map":{', cmap,
                         self._tail)), labels


def write_manifest(dataset: Dataset, path: str | os.PathLike[str], *, s3_prefix: str | None = None,
                   label_attribute: str | None = None, creation_date_value: str | _dt.datetime | None = None,
                   progress: Progress | None = None, duplicates: str = "error",
                   summary: Summary | None = None) -> Summary:
    """Write ``dataset`` as a manifest at ``path`` (``.manifest`` added if missing), atomically.

    An item keeps its own ``source_ref`` when it has one (items read from a manifest, Ground Truth outputs,
    CSV rows with ``s3://`` URIs); otherwise its ``source-ref`` is ``s3_prefix`` + its relative path. In a
    detection dataset, items with boxes or a known size become box lines, the others image-label lines.
    ``duplicates``: ``error`` (two items with one ``source-ref`` fail the write, and nothing is written)
    or ``skip`` (the later ones are left out and reported). Returns the summary (``summary`` or the
    dataset's) with the written counts filled in. ``progress`` is called with the number of items handled
    since its last call.
    """
    prefix = normalize_prefix(s3_prefix) if s3_prefix else None
    attribute = label_attribute or default_label_attribute(dataset.task)
    _check_attribute(attribute)
    date = creation_date(creation_date_value)
    target = manifest_path(path)
    summary = summary if summary is not None else dataset.summary
    summary.task = dataset.task.value
    seen: set[str] = set()
    tick = Batched(progress)
    detection = dataset.task is Task.DETECTION
    encoder = _DetectionEncoder(attribute, date)
    classes = dataset.classes
    images_written, image_acc, box_acc = 0, [], []  # type: tuple[int, list[str], list[str]]
    with atomic_writer(target) as fp:
        for item in dataset:
            if item.source_ref:
                ref = item.source_ref
            elif prefix is not None:
                ref = prefix + item.path
            else:
                raise ManifestKitError("the images are given by relative paths: pass --s3-prefix "
                                       "s3://BUCKET/PREFIX/ to say where they will be in S3")
            if ref in seen:
                if duplicates == "error":
                    raise ManifestError(f"two images map to the same source-ref {ref}", path=item.path)
                summary.note("MK_DUPLICATE_SOURCE_REF", "image already written (same source-ref): the later "
                             "line was left out", f"{item.source_id or item.path} ({ref})")
                continue
            seen.add(ref)
            if detection and (item.boxes or item.width):
                data, box_labels = encoder.line(item, ref, classes)
                fp.write(data)
                # Counted in batches: one Counter.update per 64k boxes instead of one per image.
                images_written += 1
                box_acc += box_labels
                image_acc += dict.fromkeys([*item.labels, *box_labels]) if item.labels else dict.fromkeys(box_labels)
                if len(box_acc) > 65536:
                    summary.count_many(images_written, image_acc, box_acc)
                    images_written, image_acc, box_acc = 0, [], []
            else:
                line = item_to_line(item, task=Task.CLASSIFICATION, source_ref=ref, classes=classes,
                                    attribute=attribute, date=date)
                if line is None:
                    summary.note("MK_UNLABELLED_IMAGE", "image has no label and was not written",
                                 item.source_id or item.path)
                else:
                    fp.write(_encode(line))
                    fp.write(b"\n")
                    summary.count_item(item)
            tick()
    tick.flush()
    summary.count_many(images_written, image_acc, box_acc)
    summary.output = target
    return summary


def _check_attribute(name: str) -> None:
    if not name or name == "source-ref" or "-metadata" in name or name.endswith("-ref"):
        raise ManifestKitError(
            f"invalid label attribute name {name!r}: it must not be empty or 'source-ref', contain "
            "'-metadata' or end in '-ref' (Ground Truth rules)")
    if name in ("errors", "warnings", "cl-errors", "cl-metadata") or name.startswith("rekognition-custom-labels-"):
        raise ManifestKitError(f"invalid label attribute name {name!r}: Rekognition writes that key itself")


# ---------------------------------------------------------------------------------------------- reading


def parse_line(obj: dict[str, Any], *, line: int | None = None) -> ImageItem:
    """Turn one decoded manifest line into an :class:`ImageItem` (every supported attribute pair).

    Accepts Rekognition's classification and detection forms and Ground Truth's native multi-label
    form. Raises ManifestError for a line that is not a labelled image line.
    """
    ref = obj.get("source-ref")
    if not isinstance(ref, str):
        raise ManifestError("the line has no source-ref string", line=line)
    try:
        _, key = parse_s3_uri(ref)
    except ManifestKitError:
        key = ref
    labels: list[str] = []
    boxes: list[Box] = []
    width = height = None
    depth = 3
    for name, meta in obj.items():
        if not name.endswith("-metadata") or not isinstance(meta, dict):
            continue
        attr = name[: -len("-metadata")]
        if attr not in obj:
            continue
        value = obj[attr]
        kind = meta.get("type")
        if kind == CLASSIFICATION_TYPE:
            cname = meta.get("class-name")
            if isinstance(cname, str) and cname not in labels:
                labels.append(cname)
        elif kind == MULTILABEL_TYPE:
            cmap = meta.get("class-map") or {}
            if isinstance(value, list) and isinstance(cmap, dict):
                for cid in value:
                    cname = cmap.get(str(cid))
                    if isinstance(cname, str) and cname not in labels:
                        labels.append(cname)
        elif kind == DETECTION_TYPE and isinstance(value, dict):
            size = value.get("image_size")
            if isinstance(size, list) and size:
                size = size[0]
            if isinstance(size, dict):
                width, height = size.get("width"), size.get("height")
                depth = size.get("depth", 3) if isinstance(size.get("depth", 3), int) else 3
            cmap = meta.get("class-map")
            cmap = cmap if isinstance(cmap, dict) else {}
            objects = meta.get("objects")
            objects = objects if isinstance(objects, list) else []
            anns = value.get("annotations")
            if anns is not None and not isinstance(anns, list):
                raise ManifestError(f"the annotations of attribute {attr!r} are not a list", line=line)
            for i, ann in enumerate(anns or []):
                if not isinstance(ann, dict):
                    continue
                cid = ann.get("class_id")
                cname = cmap.get(str(cid))
                conf = 1.0
                if i < len(objects) and isinstance(objects[i], dict):
                    c = objects[i].get("confidence", 1.0)
                    conf = float(c) if isinstance(c, (int, float)) else 1.0
                try:
                    boxes.append(Box(str(cname) if cname is not None else str(cid), float(ann["left"]),
                                     float(ann["top"]), float(ann["width"]), float(ann["height"]),
                                     cid if isinstance(cid, int) else None, conf))
                except (KeyError, TypeError, ValueError):
                    raise ManifestError(f"annotation {i} of attribute {attr!r} is malformed", line=line) from None
    return ImageItem(path=key, width=width if isinstance(width, int) else None,
                     height=height if isinstance(height, int) else None, labels=tuple(labels),
                     boxes=tuple(boxes), depth=depth, source_ref=ref, line=line)


def _iter_lines(path: str) -> Iterator[tuple[int, bytes]]:
    try:
        fp = open(path, "rb")
    except OSError as e:
        raise ManifestError(f"cannot open the manifest ({e.strerror or e})", path=path) from None
    with fp:
        for n, raw in enumerate(fp, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield n, raw


def read_manifest(path: str | os.PathLike[str], *, skip_invalid: bool = False) -> Dataset:
    """Read a Ground Truth / Rekognition manifest into a streaming :class:`Dataset`.

    The task is that of the first labelled line (detection if it has boxes' attribute). ``classes`` fills
    in as the items are iterated. Blank lines are skipped; a malformed line raises ManifestError naming
    its number, unless ``skip_invalid`` (then it is counted in the summary).
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ManifestError("manifest not found", path=p)
    task = _sniff_task(p)
    summary = Summary(source=p, task=task.value)
    classes: dict[str, int] = {}

    def items() -> Iterator[ImageItem]:
        for n, raw in _iter_lines(p):
            if not raw.strip():
                continue
            try:
                obj = _decode(raw)
                if not isinstance(obj, dict):
                    raise ManifestError("the line is not a JSON object", path=p, line=n)
                item = parse_line(obj, line=n)
            except (msgspec.DecodeError, ManifestError) as e:
                if not skip_invalid:
                    reason = e.reason if isinstance(e, ManifestError) else f"invalid JSON ({e})"
                    raise ManifestError(f"{reason}; run 'manifestkit validate' for a full report",
                                        path=p, line=n) from None
                summary.note("ERROR_INVALID_JSON_LINE", "line could not be read", f"line {n}", severity="error")
                continue
            for b in item.boxes:
                if b.label not in classes:
                    classes[b.label] = b.class_id if b.class_id is not None else len(classes)
            for lab in item.labels:
                classes.setdefault(lab, len(classes))
            yield item

    return Dataset(task=task, items=_Reiterable(items), classes=classes, summary=summary)


class _Reiterable:
    """An iterable that runs its generator function afresh on each ``iter()``: streaming, re-readable."""

    def __init__(self, fn: Callable[[], Iterator[ImageItem]]) -> None:
        self._fn = fn

    def __iter__(self) -> Iterator[ImageItem]:
        return self._fn()


def _sniff_task(path: str) -> Task:
    for _, raw in _iter_lines(path):
        if not raw.strip():
            continue
        try:
            obj = _decode(raw)
        except msgspec.DecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        for name, meta in obj.items():
            if name.endswith("-metadata") and isinstance(meta, dict):
                if meta.get("type") == DETECTION_TYPE:
                    return Task.DETECTION
                if meta.get("type") in (CLASSIFICATION_TYPE, MULTILABEL_TYPE):
                    return Task.CLASSIFICATION
    return Task.CLASSIFICATION
