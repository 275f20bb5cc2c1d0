"""A deterministic, label-stratified train/test split of a manifest that Rekognition will accept.

The split works on *units*: lines that must stay together. Lines with the same ``source-ref``, lines whose
``source-ref`` gives the same ``group_by`` capture, and lines whose images have identical bytes (when the
images are at hand) form one unit. Units are assigned by iterative stratification (Sechidis, Tsoumakas and
Vlahavas, 2011): repeatedly take the label with the fewest images not yet assigned and hand each of its
units, in a seeded random order, to the part that most needs images of that label; for a detection label the
unit's boxes count too, while both parts can still take its images. A repair pass then moves single units so
that every label with at least two units is in both parts, never taking a label out of a part to do so.

Memory stays proportional to the labels and line count, not to the text: the first pass keeps a few
integers per line (label ids, box counts, a 64-bit key, where the line ends), the second pass copies each raw
line, or each run of lines going to one part, to its part. A big manifest's first pass is shared by two
processes, each reading a part of the file; joined, their results are exactly those of one pass.
Everything that decides the split is integer arithmetic over seeded blake2b keys, so the same input and
seed give byte-identical outputs on any machine and Python version.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import operator
import os
import pickle
import re
import subprocess
import sys
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate, compress, islice, repeat
from typing import Any, BinaryIO, TypeVar, Union

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


class _Ann(msgspec.Struct, gc=False):  # decoded JSON holds no cycles: no need for the GC to track it
    left: float
    top: float
    width: float
    height: float
    # int only: 1, 1.0 and true are equal as dict keys but not as str(), which names the label.
    class_id: Union[int, None] = None


class _Obj(msgspec.Struct, gc=False):
    type: Any = None
    class_name: Any = msgspec.field(name="class-name", default=None)
    # Typed so that every name in it is a str: any other class-map goes to parse_line (_slow_labels).
    class_map: Union[dict[str, str], None] = msgspec.field(name="class-map", default=None)
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


#: str() of the usual class ids, looked up faster than str() makes them.
_CID_TEXT = {i: str(i) for i in range(1024)}
#: The keys of a line -> the (attribute, metadata) pair when it is the only labelled attribute, else None.
_shapes: dict[tuple[str, ...], tuple[str, str] | None] = {}


def _shape(keys: tuple[str, ...]) -> tuple[str, str] | None:
    pairs = [(k[:-9], k) for k in keys if k.endswith("-metadata") and k[:-9] in keys]
    return pairs[0] if len(pairs) == 1 else None


def _fast_boxes(obj: dict[str, Any]) -> tuple[str, list[str], list[int]] | None:
    """The source-ref, box labels and their counts of a plain object-detection line; None for any other.

    The common line (one detection attribute, every class id named in its class-map) is read with C-level
    calls only; a line that is anything else returns None and goes to :func:`_fast_labels`.
    """
    keys = tuple(obj)
    shape = _shapes.get(keys, _MISSING)  # type: ignore[arg-type]
    if shape is _MISSING:
        shape = _shape(keys)
        if len(_shapes) < 256:  # the keys of a manifest's lines are nearly always the same few
            _shapes[keys] = shape
    if shape is None:
        return None
    meta, value = obj[shape[1]], obj[shape[0]]  # type: ignore[index]
    if type(meta) is not _Obj or type(value) is not _Obj or meta.type != DETECTION_TYPE or \
            not value.annotations or meta.class_map is None:
        return None
    ref = obj.get("source-ref")
    if type(ref) is not str:
        return None
    cids = list(map(_class_id, value.annotations))
    distinct = dict.fromkeys(cids)
    names = list(map(meta.class_map.get, map(_CID_TEXT.get, distinct)))
    # An unnamed id (or one outside _CID_TEXT) is labelled by the id itself, and two ids of one name add up:
    # _fast_labels does both.
    if None in names or (len(names) > 1 and len(set(names)) != len(names)):
        return None
    return ref, names, list(map(cids.count, distinct))


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
    fast = _fast_boxes(obj)
    if fast is not None:
        return fast[0], dict(zip(fast[1], fast[2]))
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
        self.start = 0  # where the first line starts in the file (after a byte-order mark)
        self.ends = array("q")  # where each line ends in the file: the second pass copies byte ranges
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


def _chunks(fp: BinaryIO, limit: int | None = None) -> Iterator[list[bytes]]:
    """The file's lines from where ``fp`` is, in lists of about 1 MB; ``limit`` bytes at most (a line end).

    A byte-order mark at the start of the file is taken off the first line: it belongs to the file.
    """
    first = fp.tell() == 0
    while True:
        chunk = fp.readlines(1 << 20)
        if not chunk:
            return
        if limit is not None:
            ends = list(accumulate(map(len, chunk)))
            if ends[-1] >= limit:
                # ``limit`` is a line end, so it is one of the running sums: cut the chunk there.
                chunk = chunk[:bisect_left(ends, limit) + 1]
                limit = 0
            else:
                limit -= ends[-1]
        if first and chunk[0].startswith(_BOM):
            chunk[0] = chunk[0][3:]
        first = False
        yield chunk
        if limit == 0:
            return


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


class _Part:
    """The first pass over a run of lines: line numbers and label ids are local to the run."""

    def __init__(self) -> None:
        self.lines = _Lines()
        self.groups: dict[str, int] = {}  # --group-by capture -> its first line
        # Pairs of lines to join once every line has its union-find slot: a group's first line, a later one.
        self.firsts = array("i")
        self.laters = array("i")
        self.odd: dict[int, int] = {}  # line -> flags, for the few lines that are not plain image lines


def _read_part(fp: BinaryIO, part: _Part, key_base: Any, rx: re.Pattern[str] | None,
               progress: Progress | None, limit: int | None = None) -> None:
    """Read the lines from where ``fp`` is (``limit`` bytes at most) into ``part``."""
    lines, groups, odd = part.lines, part.groups, part.odd
    firsts, laters = part.firsts, part.laters
    ids = lines.ids
    names = lines.names
    lab_flat, box_flat, lab_start = lines.lab_flat, lines.box_flat, lines.lab_start
    key = lines.key
    new_hash = key_base.copy
    fast_decode, fast_boxes, fast_labels, slow_labels = _fast_decode, _fast_boxes, _fast_labels, _slow_labels
    validation_error, decode_error = msgspec.ValidationError, msgspec.DecodeError
    ids_get = ids.get
    ends = lines.ends
    pos = fp.tell()
    if pos == 0 and fp.peek(3)[:3] == _BOM:  # type: ignore[attr-defined]
        pos = 3  # _chunks takes the byte-order mark off the first line
    lines.start = pos
    n = 0
    for chunk in _chunks(fp, limit):
        ends.extend(map(pos.__add__, accumulate(map(len, chunk))))
        pos = ends[-1]
        for raw in chunk:
            # This is _labels() inlined: the loop runs once per line of a 500,000-line manifest.
            try:
                obj = fast_decode(raw)
            except validation_error:
                ref, labels = _odd_line(raw, n, lines, odd, slow_labels)
            except decode_error:
                ref, labels = _odd_line(raw, n, lines, odd, None)
            else:
                fast = fast_boxes(obj)
                if fast is not None:
                    # A plain detection line: straight to label ids, no per-line dict.
                    ref, fnames, counts = fast
                    lids = list(map(ids_get, fnames))
                    if None in lids:
                        for name in fnames:
                            if name not in ids:
                                ids[name] = len(names)
                                names.append(name)
                        lids = list(map(ids_get, fnames))
                    lab_flat.extend(lids)  # type: ignore[arg-type]
                    box_flat.extend(counts)
                    labels = None
                else:
                    try:
                        ref, labels = fast_labels(obj)
                    except _Unparseable:
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
                                firsts.append(first)
                                laters.append(n)
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
    counts = Counter(lab_flat)
    lines.images = [counts[lid] for lid in range(len(names))]
    lines.boxes = boxes = [0] * len(names)
    if any(box_flat):
        for lid, nbox in zip(lab_flat, box_flat):
            boxes[lid] += nbox


def _finish(lines: _Lines, odd: dict[int, int], firsts: array[int], laters: array[int]) -> None:
    """Per-line flags and the union-find over the --group-by groups."""
    n, key = lines.n, lines.key
    lines.flags = flags = bytearray(n)
    for i, flag in odd.items():
        flags[i] = flag
    if sys.byteorder != "little":
        key.byteswap()  # the keys are the little-endian reading of the digests on every machine
    lines.parent = parent = array("i", range(n))
    # Each pair is (the first line of a group, a later line of it): the first line is the root and the later
    # line is joined nowhere else yet, so a plain assignment is the union.
    deque(map(parent.__setitem__, laters, firsts), maxlen=0)  # parent[later] = first, looped in C
    lines.unions = len(laters)


def _read_tail(path: str, start: int, seed: int, rx: re.Pattern[str] | None) -> _Part:
    """The second reader's share of the first pass: the lines from byte ``start`` to the end."""
    part = _Part()
    with open(path, "rb") as fp:
        fp.seek(start)
        _read_part(fp, part, _key_base(seed), rx, None)
    return part


def _tail_worker() -> None:
    """Entry point of the worker process: read (path, start, seed, rx) from stdin, write the _Part out."""
    args = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(_read_tail(*args), protocol=pickle.HIGHEST_PROTOCOL))


#: The worker runs this module only: a bare package object stands in for the package, so that its
#: __init__ (which imports every command, boto3 included) is not run and the worker starts in a tenth of a second.
_WORKER = ("import sys, types; pkg = types.ModuleType(sys.argv[1]); pkg.__path__ = [sys.argv[2]]; "
           "sys.modules[sys.argv[1]] = pkg; from importlib import import_module; "
           "import_module(sys.argv[3])._tail_worker()")


def _start_tail(path: str, start: int, seed: int, rx: re.Pattern[str] | None) -> subprocess.Popen[bytes] | None:
    """Start a worker process reading the lines from byte ``start``; None if none could start."""
    # A plain interpreter running one function: multiprocessing's spawn would re-run the caller's script.
    if not os.path.basename(sys.executable or "").lower().startswith(("python", "pypy")):
        return None  # an application embedding Python: its executable is not an interpreter to start
    try:
        proc = subprocess.Popen([sys.executable, "-c", _WORKER, __package__ or "manifestkit",
                                 os.path.dirname(os.path.abspath(__file__)), __name__],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except (OSError, ValueError):
        return None
    try:
        with proc.stdin:  # type: ignore[union-attr]
            proc.stdin.write(pickle.dumps((path, start, seed, rx)))  # type: ignore[union-attr]
    except OSError:
        _stop(proc)
        return None
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.wait()


def _tail_result(proc: subprocess.Popen[bytes] | None, path: str, start: int, seed: int,
                 rx: re.Pattern[str] | None) -> _Part:
    """The worker's part; if it failed (or never started), the same part read here."""
    if proc is not None:
        with proc.stdout:  # type: ignore[union-attr]
            out = proc.stdout.read()  # type: ignore[union-attr]
        if proc.wait() == 0:
            try:
                part = pickle.loads(out)  # our own worker's output, not outside data
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
                part = None
            if isinstance(part, _Part):
                return part
    # Reading it here gives the same result, and raises the error (say, an unreadable file) if there is one.
    return _read_tail(path, start, seed, rx)


def _key_base(seed: int) -> Any:
    return hashlib.blake2b(digest_size=8, key=_seed_key(seed))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


#: Manifests from this size on are read by two processes, each reading a part (the lines are independent
#: until the parts are joined); a smaller one is not worth starting a process for.
PARALLEL_MIN_BYTES = 64 << 20
#: The share of the bytes the main process reads. Half: the worker's later start (it imports the module) is
#: about made up by the main process joining the parts; on the 445 MB benchmark manifest 0.5 gave the
#: shortest first pass (0.55 was 0.1 s slower: the main process read on while the worker sat done).
_HEAD_SHARE = 0.5


def _first_pass(path: str, lines: _Lines, seed: int, rx: re.Pattern[str] | None,
                progress: Progress | None) -> None:
    """Read every line's source-ref key, labels and boxes (and --group-by group) into ``lines``."""
    size = os.path.getsize(path)
    mid = size
    if size >= PARALLEL_MIN_BYTES and _cpus() > 1:
        with open(path, "rb") as fp:
            fp.seek(int(size * _HEAD_SHARE))
            fp.readline()  # on to the next line start
            mid = fp.tell()
    head = _Part()
    if mid >= size:
        with open(path, "rb") as fp:
            _read_part(fp, head, _key_base(seed), rx, progress)
        _merge(lines, head, None)
        return
    proc = _start_tail(path, mid, seed, rx)
    try:
        with open(path, "rb") as fp:
            _read_part(fp, head, _key_base(seed), rx, progress, limit=mid)
    except BaseException:
        if proc is not None:
            _stop(proc)
        raise
    tail = _tail_result(proc, path, mid, seed, rx)
    if progress is not None:
        progress(tail.lines.n)
    _merge(lines, head, tail)


def _merge(lines: _Lines, head: _Part, tail: _Part | None) -> None:
    """Join the two parts of the first pass into ``lines`` as if one process had read every line."""
    h = head.lines
    lines.__dict__.update(h.__dict__)
    odd, firsts, laters = head.odd, head.firsts, head.laters
    if tail is not None:
        t, base = tail.lines, h.n
        ids, names = lines.ids, lines.names
        for name in t.names:  # the tail's new labels get the next ids, in the order it met them
            if name not in ids:
                ids[name] = len(names)
                names.append(name)
        lines.lab_start.extend(map(operator.add, islice(t.lab_start, 1, None), repeat(len(lines.lab_flat))))
        remap = list(map(ids.__getitem__, t.names))
        lines.lab_flat.extend(map(remap.__getitem__, t.lab_flat))
        lines.images.extend([0] * (len(names) - len(lines.images)))
        lines.boxes.extend([0] * (len(names) - len(lines.boxes)))
        for local, lid in enumerate(remap):
            lines.images[lid] += t.images[local]
            lines.boxes[lid] += t.boxes[local]
        lines.box_flat.extend(t.box_flat)
        lines.key.extend(t.key)
        lines.ends.extend(t.ends)
        lines.invalid += t.invalid
        lines.invalid_examples = (h.invalid_examples + [x + base for x in t.invalid_examples])[:10]
        for i, flag in tail.odd.items():
            odd[i + base] = flag
        # A tail group that also has head lines is rooted at its first head line.
        root = {first + base: head.groups[g] for g, first in tail.groups.items() if g in head.groups}
        firsts.extend(root.values())
        laters.extend(root.keys())
        shifted = list(map(operator.add, tail.firsts, repeat(base)))
        firsts.extend(map(root.get, shifted, shifted))
        laters.extend(map(operator.add, tail.laters, repeat(base)))
        lines.n = h.n + t.n
    _finish(lines, odd, firsts, laters)


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
        # Positions whose key equals the previous one, found in C (duplicates are rare).
        same = map(operator.eq, map(key.__getitem__, order), map(key.__getitem__, islice(order, 1, None)))
        for pos in compress(range(1, n), same):
            a, b = order[pos - 1], order[pos]
            if not (flags[a] | flags[b]) & _NOREF:
                L.union(a, b)
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
            self.unit_count = self._unit_counts() if L.unions else list(L.images)
        else:
            appends = [us.append for us in label_units]
            # Each line's unit and its slice of lab_flat, looked up in C for the loop.
            units = map(parent.__getitem__, order) if L.unions else iter(order)
            for r, s, e in zip(units, map(lab_start.__getitem__, order),
                               map(lab_start.__getitem__, map((1).__add__, order))):
                if e - s == 1:
                    appends[lab_flat[s]](r)
                elif s != e:
                    for lid in lab_flat[s:e]:
                        appends[lid](r)
            # Blank, unparseable and unlabelled lines are few: found in C, in the seeded order (a stable sort
            # by key of lines in line order is the order of `order`), then looked at one unit at a time.
            empty = sorted(compress(range(n), map(operator.eq, lab_start, islice(lab_start, 1, None))),
                           key=key.__getitem__)
            if not L.unions:
                for i in empty:
                    (forced_units if flags[i] & _FORCED else unlabelled).append(i)
                self.unit_count = [len(us) for us in label_units]
            else:
                seen: set[int] = set()
                for i in empty:
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
                self.unit_count = self._unit_counts()
        self.units = n - L.unions
        for lid, us in enumerate(label_units):
            if self.unit_count[lid] == 1:  # a label all of whose images are in one unit goes to train
                forced_units.append(us[0])

    def _link_units(self) -> None:
        """Point every line at its unit's root and chain each unit's lines (nxt) in line order."""
        parent, nxt = self.L.parent, self.nxt
        n = self.L.n
        tail = array("i", range(n))
        # The lines that are not roots, found in C: a root stays one, a line that is not never becomes one.
        for i in compress(range(n), map(operator.ne, parent, range(n))):
            # parent[i] <= i, so parent[r] is already r's root: one forward pass compresses all.
            r = parent[i] = parent[parent[i]]
            nxt[tail[r]] = i
            tail[r] = i

    def _unit_counts(self) -> list[int]:
        """Units per label: its lines, less the lines of it in a unit after the unit's first of it."""
        L, label_units = self.L, self.label_units
        n, parent = L.n, L.parent
        if 4 * L.unions > n:
            return [len(set(us)) for us in label_units]
        # Few lines are joined to others (duplicate source-refs, say): walk only their units.
        counts = list(map(len, label_units))
        lab_start, lab_flat, nxt = L.lab_start, L.lab_flat, self.nxt
        for r in dict.fromkeys(map(parent.__getitem__, compress(range(n), map(operator.ne, parent, range(n))))):
            seen: Counter[int] = Counter()
            j = r
            while j >= 0:
                seen.update(lab_flat[lab_start[j]:lab_start[j + 1]])
                j = nxt[j]
            for lid, c in seen.items():
                counts[lid] -= c - 1
        return counts

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
        img, box, where, nxt = s.img[part], s.box[part], s.part, self.nxt
        lab_start, lab_flat, box_flat = L.lab_start, L.lab_flat, L.box_flat
        j, count = r, 0
        while j >= 0:
            where[j] = part
            count += 1
            for k in range(lab_start[j], lab_start[j + 1]):
                lid = lab_flat[k]
                img[lid] += 1
                box[lid] += box_flat[k]
            j = nxt[j]
        s.lines_in[part] += count

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
        active = [lid for lid in range(len(L.names)) if images[lid] - img_train[lid] - img_test[lid] > 0]
        while active:
            # The label with the fewest images left to place; ties by name, so the order is total.
            lid = min(active, key=lambda x: (images[x] - img_train[x] - img_test[x], rank[x]))
            self._round(lid)
            active = [x for x in active if images[x] - img_train[x] - img_test[x] > 0]
        for r in self.unlabelled:
            if part[r] == _NONE:
                self.assign(r, self.overall_choice(r))

    def _round(self, lid: int) -> None:
        """Place every unit of label ``lid`` not placed yet, in the seeded order: :meth:`choose` and
        :meth:`assign` inlined, as this runs once per unit of a 500,000-line manifest.

        Within the round only ``lid``'s counts and the line counts decide: those are also kept in locals.
        """
        L, s = self.L, self.s
        part, key, n = s.part, L.key, L.n
        lab_start, lab_flat, box_flat, nxt = L.lab_start, L.lab_flat, L.box_flat, self.nxt
        index = lab_flat.index
        p, q = self.p, self.q
        qp = q - p
        total, btotal = L.images[lid], L.boxes[lid]
        boxes = bool(self.detection and btotal)
        want_train, want_test = total * qp, total * p  # the label's targets, scaled by q
        bwant_train, bwant_test = btotal * qp, btotal * p
        all_train, all_test = n * qp, n * p  # the line targets, scaled by q
        it, ie = s.img[_TRAIN][lid], s.img[_TEST][lid]
        bt, be = s.box[_TRAIN][lid], s.box[_TEST][lid]
        nt, ne = s.lines_in
        imgs, boxs = s.img, s.box
        us = self.label_units[lid]
        # The units not placed yet, skipped in C; compress() reads part[r] only when it gets to r, so it
        # sees the units placed in this very loop (a unit is listed once per line carrying the label).
        for r in compress(us, map(_NONE.__eq__, map(part.__getitem__, us))):
            single = nxt[r] < 0
            if single:
                c_img, c_box = 1, box_flat[index(lid, lab_start[r], lab_start[r + 1])]
            else:
                c_img = c_box = 0
                j = r
                while j >= 0:
                    a = lab_start[j]
                    labs = lab_flat[a:lab_start[j + 1]]
                    if lid in labs:  # a line names each label once
                        c_img += 1
                        c_box += box_flat[a + labs.index(lid)]
                    j = nxt[j]
            # choose(), with the label's needs from the locals.
            need_train = want_train - q * it
            need_test = want_test - q * ie
            d = -1
            if need_train >= q * c_img and need_test >= q * c_img:
                if boxes:
                    score_train = min((need_train - q * c_img) * btotal,
                                      (bwant_train - q * bt - q * c_box) * total) * p
                    score_test = min((need_test - q * c_img) * btotal,
                                     (bwant_test - q * be - q * c_box) * total) * qp
                    if score_train != score_test:
                        d = _TRAIN if score_train > score_test else _TEST
                if d < 0:
                    rel_train, rel_test = need_train * p, need_test * qp
                    if rel_train != rel_test:
                        d = _TRAIN if rel_train > rel_test else _TEST
            elif need_train != need_test:
                d = _TRAIN if need_train > need_test else _TEST
            if d < 0:  # overall_choice()
                need_train = all_train - q * nt
                need_test = all_test - q * ne
                if need_train != need_test:
                    d = _TRAIN if need_train > need_test else _TEST
                else:
                    d = key[r] & 1
            # assign(): the lid counts in the locals, every label's in the lists.
            img, box = imgs[d], boxs[d]
            count, j = 0, r
            while j >= 0:
                part[j] = d
                count += 1
                for k in range(lab_start[j], lab_start[j + 1]):
                    x = lab_flat[k]
                    img[x] += 1
                    box[x] += box_flat[k]
                j = nxt[j]
            if d == _TRAIN:
                it += c_img
                bt += c_box
                nt += count
            else:
                ie += c_img
                be += c_box
                ne += count
        s.lines_in[_TRAIN], s.lines_in[_TEST] = nt, ne

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


#: The second pass copies runs of lines going to one part as byte ranges when the runs are this long on
#: average (grouped images make long runs); shorter runs are picked line by line, in C, by compress().
_RUN_COPY_MIN_LINES = 8
_RUNS = re.compile(rb"(.)\1*", re.S)  # runs of one byte value in the per-line part array


def _second_pass(path: str, lines: _Lines, part: bytearray, train: BinaryIO, test: BinaryIO,
                 progress: Progress | None) -> None:
    n = lines.n
    changes = sum(map(operator.ne, part, islice(part, 1, None)))
    with open(path, "rb") as fp:
        if n >= _RUN_COPY_MIN_LINES * (changes + 1):
            last = _copy_runs(fp, lines, part, (train, test), progress)
        else:
            last = _copy_lines(fp, lines, part, train, test, progress)
    if not last.endswith(b"\n"):
        (test if part[n - 1] == _TEST else train).write(b"\n")  # a last line without one gets one


def _changed(path: str) -> ManifestError:
    return ManifestError("the manifest changed while it was being split; run the split again", path=path)


def _copy_runs(fp: BinaryIO, lines: _Lines, part: bytearray, outs: tuple[BinaryIO, BinaryIO],
               progress: Progress | None) -> bytes:
    """Copy each run of lines of one part as one byte range; returns the last bytes copied."""
    ends = lines.ends
    fp.seek(lines.start)
    last = b"\n"
    for m in _RUNS.finditer(part):
        a, b = m.span()
        out = outs[part[a]]
        left = ends[b - 1] - (ends[a - 1] if a else lines.start)
        while left:
            data = fp.read(min(left, 1 << 24))
            if not data:
                raise _changed(fp.name)  # type: ignore[arg-type]
            out.write(data)
            left -= len(data)
            last = data
        if progress is not None:
            progress(b - a)
    if fp.read(1):
        raise _changed(fp.name)  # type: ignore[arg-type]
    return last


def _copy_lines(fp: BinaryIO, lines: _Lines, part: bytearray, train: BinaryIO, test: BinaryIO,
                progress: Progress | None) -> bytes:
    """Copy the lines chunk by chunk, each to its part; returns the last line."""
    n = 0
    last = b"\n"
    for chunk in _chunks(fp):
        end = n + len(chunk)
        if end > lines.n:
            raise _changed(fp.name)  # type: ignore[arg-type]
        # Pick each part's lines of the chunk in C: compress() keeps the lines whose selector is 1.
        to_test = part[n:end]
        test.write(b"".join(compress(chunk, to_test)))
        train.write(b"".join(compress(chunk, to_test.translate(_FLIP))))
        last = chunk[-1]
        n = end
        if progress is not None:
            progress(len(chunk))
    if n != lines.n:
        raise _changed(fp.name)  # type: ignore[arg-type]
    return last


_T = TypeVar("_T")


def _gc_paused(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``fn`` with the cyclic garbage collector paused (and restored after). A large split allocates
    millions of small acyclic objects; the collections they trigger cost about 5 % of its time."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper


@_gc_paused
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
    try:
        _first_pass(src, lines, seed, rx, progress)
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
