"""Helpers the VOC, YOLO, CSV and Ground Truth readers share: box policy, image lookup, re-iterables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ..errors import ImageError, SourceError
from ..images import ImageInfo, probe_file
from ..model import Box, ImageItem, Summary, box_too_small, normalize_box

__all__ = ["BAD_BOX_POLICIES", "IMAGE_SUFFIXES", "Reiterable", "add_box", "check_policy", "find_image",
           "image_note", "is_inside", "rel_key"]

BAD_BOX_POLICIES = ("clip", "drop", "error")
# Extensions tried, in order, when an annotation names its image without one (or names the wrong one).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".jpe", ".bmp", ".webp", ".tif", ".tiff",
                  ".gif")


class Reiterable:
    """An iterable that runs its generator function afresh on each ``iter()``: streaming, re-readable."""

    def __init__(self, fn: Callable[[], Iterator[ImageItem]]) -> None:
        self._fn = fn

    def __iter__(self) -> Iterator[ImageItem]:
        return self._fn()


def check_policy(bad_boxes: str) -> None:
    """Refuse an unknown ``bad_boxes`` policy (a programming error in the caller, said plainly)."""
    if bad_boxes not in BAD_BOX_POLICIES:
        raise SourceError(f"bad_boxes must be one of {', '.join(BAD_BOX_POLICIES)}, not {bad_boxes!r}")


def add_box(boxes: list[Box], summary: Summary, label: str, left: float, top: float, width: float,
            height: float, image_width: int, image_height: int, *, where: str, bad_boxes: str,
            class_id: int | None = None, path: str | None = None) -> None:
    """Round and clip one box by the policy, count every change, and append it unless it is dropped."""
    (x, y, w, h), rounded, clipped = normalize_box(left, top, width, height, image_width, image_height)
    if clipped:
        if bad_boxes == "error":
            raise SourceError(f"box of {label!r} at ({left}, {top}, {width}, {height}) runs off the "
                              f"{image_width}x{image_height} image; use --bad-boxes clip or drop",
                              path=path, item=where)
        if bad_boxes == "drop":
            summary.note("MK_BOX_DROPPED_OFF_FRAME", "box running off the image dropped (--bad-boxes drop)", where)
            return
        summary.note("MK_BOX_CLIPPED", "box running off the image clipped to it", where)
    if rounded:
        summary.note("MK_BOX_ROUNDED", "non-integer box coordinates rounded to whole pixels", where,
                     severity="info")
    if w <= 0 or h <= 0:
        summary.note("MK_BOX_EMPTY", "box empty (after clipping) dropped", where)
        return
    if box_too_small(w, h, image_width, image_height):
        summary.note("ERROR_BOUNDING_BOX_TOO_SMALL", "box too small for Rekognition dropped", where,
                     severity="error")
        return
    boxes.append(Box(label, x, y, w, h, class_id))


def is_inside(path: str, root: str) -> bool:
    """Whether ``path`` lies inside the folder ``root`` (both absolute or both relative to one place)."""
    ap, ar = os.path.abspath(path), os.path.abspath(root)
    return ap == ar or ap.startswith(ar.rstrip(os.sep) + os.sep)


def rel_key(path: str, root: str) -> str:
    """``path`` relative to ``root`` with ``/`` separators: the part appended to the S3 prefix."""
    # The common case, a path built by joining onto root, is a slice (os.path.relpath costs ~25 us).
    head = root if root.endswith(os.sep) else root + os.sep
    if path.startswith(head) and os.sep + ".." + os.sep not in path and os.sep + "." + os.sep not in path:
        rel = path[len(head):]
    else:
        rel = os.path.relpath(path, root)
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


def find_image(name: str, folders: list[str], *, stem_fallback: str | None = None) -> str | None:
    """The first existing file ``folder/name`` over ``folders``; else one with the same stem and an image
    extension (``name`` without one, or ``stem_fallback`` such as the annotation file's own name)."""
    stems: list[str] = []
    if name:
        for folder in folders:
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
        stems.append(os.path.splitext(name)[0] if os.path.splitext(name)[1] else name)
    if stem_fallback and stem_fallback not in stems:
        stems.append(stem_fallback)
    for stem in stems:
        for folder in folders:
            for suffix in IMAGE_SUFFIXES:
                p = os.path.join(folder, stem + suffix)
                if os.path.isfile(p):
                    return p
    return None


def image_note(summary: Summary, info: ImageInfo, where: str) -> bool:
    """Report what the header says about an image; False when it cannot be used (not JPEG or PNG)."""
    if not info.supported:
        summary.note("MK_UNSUPPORTED_FORMAT", "image skipped: Rekognition takes JPEG and PNG only; "
                     "'manifestkit fix' or an image editor can convert it", f"{where} ({info.format})")
        return False
    if info.truncated:
        summary.note("MK_TRUNCATED_IMAGE", "image looks truncated (no end marker near the end of the file)",
                     where)
    if info.rotated:
        summary.note("MK_EXIF_ROTATED", "EXIF orientation 5-8: the image is displayed turned by 90 degrees "
                     "(width and height swapped); boxes drawn on the displayed image will be wrong", where)
    return True


def probe(path: str, summary: Summary, where: str, *, skip_invalid: bool) -> ImageInfo | None:
    """Probe an image; a corrupt one fails the read unless ``skip_invalid`` (then it is counted)."""
    try:
        return probe_file(path)
    except ImageError as e:
        if not skip_invalid:
            raise ImageError(f"{e.reason}; pass --skip-invalid to leave such images out", path=path) from None
        summary.note("MK_CORRUPT_IMAGE", "corrupt or unreadable image left out (--skip-invalid)",
                     f"{where} ({e.reason})", severity="error")
        return None
