"""Pascal VOC reader: one XML file per image becomes one detection item.

Layouts (``root`` is the folder the user names):

* the devkit layout: ``root/Annotations/**.xml`` with images in ``root/JPEGImages``;
* XML files beside their images anywhere under ``root`` (Roboflow, labelImg, CVAT exports).

Policies (documented in docs/sources.md):

* an image is found by ``<filename>`` (in the image folder, mirroring the XML's sub-folder, then beside the
  XML); when that file is missing, by the XML's own name with an image extension (``MK_FILENAME_MISMATCH``);
* ``<size>`` is checked against the image header when the image is at hand (``MK_IMAGE_SIZE_MISMATCH``, the
  header wins); a missing or zero ``<size>`` is read from the image; ``trust_sizes`` opens no image;
* coordinates are pixel *edges*, 0-based (``left = xmin``, ``width = xmax - xmin``), as CVAT, Roboflow,
  labelImg and datumaro write them. The original devkit numbers pixels from 1 with inclusive corners;
  ``one_based=True`` maps those exactly (``left = xmin - 1``, ``width = xmax - xmin + 1``). The two differ
  by one pixel on the left and top edges only. Float coordinates are accepted and rounded;
* tag order is free; ``<part>``, ``<actions>``, ``<difficult>``, ``<truncated>``, ``<occluded>`` are not
  Rekognition concepts: parts are ignored (counted), the others are ignored;
* XML with a DTD or entity declarations is refused (entity-expansion bombs); a malformed XML fails the read
  unless ``skip_invalid``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

from ..errors import SourceError
from ..model import Box, Dataset, ImageItem, Summary, Task
from ._shared import Reiterable, add_box, check_policy, find_image, image_note, is_inside, probe, rel_key

__all__ = ["read_voc", "parse_voc_xml"]

Progress = Callable[[int], None]
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# The class-list pass reads only object names. Files with comments, CDATA or processing instructions
# beyond the declaration go through the full parser instead.
_OBJECT = re.compile(rb"<object\b[^>]*>(.*?)</object\s*>", re.DOTALL)
_PART = re.compile(rb"<part\b[^>]*>.*?</part\s*>", re.DOTALL)
_NAME = re.compile(rb"<name\s*>([^<]*)</name\s*>")
_FOREIGN_ENCODING = re.compile(rb"<\?xml[^>]*encoding\s*=\s*[\"'](?!utf-?8[\"'])", re.IGNORECASE)


def parse_voc_xml(data: bytes, *, path: str = "<xml>") -> dict[str, object]:
    """Parse one VOC annotation safely into ``{filename, width, height, depth, objects, parts}``.

    ``objects`` is a list of ``(name, xmin, ymin, xmax, ymax)`` with None for missing numbers.
    Raises SourceError for a DTD/entity declaration or malformed XML.
    """
    if _DTD.search(data):
        raise SourceError("refusing an XML file with a DTD or entity declarations (they can expand into "
                          "gigabytes); remove the <!DOCTYPE>/<!ENTITY> part", path=path)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise SourceError(f"malformed XML ({e})", path=path) from None
    if root.tag != "annotation":
        raise SourceError(f"not a Pascal VOC annotation (the root element is <{root.tag}>, not <annotation>)",
                          path=path)
    width = height = None
    depth = 3
    filename = ""
    objects = []
    parts = 0
    # One pass over the children (tag order is free); find() per field costs more than the parse itself.
    for child in root:
        tag = child.tag
        if tag == "object":
            name = ""
            box = None
            for sub in child:
                if sub.tag == "name":
                    name = (sub.text or "").strip()
                elif sub.tag == "bndbox":
                    box = {c.tag: c.text for c in sub}
                elif sub.tag == "part":
                    parts += 1
            if box is None:
                objects.append((name, None, None, None, None))
            else:
                objects.append((name, _float(box.get("xmin")), _float(box.get("ymin")), _float(box.get("xmax")),
                                _float(box.get("ymax"))))
        elif tag == "size":
            dims = {c.tag: c.text for c in child}
            w, h, d = _float(dims.get("width")), _float(dims.get("height")), _float(dims.get("depth"))
            width = int(w) if w else None
            height = int(h) if h else None
            depth = int(d) if d else 3
        elif tag == "filename":
            filename = (child.text or "").strip()
    return {"filename": filename, "width": width, "height": height, "depth": depth, "objects": objects,
            "parts": parts}


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_voc(root: str | os.PathLike[str], *, images: str | os.PathLike[str] | None = None,
             bad_boxes: str = "clip", keep_empty: bool = False, trust_sizes: bool = False,
             skip_missing: bool = False, skip_invalid: bool = False, one_based: bool = False,
             image_set: str | None = None, progress: Progress | None = None) -> Dataset:
    """Read a Pascal VOC folder (or one XML file) into a streaming detection :class:`Dataset`.

    Args:
        root: the dataset folder (``Annotations/`` + ``JPEGImages/``, or XML files beside images).
        images: the folder the image paths are relative to (default ``root/JPEGImages`` if it exists,
            else ``root``); item paths, and so the S3 keys, are relative to it.
        bad_boxes: ``clip`` (default), ``drop`` or ``error`` for boxes running off the image.
        keep_empty: write images without boxes too.
        trust_sizes: take ``<size>`` as is and open no image (fast; images need not be present).
        skip_missing: leave out annotations whose image is missing instead of failing.
        skip_invalid: leave out malformed XML files and corrupt images instead of failing.
        one_based: the devkit's 1-based inclusive corners (``left = xmin - 1``).
        image_set: read only the ids listed in ``root/ImageSets/Main/<image_set>.txt`` (or that file).
        progress: called with the number of XML files handled since its last call.
    """
    check_policy(bad_boxes)
    root_s = os.fspath(root)
    if not os.path.exists(root_s):
        raise SourceError("folder not found", path=root_s)
    single = os.path.isfile(root_s)
    base = os.path.dirname(os.path.abspath(root_s)) if single else root_s
    ann_root = os.path.join(base, "Annotations") if os.path.isdir(os.path.join(base, "Annotations")) else base
    if images is not None:
        img_root = os.fspath(images)
        if not os.path.isdir(img_root):
            raise SourceError("image folder not found", path=img_root)
    elif os.path.isdir(os.path.join(base, "JPEGImages")):
        img_root = os.path.join(base, "JPEGImages")
    else:
        img_root = base
    if single:
        xml_files = [os.path.abspath(root_s)]
        ann_root = base
    else:
        xml_files = _xml_files(ann_root, img_root)
    if image_set is not None:
        wanted = _read_image_set(base, image_set)
        xml_files = [p for p in xml_files if os.path.splitext(os.path.basename(p))[0] in wanted]
    if not xml_files:
        raise SourceError("no Pascal VOC .xml annotation found (expected Annotations/*.xml or .xml files "
                          "beside the images)", path=root_s)
    summary = Summary(source=root_s, task=Task.DETECTION.value)
    labels: set[str] = set()
    # One cheap pass over the XML files for the class list (labels sorted, numbered 0..N-1); the items
    # are then produced lazily so that memory stays flat.
    for p in xml_files:
        try:
            with open(p, "rb") as fp:
                labels.update(_object_names(fp.read(), p))
        except SourceError:
            if not skip_invalid:
                raise
            continue
        except OSError as e:
            raise SourceError(f"cannot read ({e.strerror or e})", path=p) from None
    classes = {label: i for i, label in enumerate(sorted(labels))}
    reader = _Reader(ann_root, img_root, summary, classes, bad_boxes=bad_boxes, keep_empty=keep_empty,
                     trust_sizes=trust_sizes, skip_missing=skip_missing, skip_invalid=skip_invalid,
                     one_based=one_based)

    def items() -> Iterator[ImageItem]:
        reader.reset()
        pending = 0
        for p in xml_files:
            item = reader.item(p)
            pending += 1
            if progress is not None and pending >= 1000:
                progress(pending)
                pending = 0
            if item is not None:
                yield item
        if progress is not None and pending:
            progress(pending)

    return Dataset(task=Task.DETECTION, items=Reiterable(items), classes=classes, summary=summary,
                   root=img_root)


def _object_names(data: bytes, path: str) -> set[str]:
    """The object labels of one XML file: a regular-expression scan when the file is plain elements
    (fast), the full safe parse otherwise. Both give the names :func:`parse_voc_xml` reads."""
    if b"<!" in data or b"&" in data or b"<?" in data[5:] or _FOREIGN_ENCODING.match(data):
        return {o[0] for o in parse_voc_xml(data, path=path)["objects"] if o[0]}  # type: ignore[attr-defined]
    out = set()
    for block in _OBJECT.findall(data):
        names = _NAME.findall(_PART.sub(b"", block))
        if len(names) != 1:
            # Other <name> elements (CVAT attributes...) or none: let the parser pick the direct child.
            return {o[0] for o in parse_voc_xml(data, path=path)["objects"] if o[0]}  # type: ignore[attr-defined]
        name = names[0].decode("utf-8", "replace").strip()
        if name:
            out.add(name)
    return out


def _xml_files(ann_root: str, img_root: str) -> list[str]:
    out: list[str] = []
    for folder, dirs, files in os.walk(ann_root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.lower().endswith(".xml") and not name.startswith("."):
                out.append(os.path.join(folder, name))
    out.sort()
    return out


def _read_image_set(base: str, image_set: str) -> set[str]:
    path = image_set if os.path.isfile(image_set) else os.path.join(base, "ImageSets", "Main", image_set + ".txt")
    try:
        with open(path, encoding="utf-8") as fp:
            lines = fp.read().splitlines()
    except OSError:
        raise SourceError(f"image set {image_set!r} not found (looked for {path})") from None
    ids = set()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        # Per-class sets ("id  1" / "id -1") list negatives too: keep positives and plain ids.
        if len(parts) > 1 and parts[1] == "-1":
            continue
        ids.add(parts[0])
    return ids


class _Reader:
    """Turns one XML file into an item, applying every policy and counting in the summary."""

    def __init__(self, ann_root: str, img_root: str, summary: Summary, classes: dict[str, int], *,
                 bad_boxes: str, keep_empty: bool,
                 trust_sizes: bool, skip_missing: bool, skip_invalid: bool, one_based: bool) -> None:
        self.ann_root = ann_root
        self.img_root = img_root
        self.summary = summary
        self.classes = classes
        self.bad_boxes = bad_boxes
        self.keep_empty = keep_empty
        self.trust_sizes = trust_sizes
        self.skip_missing = skip_missing
        self.skip_invalid = skip_invalid
        self.offset = 1.0 if one_based else 0.0

    def reset(self) -> None:
        """Start a fresh pass: the summary counts one pass (the writer's)."""
        keep = self.summary.source, self.summary.task
        self.summary.notes.clear()
        self.summary.source, self.summary.task = keep

    def item(self, xml_path: str) -> ImageItem | None:
        s = self.summary
        where = rel_key(xml_path, self.ann_root)
        try:
            with open(xml_path, "rb") as fp:
                ann = parse_voc_xml(fp.read(), path=xml_path)
        except OSError as e:
            raise SourceError(f"cannot read ({e.strerror or e})", path=xml_path) from None
        except SourceError as e:
            if not self.skip_invalid:
                raise
            s.note("MK_INVALID_ANNOTATION_FILE", "unreadable annotation file left out (--skip-invalid)",
                   f"{where} ({e.reason})", severity="error")
            return None
        filename = str(ann["filename"])
        sub = os.path.dirname(where).replace("/", os.sep)
        width, height, depth = ann["width"], ann["height"], int(ann["depth"])  # type: ignore[call-overload]
        fmt = None
        orientation = 1
        if self.trust_sizes and width and height and filename:
            key = (sub.replace(os.sep, "/") + "/" if sub else "") + filename.replace("\\", "/")
        else:
            stem = os.path.splitext(os.path.basename(xml_path))[0]
            folders = [os.path.join(self.img_root, sub), self.img_root, os.path.dirname(xml_path)]
            found = find_image(os.path.basename(filename.replace("\\", "/")), folders, stem_fallback=stem)
            if found is None:
                if not self.skip_missing:
                    raise SourceError(f"image {filename or stem!r} not found in {self.img_root} (by <filename> "
                                      "or by the XML's name); pass --images DIR, or --skip-missing to leave such "
                                      "images out", path=xml_path)
                s.note("MK_IMAGE_NOT_FOUND", "annotation whose image is missing left out (--skip-missing)",
                       f"{where} ({filename or stem})", severity="error")
                return None
            if not is_inside(found, self.img_root):
                s.note("MK_IMAGE_OUTSIDE_ROOT", "image outside the image folder left out: pass --images with a "
                       "folder that holds every image", found, severity="error")
                return None
            key = rel_key(found, self.img_root)
            if filename and os.path.basename(found) != os.path.basename(filename):
                s.note("MK_FILENAME_MISMATCH", "<filename> names a missing file; the image was found by the "
                       "XML's own name", f"{where} ({filename} -> {key})")
            info = probe(found, s, key, skip_invalid=self.skip_invalid)
            if info is None or not image_note(s, info, key):
                return None
            if width and height and (width, height) != (info.width, info.height):
                s.note("MK_IMAGE_SIZE_MISMATCH", "<size> differs from the real image size (the image wins)",
                       f"{key} ({width}x{height} declared, {info.width}x{info.height} real)")
            elif not (width and height):
                s.note("MK_SIZE_FROM_IMAGE", "<size> missing: width and height read from the image", key,
                       severity="info")
            width, height, depth, fmt, orientation = info.width, info.height, info.channels, info.format, \
                info.orientation
        if not (width and height):
            s.note("MK_SIZE_UNKNOWN", "no <size> and no image: the annotation cannot be written", where,
                   severity="error")
            return None
        boxes: list[Box] = []
        for i, (name, x0, y0, x1, y1) in enumerate(ann["objects"]):  # type: ignore[attr-defined]
            at = f"{key} object {i + 1}"
            if not name:
                s.note("MK_BOX_NO_LABEL", "object without a <name> skipped", at, severity="error")
                continue
            if x0 is None or y0 is None or x1 is None or y1 is None:
                s.note("MK_BOX_MALFORMED", "object without a complete <bndbox> skipped", at, severity="error")
                continue
            if name not in self.classes:
                raise SourceError(f"object {name!r} was not there when the classes were listed: did the file "
                                  "change during the conversion? Run it again", path=xml_path)
            left, top = x0 - self.offset, y0 - self.offset
            add_box(boxes, s, name, left, top, x1 - left, y1 - top, width, height, where=at,
                    bad_boxes=self.bad_boxes, path=xml_path)
        if ann["parts"]:
            s.note("MK_VOC_PARTS_IGNORED", "<part> boxes ignored (Rekognition has no parts)", key,
                   severity="info", count=int(ann["parts"]))  # type: ignore[call-overload]
        if not boxes and not self.keep_empty:
            s.note("MK_NO_ANNOTATIONS", "image without boxes left out (--keep-empty writes it)", key,
                   severity="info")
            return None
        return ImageItem(path=key, width=int(width), height=int(height), format=fmt, boxes=tuple(boxes),
                         depth=depth, orientation=orientation, source_id=where)
