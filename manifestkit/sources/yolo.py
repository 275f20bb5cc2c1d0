"""YOLO reader: darknet (``obj.names``/``obj.data``) and Ultralytics (``data.yaml``) layouts.

Every image under the root is paired with its label file by the Ultralytics rule (the last ``images``
folder in its path replaced by ``labels``, extension ``.txt``), else the ``.txt`` beside it (darknet).
So ``images/train/1.jpg`` + ``labels/train/1.txt``, ``train/images/a.jpg`` + ``train/labels/a.txt`` and
``obj_train_data/1.jpg`` + ``obj_train_data/1.txt`` all work without trusting the paths written in
``obj.data``/``data.yaml`` (exports often carry paths of the machine that wrote them).

Class names come from, in order: ``data.yaml`` (or any ``*.yaml`` with ``names:``), the ``names =`` file of
``obj.data``, ``obj.names``, ``classes.txt``, ``classes.names``. The class id is the line's first number
and is kept as the manifest ``class_id``.

``data.yaml`` is read without a YAML library. Supported: top-level ``key: value`` lines; ``names`` as a
flow list (``names: [a, 'b c']``), a flow dict (``names: {0: a, 1: b}``), a block list (``- a``) or a
block dict (``0: a``) indented below ``names:``; ``nc``; ``path``/``train``/``val``/``test`` as strings or
flow lists; ``#`` comments; single or double quotes. Anchors, multi-line strings and nested documents are
not supported (a clear error names the line).

Label lines: ``class cx cy w h`` normalised to the image (0..1), and ``class cx cy w h confidence`` (a
prediction file; the confidence is dropped, manifests hold human labels). Any other token count (for
example 7 tokens, or a segmentation polygon) is a bad line: the read fails unless ``skip_invalid``. Boxes
need the real image size, read from the image header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

from ..errors import SourceError
from ..model import Box, Dataset, ImageItem, Summary, Task
from ._shared import Reiterable, add_box, check_policy, image_note, probe, rel_key

__all__ = ["parse_data_yaml", "parse_label_line", "read_yolo"]

Progress = Callable[[int], None]
_IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".jpe", ".jfif", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
_NAME_FILES = ("obj.names", "classes.txt", "classes.names", "coco.names")


def parse_label_line(line: str) -> tuple[int, float, float, float, float]:
    """Parse one YOLO label line into ``(class, cx, cy, w, h)``; raises ValueError saying what is wrong."""
    parts = line.split()
    if len(parts) not in (5, 6):
        raise ValueError(f"{len(parts)} values, expected 5 (class cx cy w h) or 6 (with a confidence)")
    try:
        cls_f = float(parts[0])
    except ValueError:
        raise ValueError(f"class {parts[0]!r} is not a number") from None
    if not cls_f.is_integer() or cls_f < 0:
        raise ValueError(f"class {parts[0]!r} is not a non-negative whole number")
    try:
        cx, cy, w, h = (float(p) for p in parts[1:5])
        if len(parts) == 6:
            float(parts[5])
    except ValueError:
        raise ValueError("a coordinate is not a number") from None
    return int(cls_f), cx, cy, w, h


# ----------------------------------------------------------------------------------- data.yaml, by hand

def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (not out or out[-1].isspace()):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _split_flow(body: str) -> list[str]:
    items, cur, quote = [], [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ",":
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


def _flow(value: str, path: str, n: int) -> list[str] | dict[str, str] | str:
    value = value.strip()
    if value.startswith("["):
        if not value.endswith("]"):
            raise SourceError(f"line {n}: a [list] that spans lines is not supported; put it on one line",
                              path=path)
        return [_unquote(x) for x in _split_flow(value[1:-1])]
    if value.startswith("{"):
        if not value.endswith("}"):
            raise SourceError(f"line {n}: a {{mapping}} that spans lines is not supported", path=path)
        out = {}
        for part in _split_flow(value[1:-1]):
            k, sep, v = part.partition(":")
            if not sep:
                raise SourceError(f"line {n}: cannot read {part!r} as key: value", path=path)
            out[_unquote(k)] = _unquote(v)
        return out
    return _unquote(value)


def parse_data_yaml(text: str, *, path: str = "data.yaml") -> dict[str, object]:
    """Read the simple YAML of an Ultralytics ``data.yaml``: top-level keys, flow or block lists/dicts."""
    data: dict[str, object] = {}
    key: str | None = None
    block: list[str] | dict[str, str] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indented = line[0] in " \t"
        stripped = line.strip()
        if indented or stripped.startswith("- "):
            if key is None:
                raise SourceError(f"line {n}: indented value without a key above it", path=path)
            if stripped.startswith("-"):
                if block is None:
                    block = []
                if not isinstance(block, list):
                    raise SourceError(f"line {n}: mixes '- item' and 'key: value' under {key!r}", path=path)
                block.append(_unquote(stripped[1:]))
            else:
                k, sep, v = stripped.partition(":")
                if not sep:
                    raise SourceError(f"line {n}: cannot read {stripped!r} (expected '- item' or 'key: value')",
                                      path=path)
                if block is None:
                    block = {}
                if not isinstance(block, dict):
                    raise SourceError(f"line {n}: mixes '- item' and 'key: value' under {key!r}", path=path)
                block[_unquote(k)] = _unquote(v)
            data[key] = block
            continue
        k, sep, v = stripped.partition(":")
        if not sep:
            raise SourceError(f"line {n}: cannot read {stripped!r} as 'key: value'", path=path)
        key = _unquote(k)
        block = None
        if v.strip() in ("|", ">", "&", "*") or v.strip().startswith(("&", "*", "|", ">")):
            raise SourceError(f"line {n}: YAML anchors and multi-line strings are not supported", path=path)
        data[key] = _flow(v, path, n) if v.strip() else None
    return data


def _names_from_yaml(data: dict[str, object], path: str) -> list[str]:
    names = data.get("names")
    if isinstance(names, list):
        out = [str(x) for x in names]
    elif isinstance(names, dict):
        try:
            ids = {int(k): str(v) for k, v in names.items()}
        except ValueError:
            raise SourceError("names: the keys of the mapping must be class numbers", path=path) from None
        if sorted(ids) != list(range(len(ids))):
            raise SourceError("names: the class numbers must be 0..N-1 without gaps", path=path)
        out = [ids[i] for i in range(len(ids))]
    else:
        raise SourceError("no names: list (or mapping) of class names", path=path)
    nc = data.get("nc")
    if isinstance(nc, str) and nc.isdigit() and int(nc) != len(out):
        raise SourceError(f"nc is {nc} but names lists {len(out)} classes", path=path)
    return out


def _read_names_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig") as fp:
            return [line.strip() for line in fp if line.strip()]
    except OSError as e:
        raise SourceError(f"cannot read the class names ({e.strerror or e})", path=path) from None


def _read_obj_data(path: str) -> dict[str, str]:
    out = {}
    try:
        with open(path, encoding="utf-8-sig") as fp:
            for line in fp:
                k, sep, v = line.partition("=")
                if sep:
                    out[k.strip()] = v.strip()
    except OSError as e:
        raise SourceError(f"cannot read ({e.strerror or e})", path=path) from None
    return out


def _resolve(base: str, written: str) -> str | None:
    """A path written in obj.data: as given, relative to its folder, or without its first folder (``data/``)."""
    written = written.replace("\\", "/")
    candidates = [written, os.path.join(base, written)]
    parts = written.split("/")
    if len(parts) > 1:
        candidates.append(os.path.join(base, *parts[1:]))
    candidates.append(os.path.join(base, os.path.basename(written)))
    for c in candidates:
        if os.path.exists(c):
            return c
    return None


def _class_names(root: str, summary: Summary) -> tuple[list[str], str]:
    yamls = sorted(f for f in os.listdir(root) if f.lower().endswith((".yaml", ".yml")))
    if "data.yaml" in yamls:
        yamls.remove("data.yaml")
        yamls.insert(0, "data.yaml")
    for name in yamls:
        p = os.path.join(root, name)
        with open(p, encoding="utf-8-sig") as fp:
            data = parse_data_yaml(fp.read(), path=p)
        if "names" in data:
            return _names_from_yaml(data, p), name
    if os.path.isfile(os.path.join(root, "obj.data")):
        obj = _read_obj_data(os.path.join(root, "obj.data"))
        if "names" in obj:
            p = _resolve(root, obj["names"])
            if p is not None:
                return _read_names_file(p), os.path.relpath(p, root)
            summary.note("MK_PATH_NOT_FOUND", "a path written in obj.data does not exist; looked beside it",
                         f"names = {obj['names']}", severity="info")
    for name in _NAME_FILES:
        p = os.path.join(root, name)
        if os.path.isfile(p):
            return _read_names_file(p), name
    raise SourceError("no class names found: expected data.yaml (names:), obj.data, obj.names or classes.txt "
                      "in this folder", path=root)


def _label_path(image: str) -> tuple[str, str]:
    """The Ultralytics label path (last ``images`` folder -> ``labels``) and the darknet one (beside it)."""
    stem = os.path.splitext(image)[0]
    parts = stem.split(os.sep)
    mirrored = ""
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            mirrored = os.sep.join(parts[:i] + ["labels"] + parts[i + 1:]) + ".txt"
            break
    return mirrored, stem + ".txt"


def read_yolo(root: str | os.PathLike[str], *, bad_boxes: str = "clip", keep_empty: bool = False,
              skip_invalid: bool = False, progress: Progress | None = None) -> Dataset:
    """Read a YOLO dataset folder into a streaming detection :class:`Dataset` (class ids kept).

    Item paths (the S3 keys) are the image paths relative to ``root``. Images without a label file or
    with an empty one are left out unless ``keep_empty``. A bad label line, an unknown class id or a corrupt
    image fails the read unless ``skip_invalid``.
    """
    check_policy(bad_boxes)
    root_s = os.fspath(root)
    if os.path.isfile(root_s):
        root_s = os.path.dirname(os.path.abspath(root_s))
    if not os.path.isdir(root_s):
        raise SourceError("folder not found", path=root_s)
    summary = Summary(source=root_s, task=Task.DETECTION.value)
    names, names_from = _class_names(root_s, summary)
    if not names:
        raise SourceError(f"{names_from} lists no class names", path=root_s)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceError(f"{names_from} lists a class name twice ({', '.join(dupes)}); each class needs a "
                          "distinct name", path=root_s)
    classes = {name: i for i, name in enumerate(names)}
    images = _image_files(root_s)
    if not images:
        raise SourceError("no image found under this folder (YOLO keeps images in images/ or beside their "
                          ".txt label files)", path=root_s)

    def items() -> Iterator[ImageItem]:
        summary.notes.clear()
        pending = 0
        for image in images:
            item = _item(root_s, image, names, summary, bad_boxes=bad_boxes, keep_empty=keep_empty,
                         skip_invalid=skip_invalid)
            pending += 1
            if progress is not None and pending >= 1000:
                progress(pending)
                pending = 0
            if item is not None:
                yield item
        if progress is not None and pending:
            progress(pending)

    return Dataset(task=Task.DETECTION, items=Reiterable(items), classes=classes, summary=summary, root=root_s)


def _image_files(root: str) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in _IMAGE_EXTS:
                out.append(os.path.join(folder, name))
    out.sort()
    return out


_WS = re.compile(r"\s+")


def _item(root: str, image: str, names: list[str], s: Summary, *, bad_boxes: str, keep_empty: bool,
          skip_invalid: bool) -> ImageItem | None:
    key = rel_key(image, root)
    mirrored, beside = _label_path(image)
    label_file = mirrored if mirrored and os.path.isfile(mirrored) else beside
    try:
        with open(label_file, encoding="utf-8-sig") as fp:
            text = fp.read()
    except FileNotFoundError:
        text = None
    except OSError as e:
        raise SourceError(f"cannot read ({e.strerror or e})", path=label_file) from None
    if not text or not text.strip():
        if not keep_empty:
            s.note("MK_NO_ANNOTATIONS", "image without boxes (no or empty label file) left out "
                   "(--keep-empty writes it)", key, severity="info")
            return None
    info = probe(image, s, key, skip_invalid=skip_invalid)
    if info is None or not image_note(s, info, key):
        return None
    w, h = info.width, info.height
    boxes: list[Box] = []
    label_key = rel_key(label_file, root)
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{label_key}:{n}"
        try:
            cls, cx, cy, bw, bh = parse_label_line(line)
            if cls >= len(names):
                raise ValueError(f"class {cls} is not in the {len(names)} class names")
        except ValueError as e:
            if not skip_invalid:
                raise SourceError(f"bad YOLO label line ({e}); fix it or pass --skip-invalid",
                                  path=label_file, item=f"line {n}") from None
            s.note("MK_BAD_LABEL_LINE", "bad YOLO label line skipped (--skip-invalid)", f"{where} ({e})",
                   severity="error")
            continue
        if len(_WS.split(line.strip())) == 6:
            s.note("MK_CONFIDENCE_IGNORED", "6-value line: the trailing confidence was dropped (human labels "
                   "have confidence 1)", where, severity="info")
        add_box(boxes, s, names[cls], (cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h, w, h, where=where,
                bad_boxes=bad_boxes, class_id=cls, path=label_file)
    if not boxes and not keep_empty:
        s.note("MK_NO_ANNOTATIONS", "image without boxes (no or empty label file) left out "
               "(--keep-empty writes it)", key, severity="info")
        return None
    return ImageItem(path=key, width=w, height=h, format=info.format, boxes=tuple(boxes), depth=info.channels,
                     orientation=info.orientation, source_id=label_key)
