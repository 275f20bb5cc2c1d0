"""``fix``: repair what validation finds and can be repaired, line by line, never touching the originals.

For each manifest line (its image is ``images/<key below s3_prefix>``):

* the image is re-encoded when Rekognition cannot take it or may misread it: WebP, BMP, TIFF, GIF (not JPEG
  or PNG), CMYK JPEG, 16-bit PNG. Lossless sources (PNG, BMP, GIF, TIFF) and images with transparency
  become PNG, the others JPEG (quality 95). The new file keeps its name with the new extension, so its
  ``source-ref`` changes accordingly;
* an image stored sideways or mirrored (EXIF orientation 2-8) is rewritten upright without the tag, so that
  its stored and displayed sizes agree. Boxes are kept as they are: labelling tools (Ground Truth's among
  them) draw on the image as the browser displays it, that is upright;
* an image over 4096 px on a side is downscaled to 4096 (aspect kept), and its boxes with it;
* ``image_size`` is set to the real size of the (new) image;
* boxes are rounded to whole pixels, clipped to the image; boxes empty or too small for Rekognition after
  that are dropped; a box line left with no box is dropped (Rekognition would ignore it);
* Ground Truth's native multi-label lines are rewritten as one ``groundtruth/image-classification`` pair
  per label; a line that is not JSON (or not a labelled image line) is dropped.

Rewritten images go to ``images_out`` (at the same relative path, new extension), atomically, one file at a
time; upload that folder to the same S3 prefix. Every change is recorded with its line number.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from .errors import ImageError, ManifestError, ManifestKitError
from .images import probe_file
from .manifest import (DETECTION_TYPE, MULTILABEL_TYPE, _check_attribute, atomic_writer, creation_date,
                       default_label_attribute, item_to_line, manifest_path, parse_line)
from .model import Box, ImageItem, Task, box_too_small, normalize_box
from .uris import normalize_prefix, parse_s3_uri

__all__ = ["Change", "FixResult", "fix_manifest"]

Progress = Callable[[int], None]
MAX_SIDE = 4096
_LOSSLESS = frozenset({"PNG", "BMP", "GIF", "TIFF"})
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Change:
    """One repair (or one thing that could not be repaired) on one manifest line."""

    line: int
    code: str
    message: str
    fixed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message, "fixed": self.fixed}


@dataclass(slots=True)
class FixResult:
    """What ``fix`` did: lines read and written, images rewritten, and every change by line."""

    source: str
    output: str = ""
    lines: int = 0
    written: int = 0
    images_written: int = 0
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many changes each code has."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.code] = out.get(c.code, 0) + 1
        return dict(sorted(out.items()))

    @property
    def unfixed(self) -> list[Change]:
        return [c for c in self.changes if not c.fixed]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "output": self.output, "lines": self.lines, "written": self.written,
                "images_written": self.images_written, "counts": self.counts(),
                "changes": [c.to_dict() for c in self.changes]}


def fix_manifest(manifest: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 images: str | os.PathLike[str], s3_prefix: str | None = None,
                 images_out: str | os.PathLike[str] | None = None, label_attribute: str | None = None,
                 creation_date_value: str | _dt.datetime | None = None, jpeg_quality: int = 95,
                 report: str | os.PathLike[str] | None = None, progress: Progress | None = None) -> FixResult:
    """Repair ``manifest`` into ``output`` using the local ``images`` folder; see the module docstring.

    ``s3_prefix`` is the S3 location of ``images`` (default: the image key without the bucket is its path
    below ``images``). ``images_out`` receives rewritten images; without it, images that need rewriting are
    reported as not fixed. ``report`` also writes the result, every change by line, as JSON.
    Raises ManifestKitError when the folders are missing or the same.
    """
    src = os.fspath(manifest)
    if not os.path.isfile(src):
        raise ManifestError("manifest not found", path=src)
    img_root = os.fspath(images)
    if not os.path.isdir(img_root):
        raise ManifestKitError(f"image folder not found: {img_root}")
    out_root = os.fspath(images_out) if images_out is not None else None
    if out_root is not None and os.path.realpath(out_root) == os.path.realpath(img_root):
        raise ManifestKitError("--images-out must be another folder: fix never overwrites the original images")
    prefix = normalize_prefix(s3_prefix) if s3_prefix else None
    date = creation_date(creation_date_value)
    target = manifest_path(output)
    if os.path.abspath(target) == os.path.abspath(src):
        raise ManifestKitError("write the fixed manifest to a new file: fix never modifies its input")
    result = FixResult(source=src)
    fixer = _Fixer(img_root, out_root, prefix, result, jpeg_quality)
    classes = _image_level_classes(src)
    pending = 0
    with atomic_writer(target) as fp:
        for n, raw in _lines(src):
            result.lines += 1
            line = fixer.line(n, raw, classes, label_attribute, date)
            if line is not None:
                fp.write(_encode(line))
                fp.write(b"\n")
                result.written += 1
            pending += 1
            if progress is not None and pending >= 1000:
                progress(pending)
                pending = 0
    if progress is not None and pending:
        progress(pending)
    result.output = target
    if report is not None:
        with atomic_writer(report, "w") as rp:
            json.dump(result.to_dict(), rp, indent=2, ensure_ascii=False)
            rp.write("\n")
    return result


def _lines(path: str) -> Any:
    with open(path, "rb") as fp:
        for n, raw in enumerate(fp, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield n, raw


def _image_level_classes(path: str) -> dict[str, int]:
    """Image-level labels numbered 0..N-1 in sorted order (box lines keep their own class ids)."""
    labels: set[str] = set()
    for n, raw in _lines(path):
        try:
            obj = _decode(raw)
            item = parse_line(obj, line=n) if isinstance(obj, dict) else None
        except (msgspec.DecodeError, ManifestError):
            continue
        if item is not None and not item.boxes:
            labels.update(item.labels)
    return {label: i for i, label in enumerate(sorted(labels))}


class _Fixer:
    def __init__(self, img_root: str, out_root: str | None, prefix: str | None, result: FixResult,
                 quality: int) -> None:
        self.img_root = img_root
        self.out_root = out_root
        self.prefix = prefix
        self.result = result
        self.quality = quality

    def change(self, n: int, code: str, message: str, fixed: bool = True) -> None:
        self.result.changes.append(Change(n, code, message, fixed))

    def line(self, n: int, raw: bytes, classes: dict[str, int], attribute: str | None,
             date: str) -> dict[str, Any] | None:
        if not raw.strip():
            self.change(n, "MK_BLANK_LINE", "blank line removed")
            return None
        try:
            obj = _decode(raw)
            if not isinstance(obj, dict):
                raise ManifestError("not a JSON object")
            item = parse_line(obj, line=n)
        except (msgspec.DecodeError, ManifestError) as e:
            reason = e.reason if isinstance(e, ManifestError) else "invalid JSON"
            self.change(n, "ERROR_INVALID_JSON_LINE", f"line removed: {reason} (nothing to repair)")
            return None
        is_det = any(isinstance(m, dict) and m.get("type") == DETECTION_TYPE for k, m in obj.items()
                     if k.endswith("-metadata"))
        if any(isinstance(m, dict) and m.get("type") == MULTILABEL_TYPE for k, m in obj.items()
               if k.endswith("-metadata")):
            self.change(n, "ERROR_UNSUPPORTED_USE_CASE_TYPE", "Ground Truth multi-label attribute rewritten as "
                        "one groundtruth/image-classification pair per label")
        if not item.labels and not item.boxes and not is_det:
            self.change(n, "ERROR_NO_LABEL_ATTRIBUTES", "line without labels removed")
            return None
        item, scale = self.image(n, item, is_det)
        task = Task.DETECTION if is_det else Task.CLASSIFICATION
        if task is Task.DETECTION:
            item = self.boxes(n, item, scale)
            if not item.boxes:
                self.change(n, "WARNING_NO_ANNOTATIONS", "box line left without boxes removed")
                return None
        attr = attribute or default_label_attribute(task)
        _check_attribute(attr)
        try:
            return item_to_line(item, task=task, source_ref=item.source_ref or "", classes=classes,
                                attribute=attr, date=date)
        except ManifestError as e:
            self.change(n, "MK_SIZE_UNKNOWN", f"line kept unchanged: {e.reason}", fixed=False)
            return obj

    # ---------------------------------------------------------------------------------------- images

    def _key(self, ref: str) -> str | None:
        if self.prefix is not None:
            return ref[len(self.prefix):] if ref.startswith(self.prefix) else None
        try:
            return parse_s3_uri(ref)[1]
        except ManifestKitError:
            return None

    def image(self, n: int, item: ImageItem, is_det: bool) -> tuple[ImageItem, float]:
        """Check and if need be rewrite the line's image; returns the updated item and the box scale."""
        ref = item.source_ref or ""
        key = self._key(ref)
        if not key or key.startswith("/") or ".." in key.split("/"):
            self.change(n, "MK_IMAGE_NOT_CHECKED", f"source-ref {ref} is not below --s3-prefix: image not checked",
                        fixed=False)
            return item, 1.0
        path = os.path.join(self.img_root, *key.split("/"))
        try:
            info = probe_file(path)
        except ImageError as e:
            code = "MK_IMAGE_NOT_FOUND" if not os.path.exists(path) else "ERROR_INVALID_IMAGE"
            self.change(n, code, f"{key}: {e.reason}; image not checked", fixed=False)
            return item, 1.0
        reasons = []
        if not info.supported:
            reasons.append(f"{info.format} is not JPEG or PNG")
        elif info.format == "JPEG" and info.channels == 4:
            reasons.append("CMYK JPEG")
        elif info.bits > 8:
            reasons.append(f"{info.bits}-bit {info.format}")
        w, h = info.display_size if info.orientation != 1 else (info.width, info.height)
        scale = min(1.0, MAX_SIDE / max(w, h))
        if info.orientation != 1:
            reasons.append(f"EXIF orientation {info.orientation}")
        if scale < 1:
            reasons.append(f"{w}x{h} px is over {MAX_SIDE} px")
        if not reasons:
            if is_det and (item.width, item.height) != (info.width, info.height):
                self.change(n, "MK_IMAGE_SIZE_MISMATCH", f"image_size {item.width}x{item.height} set to the real "
                            f"{info.width}x{info.height}")
            return replace(item, width=info.width, height=info.height, depth=_depth(info.channels)), 1.0
        if self.out_root is None:
            self.change(n, "MK_NEEDS_IMAGES_OUT", f"{key}: {', '.join(reasons)}; pass --images-out DIR to "
                        "write a repaired copy", fixed=False)
            return item, 1.0
        new_key, new_w, new_h, depth = self._rewrite(path, key, info.format, w, h, scale)
        self.result.images_written += 1
        new_ref = ref[: len(ref) - len(key)] + new_key
        self.change(n, "MK_IMAGE_REWRITTEN", f"{key}: {', '.join(reasons)} -> {new_key} ({new_w}x{new_h})")
        if new_ref != ref:
            self.change(n, "MK_SOURCE_REF_CHANGED", f"source-ref now {new_ref}")
        if is_det and (item.width, item.height) != (round(w), round(h)):
            self.change(n, "MK_IMAGE_SIZE_MISMATCH", f"image_size {item.width}x{item.height} was not the displayed "
                        f"size {w}x{h}")
        return replace(item, source_ref=new_ref, width=new_w, height=new_h, depth=depth), scale

    def _rewrite(self, path: str, key: str, fmt: str, w: int, h: int, scale: float) -> tuple[str, int, int, int]:
        from PIL import Image, ImageOps

        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened) or opened
            img.load()
            alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                img = img.point(lambda v: v * (1 / 256)).convert("L")
            out_fmt = "PNG" if fmt in _LOSSLESS or alpha else "JPEG"
            if out_fmt == "JPEG":
                img = img.convert("L" if img.mode in ("L", "1") else "RGB")
            elif img.mode not in ("RGB", "RGBA", "L", "LA"):
                img = img.convert("RGBA" if alpha else "RGB")
            if scale < 1:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                img = img.resize(size, Image.Resampling.LANCZOS)
            new_key = os.path.splitext(key)[0] + (".png" if out_fmt == "PNG" else ".jpg")
            if out_fmt == fmt and os.path.splitext(key)[1].lower() in ((".png",) if fmt == "PNG"
                                                                        else (".jpg", ".jpeg")):
                new_key = key
            target = os.path.join(self.out_root or "", *new_key.split("/"))
            with atomic_writer(target, "wb") as fp:
                if out_fmt == "JPEG":
                    img.save(fp, "JPEG", quality=self.quality)
                else:
                    img.save(fp, "PNG")
            return new_key, img.width, img.height, _depth(len(img.getbands()))

    # ----------------------------------------------------------------------------------------- boxes

    def boxes(self, n: int, item: ImageItem, scale: float) -> ImageItem:
        w, h = item.width, item.height
        if not w or not h:
            return item
        out: list[Box] = []
        for i, b in enumerate(item.boxes, 1):
            left, top, bw, bh = b.left * scale, b.top * scale, b.width * scale, b.height * scale
            (x, y, nw, nh), rounded, clipped = normalize_box(left, top, bw, bh, w, h)
            at = f"box {i} ({b.label})"
            if scale < 1:
                self.change(n, "MK_BOX_SCALED", f"{at} scaled with its image by {scale:.4f}")
            elif rounded:
                self.change(n, "MK_NON_INTEGER_COORDINATES", f"{at} rounded to whole pixels")
            if clipped:
                self.change(n, "ERROR_INVALID_BOUNDING_BOX", f"{at} ran off the {w}x{h} image: clipped")
            if nw <= 0 or nh <= 0:
                self.change(n, "ERROR_INVALID_BOUNDING_BOX", f"{at} is empty: removed")
                continue
            if box_too_small(nw, nh, w, h):
                self.change(n, "ERROR_BOUNDING_BOX_TOO_SMALL", f"{at} is {nw}x{nh} px, too small: removed")
                continue
            out.append(Box(b.label, x, y, nw, nh, b.class_id))
        return replace(item, boxes=tuple(out))


def _depth(channels: int) -> int:
    return 1 if channels in (1, 2) else 3
