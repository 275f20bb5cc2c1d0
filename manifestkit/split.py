"""A deterministic, label-stratified train/test split of a manifest that Rekognition will accept.

The split works on *units*: lines that must stay together. Lines with the same ``source-ref``, lines whose
``source-ref`` gives the same ``group_by`` capture, and lines whose images have identical bytes (when the
images are at hand) form one unit. Units are assigned by iterative stratification (Sechidis, Tsoumakas and
Vlahavas, 2011): repeatedly take the label with the fewest images not yet assigned and hand each of its
units, in a seeded random order, to the part that most needs images of that label; for a detection label the
unit's boxes count too, while both parts can still take its images. A repair pass then moves single units so
that every label with at least two units is in both parts, never taking a label out of a part to do so.

Memory stays proportional to the labels and line count, not to the text: the first pass keeps a few
integers per line (label ids, box counts, a 64-bit key), the second pass copies each raw line to its part.
Everything that decides the split is integer arithmetic over seeded blake2b keys, so the same input and
seed give byte-identical outputs on any machine and Python version.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import compress, islice
from typing import Any, BinaryIO, Union

import msgspec

from .errors import ManifestError, ManifestKitError
from .manifest import CLASSIFICATION_TYPE, DETECTION_TYPE, MULTILABEL_TYPE, atomic_writer, manifest_path, \
    parse_line
from .uris import normalize_prefix, relative_key

__all__ = ["AUTOSPLIT_MIN_IMAGES", "LabelSplit", "SplitResult", "SplitWarning", "line_labels", "split"]

Progress = Callable[[int], None]

#: Prediction rule for ``ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_AUTOSPLIT`` (Rekognition does not document
#: its threshold): its auto-split moves 20 % of the images to test, and 20 % of a label is a whole image
#: only from 5 images on, so a label with fewer images is predicted to make the auto-split fail.
AUTOSPLIT_MIN_IMAGES = 5

#: Box shares further than this from the target (and at least one box off) are reported.
BOX_SHARE_TOLERANCE = 0.05

#: Rekognition's label-overlap rule: |labels(train) & labels(test)| / |labels(train)| must be >= 1/2.
MIN_LABEL_OVERLAP = Fraction(1, 2)

_BOM = b"\xef\xbb\xbf"
_TRAIN, _TEST, _NONE = 0, 1, 255
_FORCED, _NOREF = 1, 2  # per-line flags: must go to train (unparseable / blank); has no source-ref


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class SplitWarning:
    """Something the split could not do as asked, with the reason and what to do. ``label`` if per label."""

    code: str
    message: str
    label: str | None = None
    severity: str = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "label": self.label, "message": self.message}


@dataclass(frozen=True, slots=True)
class LabelSplit:
    """One row of the split table: a label's images (lines) and boxes in each part, and its groups."""

    label: str
    images: int
    train_images: int
    test_images: int
    boxes: int
    train_boxes: int
    test_boxes: int
    groups: int
    target_test_images: float

    @property
    def test_share(self) -> float:
        """The share of this label's images that went to test."""
        return self.test_images / self.images if self.images else 0.0

    @property
    def test_box_share(self) -> float:
        """The share of this label's boxes that went to test."""
        return self.test_boxes / self.boxes if self.boxes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "images": self.images, "train_images": self.train_images,
                "test_images": self.test_images, "boxes": self.boxes, "train_boxes": self.train_boxes,
                "test_boxes": self.test_boxes, "groups": self.groups,
                "target_test_images": self.target_test_images, "test_share": self.test_share}


@dataclass(slots=True)
class SplitResult:
    """What :func:`split` wrote: line counts per part, the per-label table, warnings and predictions.

    ``invalid_lines`` are blank or unparseable lines; they are kept in train (Rekognition counts them as
    invalid dataset objects there) and their 1-based numbers start ``invalid_examples``.
    ``label_overlap`` is Rekognition's |labels(train) & labels(test)| / |labels(train)|.
    ``autosplit_risk`` lists the labels with fewer than :data:`AUTOSPLIT_MIN_IMAGES` images: the prediction
    that letting Rekognition split would fail with ``ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_AUTOSPLIT``.
    """

    source: str
    train_path: str
    test_path: str
    test_fraction: float
    seed: int
    lines: int = 0
    train_lines: int = 0
    test_lines: int = 0
    groups: int = 0
    invalid_lines: int = 0
    invalid_examples: list[int] = field(default_factory=list)
    detection: bool = False
    labels: list[LabelSplit] = field(default_factory=list)
    label_overlap: float = 1.0
    warnings: list[SplitWarning] = field(default_factory=list)
    autosplit_risk: list[str] = field(default_factory=list)
    images_hashed: int = 0
    images_missing: int = 0

    @property
    def overlap_ok(self) -> bool:
        """True when the split meets Rekognition's 50 % label-overlap rule."""
        return self.label_overlap >= float(MIN_LABEL_OVERLAP)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "train": self.train_path, "test": self.test_path,
            "test_fraction": self.test_fraction, "seed": self.seed, "lines": self.lines,
            "train_lines": self.train_lines, "test_lines": self.test_lines, "groups": self.groups,
            "invalid_lines": self.invalid_lines, "invalid_examples": list(self.invalid_examples),
            "detection": self.detection, "label_overlap": self.label_overlap,
            "labels": [row.to_dict() for row in self.labels],
            "warnings": [w.to_dict() for w in self.warnings],
            "autosplit_risk": list(self.autosplit_risk),
            "images_hashed": self.images_hashed, "images_missing": self.images_missing,
        }


# ------------------------------------------------------------------------------------ line labels

# A typed decoder that materialises only what labels are made of (type, class-name, class-map, class_id and
# the box numbers) and skips the rest (image_size, objects' contents, dates) without building it. It reads a
# line exactly as manifest.parse_line does; anything outside its schema falls back to parse_line itself.


class _Ann(msgspec.Struct):
    left: float
    top: float
    width: float
    height: float
    # int only: 1, 1.0 and true are equal as dict keys but not as str(), which names the label.
    class_id: Union[int, None] = None


class _Obj(msgspec.Struct):
    type: Any = None
    class_name: Any = msgspec.field(name="class-name", default=None)
    class_map: Any = msgspec.field(name="class-map", default=None)
    annotations: Union[list[_Ann], None] = None
    objects: Union[list[msgspec.Raw], None] = None


_fast_decode = msgspec.json.Decoder(dict[str, Union[_Obj, list[Any], str, int, float, bool, None]]).decode
_decode = msgspec.json.Decoder().decode


class _Unparseable(Exception):
    """Internal: the line is not a labelled image line; ``ref`` is its source-ref when it has one."""

    def __init__(self, ref: str | None) -> None:
        self.ref = ref


_MISSING = object()
_class_id = operator.attrgetter("class_id")


def _fast_labels(obj: dict[str, Any]) -> tuple[str, dict[str, int]]:
    ref = obj.get("source-ref")
    if type(ref) is not str:
        raise _Unparseable(None)
    labels: dict[str, int] = {}
    boxes: dict[str, int] | None = None
    for name, meta in obj.items():
        if type(meta) is not _Obj or not name.endswith("-metadata"):
            continue
        value = obj.get(name[:-9], _MISSING)
        if value is _MISSING:
            continue
        kind = meta.type
        if kind == CLASSIFICATION_TYPE:
            if type(meta.class_name) is str:
                labels.setdefault(meta.class_name, 0)
        elif kind == MULTILABEL_TYPE:
            cmap = meta.class_map or {}
            if type(value) is list and type(cmap) is dict:
                for cid in value:
                    cname = cmap.get(str(cid))
                    if type(cname) is str:
                        labels.setdefault(cname, 0)
        elif kind == DETECTION_TYPE and type(value) is _Obj and value.annotations:
            cmap = meta.class_map
            if type(cmap) is not dict:
                cmap = {}
            if boxes is None:
                boxes = {}
            cids = list(map(_class_id, value.annotations))
            # Count boxes per class id with list.count (C), then name each distinct id once.
            for cid in dict.fromkeys(cids):
                cname = cmap.get(str(cid))
                label = cname if type(cname) is str else str(cid) if cname is None else str(cname)
                boxes[label] = boxes.get(label, 0) + cids.count(cid)
    if boxes:
        if not labels:
            return ref, boxes
        labels.update(boxes)
    return ref, labels


def _slow_labels(raw: bytes) -> tuple[str, dict[str, int]]:
    try:
        obj = _decode(raw)
    except msgspec.DecodeError:
        raise _Unparseable(None) from None
    if not isinstance(obj, dict):
        raise _Unparseable(None)
    ref = obj.get("source-ref")
    try:
        item = parse_line(obj)
    except (ManifestError, TypeError, ValueError, KeyError, AttributeError):
        # parse_line raises ManifestError for a malformed line; the others come from shapes it does not
        # expect (e.g. "objects": 5): both mean Rekognition would reject the line too.
        raise _Unparseable(ref if isinstance(ref, str) else None) from None
    labels = dict.fromkeys(item.labels, 0)
    for b in item.boxes:
        labels[b.label] = labels.get(b.label, 0) + 1
    return item.source_ref or "", labels


def line_labels(raw: bytes) -> tuple[str, dict[str, int]] | None:
    """The ``source-ref`` and the labels of one raw manifest line, each label with its box count.

    Labels are those :func:`manifestkit.manifest.parse_line` reads (image-level, Ground Truth
    multi-label and box labels); a label that is only image-level has 0 boxes. Returns None for a line
    that is blank, not JSON, or not a labelled image line.
    """
    try:
        return _labels(raw)
    except _Unparseable:
        return None


def _labels(raw: bytes) -> tuple[str, dict[str, int]]:
    if not raw.strip():
        raise _Unparseable(None)
    try:
        obj = _fast_decode(raw)
    except msgspec.ValidationError:
        return _slow_labels(raw)
    except msgspec.DecodeError:
        raise _Unparseable(None) from None
    return _fast_labels(obj)


# ---------------------------------------------------------------------------------------- the split


def _fraction(value: float | str | Fraction) -> Fraction:
    try:
        # repr() of a float is its shortest round-trip text, so 0.2 becomes exactly 1/5 everywhere.
        frac = Fraction(value) if isinstance(value, Fraction) else Fraction(
            repr(float(value)) if not isinstance(value, str) else value)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ManifestKitError(f"test fraction must be a number between 0 and 1, not {value!r}") from None
    if not 0 < frac < 1:
        raise ManifestKitError(
            f"test fraction must be strictly between 0 and 1 (for example 0.2), not {value}: both parts "
            "need images")
    return frac


def _group_pattern(group_by: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if group_by is None:
        return None
    try:
        rx = re.compile(group_by) if isinstance(group_by, str) else group_by
    except re.error as e:
        raise ManifestKitError(f"--group-by is not a valid regular expression: {e}") from None
    if rx.groups < 1:
        raise ManifestKitError("--group-by needs a capture group naming the group, for example "
                               r"'/(video\d+)/frame' or '^(.*)_crop\d+\.jpg$'")
    return rx


def _seed_key(seed: int) -> bytes:
    return hashlib.blake2b(b"manifestkit-split\0%d" % seed).digest()


class _Lines:
    """Per-line facts from the first pass, kept as integer arrays (no line text)."""

    def __init__(self) -> None:
        self.n = 0
        self.lab_start = array("i", [0])  # labels of line i: lab_flat[lab_start[i]:lab_start[i + 1]]
        self.lab_flat = array("i")
        self.box_flat = array("i")  # boxes of that label on that line
        self.key = array("Q")  # seeded 64-bit blake2b of the source-ref: duplicates and random order
        self.flags = bytearray()
        self.parent = array("i")  # union-find over lines; the root of a unit is its first line
        self.unions = 0
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.images: list[int] = []
        self.boxes: list[int] = []
        self.invalid = 0
        self.invalid_examples: list[int] = []

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        # Union by the smaller line number keeps parent[i] <= i, which lets one forward pass compress all.
        if ra < rb:
            self.parent[rb] = ra
        else:
            self.parent[ra] = rb
        self.unions += 1


def _chunks(fp: BinaryIO) -> Iterator[list[bytes]]:
    """The file's lines in lists of about 1 MB, the first line without its byte-order mark."""
    first = True
    while True:
        chunk = fp.readlines(1 << 20)
        if not chunk:
            return
        if first and chunk[0].startswith(_BOM):
            chunk[0] = chunk[0][3:]  # the byte-order mark belongs to the file, not to the line
        first = False
        yield chunk


def _odd_line(raw: bytes, n: int, lines: _Lines, odd: dict[int, int],
              slow: Callable[[bytes], tuple[str, dict[str, int]]] | None) -> tuple[str | None, dict[str, int]]:
    """A line the fast reader could not take: read it with parse_line, or record it as unparseable."""
    try:
        if slow is None:
            raise _Unparseable(None)
        return slow(raw)
    except _Unparseable as e:
        lines.invalid += 1
        if len(lines.invalid_examples) < 10:
            lines.invalid_examples.append(n + 1)
        odd[n] = _FORCED if e.ref is not None else _FORCED | _NOREF
        return e.ref, {}


def _first_pass(fp: BinaryIO, lines: _Lines, key_base: Any, rx: re.Pattern[str] | None,
                progress: Progress | None) -> None:
    groups: dict[str, int] = {}
    pending = array("i")  # pairs of lines to join once every line has its union-find slot
    ids = lines.ids
    names = lines.names
    lab_flat, box_flat, lab_start = lines.lab_flat, lines.box_flat, lines.lab_start
    key = lines.key
    new_hash = key_base.copy
    fast_decode, fast_labels, slow_labels = _fast_decode, _fast_labels, _slow_labels
    validation_error, decode_error = msgspec.ValidationError, msgspec.DecodeError
    odd: dict[int, int] = {}  # line -> flags, for the few lines that are not plain labelled image lines
    n = 0
    for chunk in _chunks(fp):
        for raw in chunk:
            # This is _labels() inlined: the loop runs once per line of a 500,000-line manifest.
            try:
                ref, labels = fast_labels(fast_decode(raw))
            except validation_error:
                ref, labels = _odd_line(raw, n, lines, odd, slow_labels)
            except (decode_error, _Unparseable):
                ref, labels = _odd_line(raw, n, lines, odd, None)
            if ref is None:
                key.append(0)
            else:
                h = new_hash()
                h.update(ref.encode())
                key.frombytes(h.digest())
                if rx is not None:
                    m = rx.search(ref)
                    if m is not None:
                        g = m.group(1)
                        if g is not None:
                            first = groups.setdefault(g, n)
                            if first != n:
                                pending.append(first)
                                pending.append(n)
            if labels:
                if not labels.keys() <= ids.keys():
                    for name in labels:
                        if name not in ids:
                            ids[name] = len(names)
                            names.append(name)
                lab_flat.extend(map(ids.__getitem__, labels))
                box_flat.extend(labels.values())
            lab_start.append(len(lab_flat))
            n += 1
        if progress is not None:
            progress(len(chunk))
    lines.n = n
    lines.flags = flags = bytearray(n)
    for i, flag in odd.items():
        flags[i] = flag
    if sys.byteorder != "little":
        key.byteswap()  # the keys are the little-endian reading of the digests on every machine
    lines.parent = parent = array("i", range(n))
    # Each pair is (the first line of a group, a later line of it): the first line is the root and the later
    # line is joined nowhere else yet, so a plain assignment is the union.
    for k in range(0, len(pending), 2):
        parent[pending[k + 1]] = pending[k]
    lines.unions = len(pending) // 2
    counts = Counter(lab_flat)
    lines.images = [counts[lid] for lid in range(len(names))]
    lines.boxes = [0] * len(names)
    if any(box_flat):
        boxes = lines.boxes
        for lid, nbox in zip(lab_flat, box_flat):
            boxes[lid] += nbox


def _image_path(ref: str, root: str, prefix: str | None) -> str | None:
    """Where the image of ``ref`` is under ``root``: below ``prefix``, else the whole key (or local path)."""
    if prefix is not None:
        rel = relative_key(ref, prefix)
    elif ref.startswith("s3://"):
        rel = ref[5:].partition("/")[2]
    else:
        rel = ref  # a relative local path in the manifest
    if rel is None:
        return None
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p == ".." for p in parts):
        return None
    return os.path.join(root, *parts)


class _RefOnly(msgspec.Struct):
    source_ref: Any = msgspec.field(name="source-ref", default=None)


_ref_decode = msgspec.json.Decoder(_RefOnly).decode


def _iter_refs(path: str) -> Iterator[tuple[int, str | None]]:
    with open(path, "rb") as fp:
        for n, raw in enumerate(fp):
            if n == 0 and raw.startswith(_BOM):
                raw = raw[3:]
            try:
                ref = _ref_decode(raw).source_ref
            except (msgspec.DecodeError, msgspec.ValidationError):
                ref = None
            yield n, ref if isinstance(ref, str) else None


def _join_identical_images(path: str, lines: _Lines, images: str, prefix: str | None,
                           progress: Progress | None) -> tuple[int, int]:
    """Union lines whose image files have identical bytes. Only files sharing a size are hashed."""
    sizes = array("q", [-1]) * lines.n
    by_size: dict[int, int] = {}
    multi: set[int] = set()
    missing = 0
    for n, ref in _iter_refs(path):
        if n >= lines.n or ref is None:
            continue
        file = _image_path(ref, images, prefix)
        try:
            size = os.stat(file).st_size if file is not None else -1
        except OSError:
            size = -1
        if size < 0:
            missing += 1
            continue
        sizes[n] = size
        if by_size.setdefault(size, n) != n:
            multi.add(size)
    del by_size
    hashed = 0
    if multi:
        digests: dict[bytes, int] = {}
        for n, ref in _iter_refs(path):
            if n >= lines.n or ref is None or sizes[n] not in multi:
                continue
            file = _image_path(ref, images, prefix)
            h = hashlib.blake2b(digest_size=32)
            try:
                with open(file, "rb") as img:  # type: ignore[arg-type]
                    for chunk in iter(lambda: img.read(1 << 20), b""):
                        h.update(chunk)
            except OSError:
                missing += 1
                continue
            hashed += 1
            # The size is part of the key so that only files of equal length can ever be joined.
            first = digests.setdefault(h.digest() + sizes[n].to_bytes(8, "big"), n)
            if first != n:
                lines.union(first, n)
            if progress is not None:
                progress(1)
    return hashed, missing


@dataclass(slots=True)
class _State:
    """The assignment under construction: per-line part, per-label image/box counts per part."""

    part: bytearray
    img: list[list[int]]
    box: list[list[int]]
    lines_in: list[int]


class _Splitter:
    def __init__(self, lines: _Lines, frac: Fraction, detection: bool) -> None:
        self.L = lines
        self.p = frac.numerator
        self.q = frac.denominator
        self.detection = detection
        nlab = len(lines.names)
        self.s = _State(bytearray([_NONE]) * lines.n, [[0] * nlab, [0] * nlab], [[0] * nlab, [0] * nlab], [0, 0])
        self.nxt = array("i", [-1]) * lines.n  # next line of the same unit, -1 at the end
        self.label_units: list[array[int]] = [array("i") for _ in range(nlab)]
        self.forced: list[int] = []
        self.unlabelled: list[int] = []
        self.units = 0
        self.unit_count: list[int] = []  # units per label

    # --- units

    def build_units(self) -> None:
        L = self.L
        n = L.n
        key, flags, parent = L.key, L.flags, L.parent
        # Lines in seeded random order; equal keys are the same source-ref and must stay together.
        order = sorted(range(n), key=key.__getitem__)
        keys = list(map(key.__getitem__, order))
        # Positions whose key equals the previous one, found in C (duplicates are rare).
        for pos in compress(range(1, n), map(operator.eq, keys, islice(keys, 1, None))):
            a, b = order[pos - 1], order[pos]
            if not (flags[a] | flags[b]) & _NOREF:
                L.union(a, b)
        del keys
        if L.unions:
            self._link_units()
        lab_start, lab_flat, nxt = L.lab_start, L.lab_flat, self.nxt
        label_units = self.label_units
        forced_units, unlabelled = self.forced, self.unlabelled
        # Each label's units in the seeded random order. A unit is listed once per line carrying the
        # label, so Counter(label_units[lid]) gives the label's images per unit.
        if len(lab_flat) == n and lab_start == array("i", range(n + 1)):
            # Exactly one label per line (plain classification): group the lines by label with one stable
            # sort, in C, instead of a Python loop over half a million lines.
            by_label = sorted(order, key=lab_flat.__getitem__)
            pos = 0
            for lid, count in enumerate(L.images):
                chunk = by_label[pos:pos + count]
                label_units[lid] = array("i", map(parent.__getitem__, chunk) if L.unions else chunk)
                pos += count
            del by_label
            self.unit_count = [len(set(us)) for us in label_units] if L.unions else list(L.images)
        elif not L.unions:
            appends = [us.append for us in label_units]
            for i in order:
                s, e = lab_start[i], lab_start[i + 1]
                if e - s == 1:
                    appends[lab_flat[s]](i)
                elif s == e:
                    (forced_units if flags[i] & _FORCED else unlabelled).append(i)
                else:
                    for lid in lab_flat[s:e]:
                        appends[lid](i)
            self.unit_count = [len(us) for us in label_units]
        else:
            appends = [us.append for us in label_units]
            for i in order:
                s, e = lab_start[i], lab_start[i + 1]
                if e - s == 1:
                    appends[lab_flat[s]](parent[i])
                elif s != e:
                    r = parent[i]
                    for lid in lab_flat[s:e]:
                        appends[lid](r)
            # Blank, unparseable and unlabelled lines are few: look at their units only.
            seen: set[int] = set()
            for i in order:
                if lab_start[i] != lab_start[i + 1]:
                    continue
                r = parent[i]
                if r in seen:
                    continue
                seen.add(r)
                j, forced, labelled = r, False, False
                while j >= 0:
                    forced = forced or bool(flags[j] & _FORCED)
                    labelled = labelled or lab_start[j] != lab_start[j + 1]
                    j = nxt[j]
                if forced:
                    forced_units.append(r)
                elif not labelled:
                    unlabelled.append(r)
            self.unit_count = [len(set(us)) for us in label_units]
        self.units = n - L.unions
        for lid, us in enumerate(label_units):
            if self.unit_count[lid] == 1:  # a label all of whose images are in one unit goes to train
                forced_units.append(us[0])

    def _link_units(self) -> None:
        """Point every line at its unit's root and chain each unit's lines (nxt) in line order."""
        parent, nxt = self.L.parent, self.nxt
        tail = array("i", range(self.L.n))
        for i in range(self.L.n):
            r = parent[i]
            if r != i:
                # parent[i] <= i, so parent[r] is already r's root: one forward pass compresses all.
                r = parent[i] = parent[r]
                nxt[tail[r]] = i
                tail[r] = i

    def max_group(self, lid: int) -> int:
        """The most images of label ``lid`` in one unit."""
        return Counter(self.label_units[lid]).most_common(1)[0][1]

    def contribution(self, r: int) -> dict[int, tuple[int, int]]:
        """Label id -> (images, boxes) of unit ``r``."""
        L = self.L
        out: dict[int, tuple[int, int]] = {}
        j = r
        while j >= 0:
            for k in range(L.lab_start[j], L.lab_start[j + 1]):
                lid = L.lab_flat[k]
                img, box = out.get(lid, (0, 0))
                out[lid] = (img + 1, box + L.box_flat[k])
            j = self.nxt[j]
        return out

    def assign(self, r: int, part: int) -> None:
        L, s = self.L, self.s
        img, box = s.img[part], s.box[part]
        lab_start, lab_flat, box_flat = L.lab_start, L.lab_flat, L.box_flat
        j = r
        while j >= 0:
            s.part[j] = part
            s.lines_in[part] += 1
            for k in range(lab_start[j], lab_start[j + 1]):
                lid = lab_flat[k]
                img[lid] += 1
                box[lid] += box_flat[k]
            j = self.nxt[j]

    def unassign(self, r: int) -> None:
        L, s = self.L, self.s
        part = s.part[r]
        img, box = s.img[part], s.box[part]
        j = r
        while j >= 0:
            s.part[j] = _NONE
            s.lines_in[part] -= 1
            for k in range(L.lab_start[j], L.lab_start[j + 1]):
                lid = L.lab_flat[k]
                img[lid] -= 1
                box[lid] -= L.box_flat[k]
            j = self.nxt[j]

    # --- iterative stratification

    def overall_choice(self, r: int) -> int:
        # Integer needs, scaled by q: train wants (q - p) / q of the lines, test p / q.
        p, q, s = self.p, self.q, self.s
        n = self.L.n
        need_train = n * (q - p) - q * s.lines_in[_TRAIN]
        need_test = n * p - q * s.lines_in[_TEST]
        if need_train != need_test:
            return _TRAIN if need_train > need_test else _TEST
        return self.L.key[r] & 1

    def choose(self, r: int, lid: int, c_img: int, c_box: int) -> int:
        """The part for unit ``r`` in the round of label ``lid`` (the unit has c_img images, c_box boxes)."""
        p, q, s, L = self.p, self.q, self.s, self.L
        total = L.images[lid]
        # Needs are integers scaled by q: train wants (q - p) / q of the label's images, test p / q.
        need_train = total * (q - p) - q * s.img[_TRAIN][lid]
        need_test = total * p - q * s.img[_TEST][lid]
        if need_train >= q * c_img and need_test >= q * c_img:
            # Both parts can take these images without overshooting.
            rel_train, rel_test = need_train * p, need_test * (q - p)
            btotal = L.boxes[lid]
            if self.detection and btotal:
                # Boxes too: put the unit where, after placing it, the smaller of the part's image and box
                # shares still missing is larger, so that a unit with many boxes goes where boxes are
                # missing. All four shares are scaled by images * boxes * p * (q - p) to stay integers.
                bneed_train = btotal * (q - p) - q * s.box[_TRAIN][lid]
                bneed_test = btotal * p - q * s.box[_TEST][lid]
                score_train = min((need_train - q * c_img) * btotal, (bneed_train - q * c_box) * total) * p
                score_test = min((need_test - q * c_img) * btotal, (bneed_test - q * c_box) * total) * (q - p)
                if score_train != score_test:
                    return _TRAIN if score_train > score_test else _TEST
            # Else the part missing the larger share of its target (cross-multiplied: need / its target),
            # so that both parts fill at the same pace.
            if rel_train != rel_test:
                return _TRAIN if rel_train > rel_test else _TEST
        elif need_train != need_test:
            # The larger absolute need: no part ends more than half a unit past its target.
            return _TRAIN if need_train > need_test else _TEST
        return self.overall_choice(r)

    def stratify(self) -> None:
        L, s = self.L, self.s
        part = s.part
        for r in self.forced:
            if part[r] == _NONE:
                self.assign(r, _TRAIN)
        rank = {lid: k for k, lid in enumerate(sorted(range(len(L.names)), key=L.names.__getitem__))}
        images = L.images
        img_train, img_test = s.img
        lab_start, lab_flat, box_flat, nxt = L.lab_start, L.lab_flat, L.box_flat, self.nxt
        active = [lid for lid in range(len(L.names)) if images[lid] - img_train[lid] - img_test[lid] > 0]
        while active:
            # The label with the fewest images left to place; ties by name, so the order is total.
            lid = min(active, key=lambda x: (images[x] - img_train[x] - img_test[x], rank[x]))
            for r in self.label_units[lid]:
                if part[r] != _NONE:
                    continue
                if nxt[r] < 0:
                    c_img, c_box = 1, box_flat[lab_flat.index(lid, lab_start[r], lab_start[r + 1])]
                else:
                    c_img = c_box = 0
                    j = r
                    while j >= 0:
                        for k in range(lab_start[j], lab_start[j + 1]):
                            if lab_flat[k] == lid:
                                c_img += 1
                                c_box += box_flat[k]
                        j = nxt[j]
                self.assign(r, self.choose(r, lid, c_img, c_box))
            active = [x for x in active if images[x] - img_train[x] - img_test[x] > 0]
        for r in self.unlabelled:
            if part[r] == _NONE:
                self.assign(r, self.overall_choice(r))

    # --- repair: every label with >= 2 units in both parts

    def safe_move(self, r: int, src: int) -> bool:
        s = self.s
        for lid, (c_img, _) in self.contribution(r).items():
            have = s.img[src][lid]
            # A move may not take a label out of a part it needs: train always, test when it has 2+ units.
            if have - c_img <= 0 < have and (src == _TRAIN or self.unit_count[lid] >= 2):
                return False
        return True

    def repair(self) -> list[int]:
        L, s = self.L, self.s
        forced = set(self.forced)
        by_name = sorted(range(len(L.names)), key=L.names.__getitem__)
        moved: list[int] = []
        changed = True
        while changed:
            changed = False
            for lid in by_name:
                if self.unit_count[lid] < 2:
                    continue
                for src, dst in ((_TRAIN, _TEST), (_TEST, _TRAIN)):
                    if s.img[dst][lid] > 0:
                        continue
                    best: tuple[int, int] | None = None
                    smallest: tuple[int, int] | None = None
                    for r in self.label_units[lid]:
                        if s.part[r] != src or (dst == _TEST and r in forced):
                            continue
                        size = self.unit_size(r)
                        if smallest is None or size < smallest[0]:
                            smallest = (size, r)
                        if (best is None or size < best[0]) and self.safe_move(r, src):
                            best = (size, r)
                    if best is None and dst == _TRAIN:
                        # Rekognition needs every label in training; a label only in test helps nobody.
                        # So, failing a safe move, move one anyway, even if it takes another label out of
                        # test. Moves into train never take anything out of train, so this ends too.
                        best = smallest
                    if best is not None:
                        self.unassign(best[1])
                        self.assign(best[1], dst)
                        moved.append(lid)
                        changed = True
        return moved

    def unit_size(self, r: int) -> int:
        size, j = 0, r
        while j >= 0:
            size += 1
            j = self.nxt[j]
        return size


_FLIP = bytes([1, 0]) + bytes(254)  # bytes.translate table: part 0 (train) <-> 1 (test)


def _second_pass(path: str, lines: _Lines, part: bytearray, train: BinaryIO, test: BinaryIO,
                 progress: Progress | None) -> None:
    n = 0
    last = b"\n"
    with open(path, "rb") as fp:
        for chunk in _chunks(fp):
            end = n + len(chunk)
            if end > lines.n:
                n = end
                break
            # Pick each part's lines of the chunk in C: compress() keeps the lines whose selector is 1.
            to_test = part[n:end]
            test.write(b"".join(compress(chunk, to_test)))
            train.write(b"".join(compress(chunk, to_test.translate(_FLIP))))
            last = chunk[-1]
            n = end
            if progress is not None:
                progress(len(chunk))
    if n != lines.n:
        raise ManifestError("the manifest changed while it was being split; run the split again", path=path)
    if not last.endswith(b"\n"):
        (test if part[n - 1] == _TEST else train).write(b"\n")  # a last line without one gets one


def split(manifest: str | os.PathLike[str], train_out: str | os.PathLike[str], test_out: str | os.PathLike[str],
          *, test_fraction: float | str | Fraction = 0.2, seed: int = 0,
          group_by: str | re.Pattern[str] | None = None, images: str | os.PathLike[str] | None = None,
          s3_prefix: str | None = None, progress: Progress | None = None) -> SplitResult:
    """Split a manifest into a train and a test manifest, stratified by label; returns the split table.

    Every input line lands in exactly one output, byte for byte, in input order; blank and unparseable
    lines go to train. Lines sharing a ``source-ref``, a ``group_by`` capture (the regex's first group
    over ``source-ref``) or, with ``images`` (the folder the images are in; ``s3_prefix`` is the part of
    ``source-ref`` that folder stands for), identical image bytes stay in one part. Outputs get the
    ``.manifest`` extension and are written atomically. ``progress`` is called with lines handled.

    Raises:
        ManifestKitError: a bad fraction, regex or path; ManifestError when the manifest cannot be read
        or has no image line.
    """
    frac = _fraction(test_fraction)
    rx = _group_pattern(group_by)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ManifestKitError(f"seed must be an integer, not {seed!r}")
    src = os.fspath(manifest)
    train_path, test_path = manifest_path(train_out), manifest_path(test_out)
    if not os.path.isfile(src):
        raise ManifestError("manifest not found", path=src)
    real = {os.path.realpath(src)}
    for out in (train_path, test_path):
        if os.path.realpath(out) in real:
            raise ManifestKitError(f"{out}: the train and test outputs must be two new files, not the input "
                                   "or each other")
        real.add(os.path.realpath(out))
    if s3_prefix is not None and images is None:
        raise ManifestKitError("s3_prefix only tells where the images are in --images; give --images too")
    prefix = normalize_prefix(s3_prefix) if s3_prefix is not None else None
    if images is not None and not os.path.isdir(images):
        raise ManifestKitError(f"images folder not found: {os.fspath(images)}")

    before = os.stat(src)
    lines = _Lines()
    key_base = hashlib.blake2b(digest_size=8, key=_seed_key(seed))
    try:
        with open(src, "rb") as fp:
            _first_pass(fp, lines, key_base, rx, progress)
    except OSError as e:
        raise ManifestError(f"cannot read the manifest ({e.strerror or e})", path=src) from None
    if lines.n == lines.invalid:
        raise ManifestError("the manifest has no image line to split" if lines.n else
                            "the manifest is empty: nothing to split", path=src)

    result = SplitResult(source=src, train_path=train_path, test_path=test_path,
                         test_fraction=float(frac), seed=seed)
    if images is not None:
        result.images_hashed, result.images_missing = _join_identical_images(
            src, lines, os.fspath(images), prefix, progress)

    detection = any(lines.boxes)
    sp = _Splitter(lines, frac, detection)
    sp.build_units()
    sp.stratify()
    moved = set(sp.repair())

    after = os.stat(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ManifestError("the manifest changed while it was being split; run the split again", path=src)
    with atomic_writer(train_path) as ftrain, atomic_writer(test_path) as ftest:
        _second_pass(src, lines, sp.s.part, ftrain, ftest, progress)
    result.train_lines, result.test_lines = sp.s.lines_in

    result.lines = lines.n
    result.groups = sp.units
    result.invalid_lines = lines.invalid
    result.invalid_examples = lines.invalid_examples
    result.detection = detection
    _report(result, lines, sp, frac, moved)
    return result


# ------------------------------------------------------------------------------------------- report


def _most_boxes_per_image(lines: _Lines) -> list[int]:
    most = [0] * len(lines.names)
    for lid, n in zip(lines.lab_flat, lines.box_flat):
        if n > most[lid]:
            most[lid] = n
    return most


def _report(result: SplitResult, lines: _Lines, sp: _Splitter, frac: Fraction, moved: set[int]) -> None:
    most_boxes: list[int] | None = None
    img_train, img_test = sp.s.img
    box_train, box_test = sp.s.box
    p, q = frac.numerator, frac.denominator
    warn = result.warnings.append
    pct = f"{float(frac) * 100:g} %"
    for lid in sorted(range(len(lines.names)), key=lines.names.__getitem__):
        name = lines.names[lid]
        total = lines.images[lid]
        units = sp.unit_count[lid]
        row = LabelSplit(label=name, images=total, train_images=img_train[lid], test_images=img_test[lid],
                         boxes=lines.boxes[lid], train_boxes=box_train[lid], test_boxes=box_test[lid],
                         groups=units, target_test_images=float(total * frac))
        result.labels.append(row)
        if units == 1:
            if total == 1:
                warn(SplitWarning("MK_SPLIT_ONE_IMAGE", f"label {name!r} has only one image: it goes to train "
                                  "and the test set cannot check it; add images of it", name))
            else:
                warn(SplitWarning("MK_SPLIT_ONE_GROUP", f"label {name!r}: all {total} images are in one group "
                                  "(same source-ref, --group-by group or identical image bytes), which goes to "
                                  "train; add images from other groups", name))
        elif img_test[lid] == 0:
            warn(SplitWarning("MK_SPLIT_LABEL_NOT_IN_TEST",
                              f"label {name!r} ({units} groups) is not in test: each of its groups also carries "
                              "a label that would then have no image left in train or test", name))
        elif abs(q * img_test[lid] - p * total) >= q:
            # More than one whole image away from the target share: say why.
            biggest = sp.max_group(lid)
            if biggest > 1:
                why = f"its images come in groups of up to {biggest} that stay together"
            elif lid in moved:
                why = "a group was moved so that every label is in both parts"
            else:
                why = "its images also carry other labels, which were balanced at the same time"
            warn(SplitWarning("MK_SPLIT_OFF_TARGET",
                              f"label {name!r}: {img_test[lid]} of {total} images in test "
                              f"({img_test[lid] / total:.1%}, target {pct}): {why}", name))
        if row.boxes and units >= 2 and abs(q * row.test_boxes - p * row.boxes) >= q and \
                abs(row.test_box_share - float(frac)) > BOX_SHARE_TOLERANCE:
            if most_boxes is None:
                most_boxes = _most_boxes_per_image(lines)
            most = most_boxes[lid]
            warn(SplitWarning("MK_SPLIT_BOXES_OFF_TARGET",
                              f"label {name!r}: {row.test_boxes} of {row.boxes} boxes in test "
                              f"({row.test_box_share:.1%}, target {pct}): its boxes are unevenly spread over "
                              f"the images (up to {most} on one image)", name))
    if result.invalid_lines:
        ex = ", ".join(map(str, result.invalid_examples[:5]))
        warn(SplitWarning("MK_SPLIT_INVALID_LINES",
                          f"{result.invalid_lines} blank or unparseable lines (e.g. line {ex}) were kept in "
                          "train, where Rekognition counts them as invalid; run 'manifestkit validate'"))
    if result.images_missing:
        warn(SplitWarning("MK_IMAGE_NOT_FOUND",
                          f"{result.images_missing} images were not found under the images folder, so they "
                          "were not checked for identical copies; check --images and --s3-prefix"))
    if result.test_lines == 0:
        warn(SplitWarning("MK_SPLIT_EMPTY_TEST", "the test manifest is empty and Rekognition rejects an empty "
                          "manifest: add images, or images from more groups"))
    in_train = [lid for lid in range(len(lines.names)) if img_train[lid] > 0]
    both = sum(1 for lid in in_train if img_test[lid] > 0)
    result.label_overlap = both / len(in_train) if in_train else 1.0
    if in_train and Fraction(both, len(in_train)) < MIN_LABEL_OVERLAP:
        warn(SplitWarning("ERROR_INSUFFICIENT_LABEL_OVERLAP",
                          f"predicted: only {both} of the {len(in_train)} train labels are also in test "
                          f"({result.label_overlap:.0%}); Rekognition needs 50 %: add images of the labels that "
                          "have only one image or group", severity="error"))
    result.autosplit_risk = sorted(row.label for row in result.labels if row.images < AUTOSPLIT_MIN_IMAGES)
