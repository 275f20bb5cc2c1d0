"""COCO object-detection ("instances") reader: a COCO JSON file and its images to a :class:`Dataset`.

The file is decoded with msgspec into typed structs that do not declare ``segmentation`` or ``area``, so
the polygons that make up most of a COCO file are skipped without building Python objects; a second,
slower pass reads ``segmentation`` only when some annotation has no ``bbox``. Everything structural
(missing keys, wrong types, duplicate ids, dangling references, unsafe file names) is checked before
:func:`read_coco` returns. The boxes are then copied into one compact buffer per image and the decoded
structs are dropped; items (and their Box objects) are built lazily, one image at a time, and images are
probed (header only) as they come, so an iteration holds one image's worth of objects at a time.

Policies (decisions.md "Conversion policies"): category ids are kept as ``class_id``; ``iscrowd`` boxes
are skipped unless ``crowd="keep"``; boxes are rounded to whole pixels and clipped to the image (or
dropped, or refused); boxes that end up empty or too small are dropped; ``area`` is never read; images
without boxes are left out unless ``keep_empty``. Every change is counted in ``dataset.summary``.
"""

from __future__ import annotations

import collections
import errno
import gc
import itertools
import math
import operator
import os
import posixpath
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from typing import Any, Optional

import msgspec

from ..errors import ImageError, SourceError
from ..images import SUPPORTED_FORMATS, probe_file
from ..model import Box, Dataset, ImageItem, Summary, Task, box_too_small, normalize_box

__all__ = ["CROWD_POLICIES", "BAD_BOX_POLICIES", "read_coco"]

CROWD_POLICIES = ("skip", "keep")
BAD_BOX_POLICIES = ("clip", "drop", "error")
# Rekognition drops a line with more than this many boxes (ERROR_TOO_MANY_BOUNDING_BOXES).
MAX_BOXES = 50
# One box in the per-image buffers: x, y, w, h, category index, position in the file's annotations.
_ROW = struct.Struct("6d")
_ROUNDED = "box coordinates rounded to whole pixels"
_EXT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG"}

Progress = Callable[[int], None]


def _box_maker() -> Callable[[str, int, int, int, int, int], Box]:
    """A fast ``Box(label, left, top, width, height, class_id)`` for the reader's hot loop.

    Box is a frozen slotted dataclass: its generated ``__init__`` sets every field through
    ``object.__setattr__``, about 1 us a box, a third of the per-box cost on a COCO-sized file. Setting the
    slots directly builds an equal object. Falls back to the real constructor if Box ever gains fields or a
    ``__post_init__`` this shortcut would skip.
    """
    fields = tuple(getattr(Box, "__dataclass_fields__", {}))
    if fields != ("label", "left", "top", "width", "height", "class_id", "confidence") or hasattr(
            Box, "__post_init__"):
        return lambda label, left, top, width, height, class_id: Box(label, left, top, width, height, class_id)
    new = object.__new__
    slots = Box.__dict__
    set_label, set_left, set_top = slots["label"].__set__, slots["left"].__set__, slots["top"].__set__
    set_width, set_height = slots["width"].__set__, slots["height"].__set__
    set_class, set_conf = slots["class_id"].__set__, slots["confidence"].__set__

    def make(label: str, left: int, top: int, width: int, height: int, class_id: int) -> Box:
        b = new(Box)
        set_label(b, label)
        set_left(b, left)
        set_top(b, top)
        set_width(b, width)
        set_height(b, height)
        set_class(b, class_id)
        set_conf(b, 1.0)
        return b

    return make


_make_box = _box_maker()

_ITEM_FIELDS = ("path", "width", "height", "format", "labels", "boxes", "depth", "orientation", "source_ref", "line",
                "source_id")


def _item_maker() -> Callable[..., ImageItem]:
    """A fast ``ImageItem(*values)`` taking every field in order (the same shortcut as :func:`_box_maker`)."""
    if tuple(getattr(ImageItem, "__dataclass_fields__", {})) != _ITEM_FIELDS or hasattr(ImageItem, "__post_init__"):
        return lambda *values: ImageItem(**dict(zip(_ITEM_FIELDS, values)))
    new = object.__new__
    setters = tuple(ImageItem.__dict__[name].__set__ for name in _ITEM_FIELDS)

    def make(*values: Any) -> ImageItem:
        item = new(ImageItem)
        for put, value in zip(setters, values):
            put(item, value)
        return item

    return make


_make_item = _item_maker()


# ------------------------------------------------------------------------------------- the typed view
# gc=False: these structs are never part of a reference cycle, so the collector need not track 855k of them.


class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    width: Optional[float] = None
    height: Optional[float] = None


class _Ann(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: Optional[int] = None
    bbox: Optional[tuple[float, float, float, float]] = None
    iscrowd: int | bool = 0


class _Cat(msgspec.Struct, gc=False):
    id: int
    name: str
    keypoints: Optional[list[Any]] = None


class _Coco(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Ann]
    categories: Optional[list[_Cat]] = None


class _AnnCaption(msgspec.Struct, gc=False):
    caption: Optional[str] = None


class _CocoCaptions(msgspec.Struct, gc=False):
    annotations: list[_AnnCaption]


class _AnnSeg(msgspec.Struct, gc=False):
    id: int
    segmentation: Any = None


class _CocoSeg(msgspec.Struct, gc=False):
    annotations: list[_AnnSeg]


_SECTION_ITEM = {"images": "image", "annotations": "annotation", "categories": "category"}
_AT = re.compile(r"^(?P<msg>.*?) - at `\$(?P<path>[^`]*)`$")
_INDEXED = re.compile(r"^\.(?P<section>\w+)\[(?P<index>\d+)\](?P<rest>.*)$")


# ------------------------------------------------------------------------------------------ reading


def read_coco(annotations: str | os.PathLike[str], images: str | os.PathLike[str] | None = None, *,
              crowd: str = "skip", bad_boxes: str = "clip", keep_empty: bool = False,
              trust_sizes: bool = False, skip_missing: bool = False,
              progress: Progress | None = None) -> Dataset:
    """Read a COCO detection file into a detection :class:`Dataset` whose items are built lazily.

    Args:
        annotations: the COCO instances JSON file.
        images: the folder the COCO ``file_name`` values are relative to (default: the JSON's folder).
        crowd: ``skip`` (default) or ``keep`` the ``iscrowd: 1`` annotations as boxes.
        bad_boxes: boxes partly off the image are ``clip``-ped (default), ``drop``-ped, or an ``error``.
        keep_empty: also yield images that have no box.
        trust_sizes: take width/height from the COCO file and open no image.
        skip_missing: leave out (and count) missing images instead of failing.
        progress: called with the number of items produced since the last call.

    Raises:
        SourceError: the file is not a readable COCO detection file (the message names the item).
        ImageError: while iterating, images are missing, corrupt or outside the images folder.
    """
    if crowd not in CROWD_POLICIES:
        raise ValueError(f"crowd must be one of {CROWD_POLICIES}, not {crowd!r}")
    if bad_boxes not in BAD_BOX_POLICIES:
        raise ValueError(f"bad_boxes must be one of {BAD_BOX_POLICIES}, not {bad_boxes!r}")
    path = os.fspath(annotations)
    if images is None:
        root = os.path.dirname(os.path.abspath(path))
    else:
        root = os.fspath(images)
        if not trust_sizes and not os.path.isdir(root):
            raise SourceError("the images folder does not exist or is not a folder", path=root)
    summary = Summary(source=path, task=Task.DETECTION.value)

    data = _read_bytes(path)
    # Hundreds of thousands of structs and buffers are built here and all stay alive: collecting garbage
    # meanwhile only costs time (no user code runs inside this block).
    enabled = gc.isenabled()
    gc.disable()
    try:
        coco = _decode(data, path)
        classes, cat_names = _check_categories(coco, data, path, summary)
        _check_images(coco, path, trust_sizes)
        ann_ids = _check_annotation_ids(coco, path)
        segments = _boxes_from_segmentation(coco, data, path, summary) if _needs_segmentation(coco) else {}
        groups = _group_boxes(coco, data, segments, crowd, path, summary)
        del data
        _note_unused_categories(coco, summary)
        categories = [(c.id, c.name.strip()) for c in coco.categories or ()]
        images_list = coco.images
        # The per-annotation structs are no longer needed: free them now, in memory order (cheap), rather
        # than one by one in image order at the end.
        del coco, segments
    finally:
        if enabled:
            gc.enable()

    reader = _Items(images_list, groups, ann_ids, categories, root=root, path=path, summary=summary,
                    bad_boxes=bad_boxes, keep_empty=keep_empty, trust_sizes=trust_sizes,
                    skip_missing=skip_missing, progress=progress)
    return Dataset(task=Task.DETECTION, items=reader, classes=classes, summary=summary, root=root)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except FileNotFoundError:
        raise SourceError("COCO file not found", path=path) from None
    except IsADirectoryError:
        raise SourceError("is a folder; give the COCO annotations JSON file", path=path) from None
    except OSError as e:
        raise SourceError(f"cannot read the COCO file ({e.strerror or e})", path=path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise SourceError("the COCO file is empty", path=path)
    return data


def _decode(data: bytes, path: str) -> _Coco:
    try:
        return msgspec.json.decode(data, type=_Coco)
    except msgspec.ValidationError as e:
        raise _structure_error(str(e), data, path) from None
    except msgspec.DecodeError as e:
        text = str(e)
        if "truncated" in text:
            text = "the file ends early (truncated)"
        raise SourceError(f"not valid JSON: {text}; is the file complete?", path=path) from None


def _structure_error(text: str, data: bytes, path: str) -> SourceError:
    """Turn a msgspec ValidationError (``... - at `$.annotations[12].bbox```) into our message."""
    m = _AT.match(text)
    msg, jpath = (m.group("msg"), m.group("path")) if m else (text, "")
    if jpath == "" and msg.startswith("Expected `object`, got `array`"):
        return SourceError("this is a COCO results file (a top-level JSON list of detections with scores), "
                           "not a dataset: give the instances file with images, annotations and categories",
                           path=path)
    if jpath == "" and msg.startswith("Expected `object`"):
        return SourceError(f"not a COCO dataset: the top level must be a JSON object ({msg})", path=path)
    missing = re.match(r"Object missing required field `([^`]+)`", msg)
    if jpath == "" and missing:
        return SourceError(f"not a COCO detection file: the required key '{missing.group(1)}' is missing",
                           path=path)
    im = _INDEXED.match(jpath)
    if im is None:
        where = jpath.lstrip(".") or "top level"
        return SourceError(f"{where}: {_reason(msg, jpath)}", path=path)
    section, index, rest = im.group("section"), int(im.group("index")), im.group("rest")
    kind = _SECTION_ITEM.get(section, section)
    ident = _lenient_id(data, section, index)
    item = f"{kind} id {ident} ({section}[{index}])" if ident is not None else f"{section}[{index}]"
    return SourceError(_reason(msg, rest), path=path, item=item)


def _reason(msg: str, rest: str) -> str:
    field = rest.lstrip(".")
    missing = re.match(r"Object missing required field `([^`]+)`", msg)
    if missing:
        return f"the required key '{missing.group(1)}' is missing"
    wrong = re.match(r"Expected `([^`]+)`, got `([^`]+)`", msg)
    if wrong and field:
        return f"'{field}' must be {_kind(wrong.group(1))}, not {_kind(wrong.group(2))}"
    length = re.match(r"Expected `array` of length (\d+)", msg)
    if length and field:
        return f"'{field}' must be a list of {length.group(1)} numbers [x, y, width, height]"
    return f"{msg} (at '{field}')" if field else msg


def _kind(t: str) -> str:
    names = {"int": "an integer", "float": "a number", "str": "a string", "array": "a list",
             "object": "an object", "null": "null", "bool": "true/false"}
    return " or ".join(names.get(p.strip(), p.strip()) for p in t.split("|"))


def _lenient_id(data: bytes, section: str, index: int) -> Any:
    """The ``id`` of ``section[index]`` decoded without types (only on the error path)."""
    try:
        obj = msgspec.json.decode(data)
        ident = obj[section][index]["id"]
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
        return None
    return ident if isinstance(ident, (int, str)) else None


def _has_captions(data: bytes) -> bool:
    """Whether the annotations carry captions (a COCO captions file); read only on the error path."""
    try:
        doc = msgspec.json.decode(data, type=_CocoCaptions)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return any(a.caption is not None for a in doc.annotations)


def _check_categories(coco: _Coco, data: bytes, path: str,
                      summary: Summary) -> tuple[dict[str, int], dict[int, str]]:
    if coco.categories is None or not coco.categories:
        if _has_captions(data):
            raise SourceError("this is a COCO captions file (annotations carry 'caption' and there are no "
                              "categories): captions are out of scope; give a COCO object-detection "
                              "(instances) file", path=path)
        if coco.categories is None:
            raise SourceError("not a COCO detection file: the required key 'categories' is missing", path=path)
        if coco.annotations:
            raise SourceError("the file declares no categories, so its annotations have no labels", path=path)
        return {}, {}
    names: dict[int, str] = {}
    classes: dict[str, int] = {}
    keypoints = False
    for i, c in enumerate(coco.categories):
        item = f"category id {c.id} (categories[{i}])"
        if c.id in names:
            raise SourceError("duplicate category id: two categories use it", path=path, item=item)
        name = c.name.strip()
        if not name:
            raise SourceError("the category has an empty name; Rekognition needs a label name", path=path,
                              item=item)
        if name in classes:
            raise SourceError(f"duplicate category name {name!r}: categories {classes[name]} and {c.id} "
                              "would become one Rekognition label; merge or rename them", path=path, item=item)
        names[c.id] = name
        classes[name] = c.id
        keypoints = keypoints or c.keypoints is not None
    if keypoints:
        summary.note("MK_KEYPOINTS_IGNORED", "keypoints are out of scope (Rekognition Custom Labels trains "
                     "boxes): only the boxes of keypoint annotations were read", "categories", severity="info")
    return classes, names


def _check_images(coco: _Coco, path: str, trust_sizes: bool) -> None:
    images = coco.images
    if len({img.id for img in images}) != len(images):
        seen: set[int] = set()
        for i, img in enumerate(images):
            if img.id in seen:
                raise SourceError("duplicate image id: two images use it", path=path,
                                  item=f"image id {img.id} (images[{i}])")
            seen.add(img.id)
    names: dict[str, int] = {}
    for i, img in enumerate(images):
        name = img.file_name
        if _suspect_name(name):
            rel = _safe_relpath(name, path, f"image id {img.id} (images[{i}])")
            if rel != name:
                img.file_name = rel
        other = names.setdefault(img.file_name, img.id)
        if other != img.id:
            raise SourceError(f"file_name {img.file_name!r} is also used by image id {other}: both would map "
                              "to the same S3 object", path=path, item=f"image id {img.id} (images[{i}])")
        w, h = img.width, img.height
        if w is None or h is None or not (w > 0 and h > 0 and w.is_integer() and h.is_integer()):
            _check_size(img, i, path, trust_sizes)


def _check_size(img: _Image, i: int, path: str, trust_sizes: bool) -> None:
    item = f"image id {img.id} (images[{i}])"
    for key in ("width", "height"):
        v = getattr(img, key)
        if v is not None and (not float(v).is_integer() or v <= 0):
            raise SourceError(f"'{key}' must be a positive whole number of pixels, not {v!r}", path=path,
                              item=item)
    if trust_sizes and (img.width is None or img.height is None):
        raise SourceError("the image has no width/height, so --trust-sizes cannot take its size from the "
                          "COCO file: leave out --trust-sizes to read sizes from the image files",
                          path=path, item=item)


def _suspect_name(name: str) -> bool:
    """True for a file_name that may need cleaning or refusing (plain string tests: 118k names, no regex)."""
    return (not name or name[0] in "/.\\ " or name[-1] in "/ " or "\\" in name or "//" in name or "/." in name
            or ".." in name or "\x00" in name or (len(name) > 1 and name[1] == ":"))


def _safe_relpath(name: str, path: str, item: str) -> str:
    """``file_name`` as a clean relative posix path; absolute paths and ``..`` are refused (traversal).

    Backslashes are taken as folder separators (COCO files written on Windows).
    """
    if not name.strip():
        raise SourceError("'file_name' is empty", path=path, item=item)
    if "\x00" in name:
        raise SourceError("'file_name' contains a NUL character", path=path, item=item)
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise SourceError(f"file_name {name!r} is an absolute path; COCO file names must be relative to the "
                          "images folder", path=path, item=item)
    if ".." in posix.split("/"):
        raise SourceError(f"file_name {name!r} contains '..': it would point outside the images folder",
                          path=path, item=item)
    if posix.endswith("/"):
        raise SourceError(f"file_name {name!r} names a folder, not an image file", path=path, item=item)
    rel = posixpath.normpath(posix)
    if rel in (".", ""):
        raise SourceError(f"file_name {name!r} names no file", path=path, item=item)
    return rel


def _check_annotation_ids(coco: _Coco, path: str) -> list[int]:
    """Check that annotation ids are unique; return them in file order."""
    ids = list(map(attrgetter("id"), coco.annotations))
    if len(set(ids)) != len(ids):
        seen: set[int] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                raise SourceError("duplicate annotation id: two annotations use it", path=path,
                                  item=f"annotation id {ident} (annotations[{i}])")
            seen.add(ident)
    return ids


def _dangling_reference(coco: _Coco, data: bytes, path: str) -> SourceError | None:
    """The first annotation (in file order) whose image or category does not exist, as an error."""
    image_ids = {img.id for img in coco.images}
    cat_ids = {c.id for c in coco.categories or ()}
    for i, a in enumerate(coco.annotations):
        item = f"annotation id {a.id} (annotations[{i}])"
        if a.image_id not in image_ids:
            return SourceError(f"points at image id {a.image_id}, which is not in 'images'", path=path, item=item)
        if a.category_id is None:
            why = "has no 'category_id'" + (
                "; it carries a caption: COCO captions are out of scope" if _has_captions(data) else "")
            return SourceError(why, path=path, item=item)
        if a.category_id not in cat_ids:
            return SourceError(f"points at category id {a.category_id}, which is not in 'categories'",
                               path=path, item=item)
    return None


def _group_boxes(coco: _Coco, data: bytes, segments: dict[int, tuple[float, float, float, float]],
                 crowd: str, path: str, summary: Summary) -> dict[int, bytearray]:
    """Each image's boxes, in file order, as packed ``x, y, w, h, category index, position`` doubles (_ROW).

    COCO files list annotations in no particular order, so walking the decoded structs image by image
    would touch memory at random (a cache miss or more per box on a COCO-sized file), and freeing 855k
    structs with their tuples and floats in that order costs about as much again. Instead one pass in
    file order (memory order) copies what the items need into one compact buffer per image. The pass is
    a chain of C-level iterators (``map``, ``zip``, ``compress``, ``struct.pack``): no Python code runs
    per annotation.
    It also checks every annotation's image and category: a failed lookup stops it, and a slow scan
    then names the first culprit.
    """
    anns = coco.annotations
    groups: dict[int, bytearray] = {img.id: bytearray() for img in coco.images}
    find: Callable[[int], bytearray] = groups.__getitem__
    ids = list(groups)
    if ids and min(ids) >= 0 and max(ids) < max(1 << 20, 8 * len(ids)) and (
            not anns or min(map(attrgetter("image_id"), anns)) >= 0):
        # Small non-negative ids (COCO's own are < 600k): a list indexed by id beats hashing large ints.
        table: list[bytearray | None] = [None] * (max(ids) + 1)
        for ident, arr in groups.items():
            table[ident] = arr
        find = table.__getitem__  # type: ignore[assignment]
    cat_index = {c.id: i for i, c in enumerate(coco.categories or ())}
    if segments:
        bboxes: Iterator[tuple[float, ...]] = (a.bbox if a.bbox is not None else segments[a.id] for a in anns)
    else:
        bboxes = map(attrgetter("bbox"), anns)
    cats = map(cat_index.__getitem__, map(attrgetter("category_id"), anns))
    # bbox + (category index, position): the 6 numbers of one box.
    rows: Iterator[bytes] = itertools.starmap(_ROW.pack, map(operator.add, bboxes, zip(cats, itertools.count())))
    targets: Iterator[bytearray] = map(find, map(attrgetter("image_id"), anns))
    crowd_flags = list(map(attrgetter("iscrowd"), anns))
    if crowd == "skip" and any(crowd_flags):
        keep = list(map(operator.not_, crowd_flags))
        rows, targets = itertools.compress(rows, keep), itertools.compress(targets, keep)
    try:
        # Consume the pipeline in C: append each packed row to its image's buffer.
        collections.deque(map(bytearray.extend, targets, rows), maxlen=0)
    except (KeyError, IndexError, TypeError):
        error = _dangling_reference(coco, data, path)
        if error is None:
            raise
        raise error from None
    if crowd == "skip":
        for a in itertools.compress(anns, crowd_flags):
            # The pipeline above may stop before it evaluates skipped rows (and the id table lets a missing
            # image through), so the skipped rows' references are checked here.
            if a.image_id not in groups or a.category_id not in cat_index:
                raise _dangling_reference(coco, data, path) or SourceError("dangling reference", path=path)
            summary.note("MK_CROWD_SKIPPED", "iscrowd=1 annotation skipped (--crowd keep keeps it as a box)",
                         f"annotation id {a.id} (image id {a.image_id})", severity="info")
    return groups


def _needs_segmentation(coco: _Coco) -> bool:
    return any(a.bbox is None for a in coco.annotations)


def _boxes_from_segmentation(coco: _Coco, data: bytes, path: str,
                             summary: Summary) -> dict[int, tuple[float, float, float, float]]:
    """Boxes for annotations without ``bbox``, from their polygon (or RLE mask) extents."""
    try:
        seg = msgspec.json.decode(data, type=_CocoSeg)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise SourceError(f"cannot read the segmentations: {e}", path=path) from None
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for i, (a, s) in enumerate(zip(coco.annotations, seg.annotations)):
        if a.bbox is not None:
            continue
        item = f"annotation id {a.id} (annotations[{i}])"
        box = _segmentation_extents(s.segmentation)
        if box is None:
            hint = (" (image-level labels, like a COCO 'labels' file, are out of scope for object detection)"
                    if s.segmentation is None else "")
            raise SourceError("the annotation has neither a 'bbox' nor a usable 'segmentation', so it has no "
                              f"box{hint}", path=path, item=item)
        boxes[a.id] = box
        summary.note("MK_BOX_FROM_SEGMENTATION", "annotation without 'bbox': its box was taken from the "
                     "extents of its segmentation", item, severity="info")
    return boxes


def _segmentation_extents(seg: Any) -> tuple[float, float, float, float] | None:
    if isinstance(seg, list):
        xs: list[float] = []
        ys: list[float] = []
        for poly in seg:
            if not isinstance(poly, list) or len(poly) < 2:
                continue
            nums = [v for v in poly if isinstance(v, (int, float)) and not isinstance(v, bool)]
            xs.extend(nums[0::2])
            ys.extend(nums[1::2])
        if not xs or not ys:
            return None
        x0, y0 = float(min(xs)), float(min(ys))
        return (x0, y0, float(max(xs)) - x0, float(max(ys)) - y0)
    if isinstance(seg, dict):
        return _rle_extents(seg)
    return None


def _rle_extents(rle: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """Pixel extents of a COCO run-length mask (column-major runs, starting with background)."""
    size = rle.get("size")
    counts = rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return None
    h = size[0]
    if isinstance(counts, str):
        counts = _rle_counts_from_string(counts)
    if not isinstance(counts, list) or h <= 0:
        return None
    x0 = y0 = None
    x1 = y1 = -1
    pos = 0
    for k, run in enumerate(counts):
        if not isinstance(run, int) or run < 0:
            return None
        if k % 2 == 1 and run > 0:
            first, last = pos, pos + run - 1
            c0, c1 = first // h, last // h
            r0, r1 = (first % h, last % h) if c0 == c1 else (0, h - 1)
            x0 = c0 if x0 is None else min(x0, c0)
            y0 = r0 if y0 is None else min(y0, r0)
            x1, y1 = max(x1, c1), max(y1, r1)
        pos += run
    if x0 is None or y0 is None:
        return None
    return (float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1))


def _rle_counts_from_string(s: str) -> list[int]:
    """Decode COCO's compressed RLE string: 5-bit groups with a continuation bit, deltas after run 2."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x = 0
        k = 0
        more = True
        while more:
            if p >= len(s):
                return counts
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _note_unused_categories(coco: _Coco, summary: Summary) -> None:
    if not coco.categories:
        if not coco.annotations:
            summary.note("MK_NO_ANNOTATIONS", "the file has no annotations (a COCO image_info file?): no image "
                         "has a box", None, severity="warning")
        return
    used = {a.category_id for a in coco.annotations}
    for c in coco.categories:
        if c.id not in used:
            summary.note("MK_UNUSED_CATEGORY", "category declared but used by no annotation (it gets no "
                         "training data)", f"category id {c.id} ({c.name.strip()})", severity="info")
    if not coco.annotations:
        summary.note("MK_NO_ANNOTATIONS", "the file has no annotations (a COCO image_info file?): no image "
                     "has a box", None, severity="warning")


# ------------------------------------------------------------------------------------ building items


class _Items:
    """The dataset's items, built on demand: each ``iter()`` walks the COCO images in file order.

    Notes are recorded on the first pass only, so iterating again does not count events twice.
    """

    def __init__(self, images: list[_Image], groups: dict[int, bytearray], ann_ids: list[int],
                 categories: list[tuple[int, str]], *, root: str, path: str, summary: Summary, bad_boxes: str,
                 keep_empty: bool, trust_sizes: bool, skip_missing: bool, progress: Progress | None) -> None:
        self.images = images
        self.groups = groups
        self.ann_ids = ann_ids
        # Category index (as stored, a float) -> (label, COCO id).
        self.cat_by_index = {float(i): (label, ident) for i, (ident, label) in enumerate(categories)}
        self.root = root
        self.real_root = os.path.realpath(root)
        self.path = path
        self.summary = summary
        self.bad_boxes = bad_boxes
        self.keep_empty = keep_empty
        self.trust_sizes = trust_sizes
        self.skip_missing = skip_missing
        self.progress = progress
        self.passes = 0
        self._rounded_examples = self._rounded_later = 0

    def __iter__(self) -> Iterator[ImageItem]:
        self.passes += 1
        return self._generate(self.summary.note if self.passes == 1 else _no_note)

    def _generate(self, note: Callable[..., None]) -> Iterator[ImageItem]:
        missing: list[str] = []
        corrupt: list[str] = []
        pending = 0
        groups = self.groups
        keep_empty = self.keep_empty
        progress = self.progress
        make_item = _make_item
        self._rounded_examples = self._rounded_later = 0
        for img in self.images:
            values = groups[img.id]
            if not values and not keep_empty:
                note("MK_EMPTY_IMAGE", "image without boxes left out (Rekognition ignores such lines; "
                     "--keep-empty writes them)", _where(img), severity="info")
                continue
            facts = self._image_facts(img, note, missing, corrupt)
            if facts is None:
                continue
            width, height, fmt, depth, orientation = facts
            boxes = self._boxes(img, values, width, height, note)
            if not boxes:
                if not keep_empty:
                    note("MK_EMPTY_IMAGE", "image without boxes left out (Rekognition ignores such lines; "
                         "--keep-empty writes them)", _where(img), severity="info")
                    continue
                note("MK_EMPTY_IMAGE_KEPT", "image without boxes written (--keep-empty); Rekognition ignores "
                     "it with WARNING_NO_ANNOTATIONS", _where(img), severity="info")
            elif len(boxes) > MAX_BOXES:
                note("ERROR_TOO_MANY_BOUNDING_BOXES", f"more than {MAX_BOXES} boxes on one image: Rekognition "
                     "drops the whole line", f"{_where(img)}: {len(boxes)} boxes", severity="error")
            yield make_item(img.file_name, width, height, fmt, (), tuple(boxes), depth, orientation, None, None,
                            str(img.id))
            if progress is not None:
                pending += 1
                if pending >= 1000:
                    progress(pending)
                    pending = 0
        if progress is not None and pending:
            progress(pending)
        self._rounded(note, None, 0)
        if corrupt or (missing and not self.skip_missing):
            raise ImageError(self._bad_images_message(missing if not self.skip_missing else [], corrupt),
                             path=self.path)

    def _bad_images_message(self, missing: list[str], corrupt: list[str]) -> str:
        parts = []
        if missing:
            parts.append(f"{len(missing)} image(s) not found under {self.root} (check --images, or use "
                         "--skip-missing to leave them out, or --trust-sizes if the images are not at hand):\n  "
                         + "\n  ".join(missing))
        if corrupt:
            parts.append(f"{len(corrupt)} image(s) cannot be used:\n  " + "\n  ".join(corrupt))
        return "\n".join(parts)

    def _image_facts(self, img: _Image, note: Callable[..., None], missing: list[str],
                     corrupt: list[str]) -> tuple[int, int, str | None, int, int] | None:
        """(width, height, format, depth, orientation) to write, or None when the image is left out."""
        if self.trust_sizes:
            name = img.file_name
            fmt = _EXT_FORMATS.get(name[name.rfind("."):].lower()) if "." in name else None
            if fmt is None:
                note("MK_UNSUPPORTED_IMAGE_FORMAT", "file name does not end in .jpg/.jpeg/.png: Rekognition "
                     "takes JPEG and PNG only (ERROR_INVALID_IMAGE)", _where(img), severity="error")
            return int(img.width or 0), int(img.height or 0), fmt, 3, 1
        where = _where(img)
        full = os.path.join(self.root, *img.file_name.split("/"))
        try:
            real = os.path.realpath(full, strict=True)
        except FileNotFoundError:
            missing.append(where)
            if self.skip_missing:
                note("MK_IMAGE_NOT_FOUND", "image file not found; left out (--skip-missing)", where)
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                corrupt.append(f"{where}: symlink loop")
            else:
                corrupt.append(f"{where}: cannot resolve the path ({e.strerror or e})")
            return None
        if real != self.real_root and not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            raise ImageError(f"file_name {img.file_name!r} resolves to {real}, outside the images folder "
                             f"{self.root} (a symlink?): refusing to read it", path=self.path,
                             item=f"image id {img.id}")
        try:
            info = probe_file(real)
        except ImageError as e:
            corrupt.append(f"{where}: {e.reason}")
            return None
        if info.truncated:
            corrupt.append(f"{where}: truncated {info.format} (the file ends before the image data does)")
            return None
        if info.format not in SUPPORTED_FORMATS:
            note("MK_UNSUPPORTED_IMAGE_FORMAT", "image is not JPEG or PNG: Rekognition takes JPEG and PNG only "
                 "(ERROR_INVALID_IMAGE); convert it", f"{where}: {info.format}", severity="error")
        width, height = info.width, info.height
        declared = (int(img.width), int(img.height)) if img.width is not None and img.height is not None else None
        if info.rotated:
            if declared is not None and declared == info.display_size and declared != (width, height):
                # The annotator saw the upright (displayed) image, so its boxes are in displayed pixels.
                width, height = declared
                note("MK_EXIF_ROTATED", f"EXIF orientation {info.orientation}: the image is displayed turned "
                     "by 90 degrees and the COCO size is the displayed one; boxes kept in displayed pixels "
                     "('manifestkit fix' can rewrite the pixels upright)", where)
            else:
                note("MK_EXIF_ROTATED", f"EXIF orientation {info.orientation}: the image is displayed turned "
                     "by 90 degrees; boxes use the stored pixels ('manifestkit fix' can rewrite the pixels "
                     "upright)", where)
                if declared is not None and declared != (width, height):
                    note("MK_IMAGE_SIZE_MISMATCH", "COCO width/height differ from the image file; the real "
                         "size was used", f"{where}: COCO {declared[0]}x{declared[1]}, file {width}x{height}")
        elif declared is not None and declared != (width, height):
            note("MK_IMAGE_SIZE_MISMATCH", "COCO width/height differ from the image file; the real size was "
                 "used", f"{where}: COCO {declared[0]}x{declared[1]}, file {width}x{height}")
        return width, height, info.format, info.channels, info.orientation

    def _boxes(self, img: _Image, values: bytearray, width: int, height: int,
               note: Callable[..., None]) -> list[Box]:
        out: list[Box] = []
        append = out.append
        rounded = 0
        cat_by_index, ann_ids = self.cat_by_index, self.ann_ids
        floor = math.floor
        make_box = _make_box
        # Only boxes this close to Rekognition's minimum need the exact box_too_small test.
        longest = max(width, height)
        near = (longest / 1280.0 if longest > 1280 else 1.0) + 1.0
        for x, y, w, h, cat, pos in _ROW.iter_unpack(values):
            # normalize_box's rounding, inlined for the common case of a box inside the image (855k boxes
            # in a COCO-sized file); anything touching the border goes through normalize_box itself.
            right, bottom = x + w, y + h
            x0, y0, x1, y1 = floor(x + 0.5), floor(y + 0.5), floor(right + 0.5), floor(bottom + 0.5)
            if 0 <= x0 <= width and 0 <= x1 <= width and 0 <= y0 <= height and 0 <= y1 <= height:
                left, top, bw, bh = x0, y0, x1 - x0, y1 - y0
            else:
                (left, top, bw, bh), _, clipped = normalize_box(x, y, w, h, width, height)
                if clipped and bw > 0 and bh > 0:
                    if self.bad_boxes == "error":
                        raise SourceError(f"box {_numbers((x, y, w, h))} runs off the {width}x{height} image "
                                          "(use --bad-boxes clip or drop)", path=self.path,
                                          item=f"annotation id {ann_ids[int(pos)]} (image id {img.id}, "
                                               f"{img.file_name})")
                    if self.bad_boxes == "drop":
                        note("MK_BOX_OFF_IMAGE_DROPPED", "box partly off the image dropped (--bad-boxes drop)",
                             f"annotation id {ann_ids[int(pos)]} (image id {img.id})")
                        continue
                    note("MK_BOX_CLIPPED", "box partly off the image clipped to the image",
                         f"annotation id {ann_ids[int(pos)]} (image id {img.id})")
            if bw <= 0 or bh <= 0 or ((bw <= near or bh <= near) and box_too_small(bw, bh, width, height)):
                note("MK_BOX_TOO_SMALL", "box empty, off the image or too small for Rekognition "
                     "(ERROR_BOUNDING_BOX_TOO_SMALL) after rounding and clipping: dropped",
                     f"annotation id {ann_ids[int(pos)]} (image id {img.id})")
                continue
            # x and x + w whole numbers <=> x and w whole numbers (exact for pixel-sized values).
            if x != x0 or y != y0 or right != x1 or bottom != y1:
                rounded += 1
            label, cid = cat_by_index[cat]
            append(make_box(label, left, top, bw, bh, cid))
        if rounded:
            self._rounded(note, img, rounded)
        return out

    def _rounded(self, note: Callable[..., None], img: _Image | None, count: int) -> None:
        """Count rounded boxes; only the first few images are named (one note call per image is slow)."""
        if img is not None and self._rounded_examples < self.summary.max_examples:
            self._rounded_examples += 1
            note("MK_NON_INTEGER_COORDINATES", _ROUNDED, f"image id {img.id}", severity="info", count=count)
        elif img is not None:
            self._rounded_later += count
        elif self._rounded_later:
            note("MK_NON_INTEGER_COORDINATES", _ROUNDED, None, severity="info", count=self._rounded_later)


def _numbers(values: Sequence[float]) -> str:
    """``[10, 2.5, 3, 4]``: whole floats without their ``.0``, as they were probably written."""
    return "[" + ", ".join(str(int(v)) if v.is_integer() else str(v) for v in values) + "]"


def _where(img: _Image) -> str:
    return f"image id {img.id} ({img.file_name})"


def _no_note(*args: Any, **kwargs: Any) -> None:
    """Stands in for Summary.note on repeated passes over the items."""
