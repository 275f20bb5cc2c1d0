"""Dataset statistics of a manifest (and its test manifest): what the data looks like before training.

One streaming pass per manifest: memory grows with the number of labels and histogram buckets, never with
the number of lines, so a 500,000-line manifest costs the same memory as a 50-line one.

What is counted (per manifest): images, labels, images and boxes per label, boxes per image, each box's
area and aspect relative to its image, image sizes. What is flagged (:class:`Flag`, codes ``MK_*``):

* ``MK_FEW_IMAGES``: a label with fewer than 10 training images (Rekognition's guidance is 10 or more);
* ``MK_TINY_BOXES``: boxes Rekognition drops as ``ERROR_BOUNDING_BOX_TOO_SMALL`` (:func:`model.box_too_small`);
* ``MK_SMALL_BOXES``: a quarter or more of the boxes cover less than 1 % of their image;
* ``MK_LABEL_IMBALANCE``: the largest label has more than 10 times the images of the smallest;
* ``MK_LABEL_ONLY_IN_TEST`` / ``MK_LABEL_NOT_IN_TEST``: labels on one side of a train/test pair only.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .manifest import read_manifest
from .model import Box, ImageItem

__all__ = [
    "AREA_BUCKETS",
    "ASPECT_BUCKETS",
    "BOXES_PER_IMAGE_BUCKETS",
    "IMAGE_SIZE_BUCKETS",
    "IMBALANCE_RATIO",
    "MIN_IMAGES_PER_LABEL",
    "Flag",
    "LabelStats",
    "ManifestStats",
    "Stats",
    "StatsAccumulator",
    "compute_flags",
    "manifest_stats",
    "stats",
]

Progress = Callable[[int], None]

# Rekognition's guidance: at least 10 images per label.
MIN_IMAGES_PER_LABEL = 10
# Largest label / smallest label (in images) above this is flagged as imbalanced.
IMBALANCE_RATIO = 10.0
# Share of boxes below 1 % of the image area from which MK_SMALL_BOXES is raised.
SMALL_BOX_SHARE = 0.25

BOXES_PER_IMAGE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11-20", 11, 20),
    ("21-50", 21, 50), (">50", 51, 1 << 62),
)
# Box area as a fraction of the image area, [low, high).
AREA_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("tiny <0.1%", 0.0, 0.001), ("small 0.1-1%", 0.001, 0.01), ("medium 1-10%", 0.01, 0.10),
    ("large 10-50%", 0.10, 0.50), ("huge >=50%", 0.50, math.inf),
)
# Box width / height, [low, high).
ASPECT_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1:4", 0.0, 0.25), ("1:4-1:2", 0.25, 0.5), ("1:2-1:1", 0.5, 1.0), ("1:1-2:1", 1.0, 2.0),
    ("2:1-4:1", 2.0, 4.0), (">=4:1", 4.0, math.inf),
)
# Longest image side in pixels, [low, high]; Rekognition accepts 64..4096 on each side.
IMAGE_SIZE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("<64", 0, 63), ("64-511", 64, 511), ("512-1023", 512, 1023), ("1024-2047", 1024, 2047),
    ("2048-4096", 2048, 4096), (">4096", 4097, 1 << 62),
)
UNKNOWN_SIZE = "unknown"
_AREA_NAMES = tuple(name for name, _, _ in AREA_BUCKETS)
_AREA_BOUNDS = tuple(low for _, low, _ in AREA_BUCKETS[1:])
_ASPECT_NAMES = tuple(name for name, _, _ in ASPECT_BUCKETS)
_ASPECT_BOUNDS = tuple(low for _, low, _ in ASPECT_BUCKETS[1:])
_SIZE_NAMES = tuple(name for name, _, _ in IMAGE_SIZE_BUCKETS)
_SIZE_HIGHS = tuple(high for _, _, high in IMAGE_SIZE_BUCKETS)
_PER_IMAGE_NAMES = tuple(name for name, _, _ in BOXES_PER_IMAGE_BUCKETS)
_PER_IMAGE_HIGHS = tuple(high for _, _, high in BOXES_PER_IMAGE_BUCKETS)
_PROGRESS_EVERY = 1000


@dataclass(slots=True)
class LabelStats:
    """Counts of one label in one manifest."""

    images: int = 0
    boxes: int = 0
    too_small: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"images": self.images, "boxes": self.boxes, "too_small": self.too_small}


@dataclass(slots=True)
class Flag:
    """Something in the statistics worth acting on. ``manifest`` is ``train`` or ``test``."""

    code: str
    severity: str
    message: str
    manifest: str = "train"
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "manifest": self.manifest, "label": self.label,
                "message": self.message}


def _buckets(spec: tuple[tuple[str, Any, Any], ...], *extra: str) -> dict[str, int]:
    out = {name: 0 for name, _, _ in spec}
    for name in extra:
        out[name] = 0
    return out


@dataclass(slots=True)
class ManifestStats:
    """The statistics of one manifest. Histograms are ordered ``{bucket name: count}`` dicts."""

    path: str = ""
    task: str = ""
    images: int = 0
    boxes: int = 0
    invalid_lines: int = 0
    unlabelled_images: int = 0
    too_small_boxes: int = 0
    invalid_boxes: int = 0
    max_boxes_on_image: int = 0
    labels: dict[str, LabelStats] = field(default_factory=dict)
    boxes_per_image: dict[str, int] = field(default_factory=lambda: _buckets(BOXES_PER_IMAGE_BUCKETS))
    box_area: dict[str, int] = field(default_factory=lambda: _buckets(AREA_BUCKETS))
    box_aspect: dict[str, int] = field(default_factory=lambda: _buckets(ASPECT_BUCKETS))
    image_sizes: dict[str, int] = field(default_factory=lambda: _buckets(IMAGE_SIZE_BUCKETS, UNKNOWN_SIZE))
    width_range: tuple[int, int] | None = None
    height_range: tuple[int, int] | None = None

    @property
    def detection(self) -> bool:
        return self.task == "detection"

    @property
    def boxes_per_image_mean(self) -> float:
        return self.boxes / self.images if self.images else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "task": self.task,
            "images": self.images,
            "labels": len(self.labels),
            "boxes": self.boxes,
            "invalid_lines": self.invalid_lines,
            "unlabelled_images": self.unlabelled_images,
            "too_small_boxes": self.too_small_boxes,
            "invalid_boxes": self.invalid_boxes,
            "max_boxes_on_image": self.max_boxes_on_image,
            "boxes_per_image_mean": round(self.boxes_per_image_mean, 3),
            "per_label": {k: self.labels[k].to_dict() for k in sorted(self.labels)},
            "boxes_per_image": dict(self.boxes_per_image),
            "box_area": dict(self.box_area),
            "box_aspect": dict(self.box_aspect),
            "image_sizes": dict(self.image_sizes),
            "width_range": list(self.width_range) if self.width_range else None,
            "height_range": list(self.height_range) if self.height_range else None,
        }


class StatsAccumulator:
    """Adds items one at a time into a :class:`ManifestStats` (used by :func:`manifest_stats` and the report)."""

    def __init__(self, path: str = "", task: str = "") -> None:
        self.result = ManifestStats(path=path, task=task)
        self._detection = task == "detection"

    def add(self, item: ImageItem) -> None:
        """Count one image."""
        # Called once per line of a 500,000-line manifest: plain locals and bisect, no helper calls.
        r = self.result
        r.images += 1
        boxes = item.boxes
        labels = item.all_labels if boxes else item.labels
        if not labels:
            r.unlabelled_images += 1
        per_label = r.labels
        for lab in labels:
            ls = per_label.get(lab)
            if ls is None:
                ls = per_label[lab] = LabelStats()
            ls.images += 1
        w, h = item.width, item.height
        if w and h and w > 0 and h > 0:
            r.image_sizes[_SIZE_NAMES[bisect_left(_SIZE_HIGHS, max(w, h))]] += 1
            wr, hr = r.width_range, r.height_range
            if wr is None or w < wr[0] or w > wr[1]:
                r.width_range = (min(wr[0], w), max(wr[1], w)) if wr else (w, w)
            if hr is None or h < hr[0] or h > hr[1]:
                r.height_range = (min(hr[0], h), max(hr[1], h)) if hr else (h, h)
        else:
            r.image_sizes[UNKNOWN_SIZE] += 1
        if self._detection or boxes:
            n = len(boxes)
            r.boxes_per_image[_PER_IMAGE_NAMES[bisect_left(_PER_IMAGE_HIGHS, n)]] += 1
            if n > r.max_boxes_on_image:
                r.max_boxes_on_image = n
        if boxes:
            self._add_boxes(boxes, w, h)

    def _add_boxes(self, boxes: tuple[Box, ...], w: int | None, h: int | None) -> None:
        # The hot loop of a detection manifest (~7 boxes a line): bisect into the buckets, and the
        # too-small rule of model.box_too_small with its scale computed once per image.
        r = self.result
        area, aspect, labels = r.box_area, r.box_aspect, r.labels
        if w and h and w > 0 and h > 0:
            sized, image_area, scale = True, w * h, min(1.0, 1280.0 / max(w, h))
        else:
            sized, image_area, scale = False, 1, 1.0
        r.boxes += len(boxes)
        for b in boxes:
            ls = labels[b.label]
            ls.boxes += 1
            bw, bh = b.width, b.height
            if bw <= 0 or bh <= 0:
                r.invalid_boxes += 1
                continue
            aspect[_ASPECT_NAMES[bisect_right(_ASPECT_BOUNDS, bw / bh)]] += 1
            if sized:
                area[_AREA_NAMES[bisect_right(_AREA_BOUNDS, bw * bh / image_area)]] += 1
                if bw * scale <= 1 or bh * scale <= 1:
                    r.too_small_boxes += 1
                    ls.too_small += 1


@dataclass(slots=True)
class Stats:
    """Statistics of a training manifest and, optionally, its test manifest, with the flags they raise."""

    train: ManifestStats
    test: ManifestStats | None = None
    flags: list[Flag] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Every label of either manifest, sorted."""
        names = set(self.train.labels)
        if self.test is not None:
            names.update(self.test.labels)
        return sorted(names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train.to_dict(),
            "test": self.test.to_dict() if self.test is not None else None,
            "flags": [f.to_dict() for f in self.flags],
            "thresholds": {"min_images_per_label": MIN_IMAGES_PER_LABEL, "imbalance_ratio": IMBALANCE_RATIO,
                           "small_box_share": SMALL_BOX_SHARE},
        }


def manifest_stats(path: str | os.PathLike[str], *, progress: Progress | None = None) -> ManifestStats:
    """The statistics of one manifest, in one streaming pass. Unreadable lines are counted, not fatal."""
    ds = read_manifest(path, skip_invalid=True)
    acc = StatsAccumulator(os.fspath(path), ds.task.value)
    pending = 0
    for item in ds:
        acc.add(item)
        pending += 1
        if progress is not None and pending >= _PROGRESS_EVERY:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    note = ds.summary.notes.get("ERROR_INVALID_JSON_LINE")
    acc.result.invalid_lines = note.count if note else 0
    return acc.result


def stats(manifest: str | os.PathLike[str], *, test: str | os.PathLike[str] | None = None,
          progress: Progress | None = None) -> Stats:
    """Statistics of ``manifest`` (and of ``test`` side by side), with flags. Streams; memory ~ labels.

    Raises ManifestError when a manifest cannot be opened.
    """
    train = manifest_stats(manifest, progress=progress)
    test_stats = manifest_stats(test, progress=progress) if test is not None else None
    return Stats(train, test_stats, compute_flags(train, test_stats))


def compute_flags(train: ManifestStats, test: ManifestStats | None = None) -> list[Flag]:
    """The flags raised by the statistics of a manifest pair (see the module docstring)."""
    flags: list[Flag] = []
    for name, part in (("train", train), ("test", test)):
        if part is None:
            continue
        if name == "train":
            for lab in sorted(part.labels):
                n = part.labels[lab].images
                if n < MIN_IMAGES_PER_LABEL:
                    flags.append(Flag("MK_FEW_IMAGES", "warning",
                                      f"label {lab!r} has {n} training image{'s' if n != 1 else ''}; Rekognition "
                                      f"recommends at least {MIN_IMAGES_PER_LABEL}: add images",
                                      name, lab))
        if part.too_small_boxes:
            flags.append(Flag("MK_TINY_BOXES", "error",
                              f"{part.too_small_boxes} box(es) are too small: Rekognition drops them as "
                              "ERROR_BOUNDING_BOX_TOO_SMALL (1 px or less after scaling to 1280 px); "
                              "redraw or remove them", name))
        sized = sum(part.box_area.values())
        small = sum(v for k, v in part.box_area.items() if k.startswith(("tiny", "small")))
        if sized and small / sized >= SMALL_BOX_SHARE:
            flags.append(Flag("MK_SMALL_BOXES", "info",
                              f"{small} of {sized} boxes ({100 * small / sized:.0f} %) cover less than 1 % of "
                              "their image: small objects are hard to detect; consider higher-resolution "
                              "images or crops", name))
        counts = [(part.labels[k].images, k) for k in part.labels if part.labels[k].images > 0]
        if len(counts) >= 2:
            lo, hi = min(counts), max(counts)
            if hi[0] / lo[0] > IMBALANCE_RATIO:
                flags.append(Flag("MK_LABEL_IMBALANCE", "warning",
                                  f"labels are imbalanced: {hi[1]!r} has {hi[0]} images, {lo[1]!r} only {lo[0]} "
                                  f"(more than {IMBALANCE_RATIO:g}x); add images of the small labels", name))
    if test is not None:
        for lab in sorted(set(test.labels) - set(train.labels)):
            flags.append(Flag("MK_LABEL_ONLY_IN_TEST", "warning",
                              f"label {lab!r} is in the test manifest but not in training: the model cannot "
                              "learn it", "test", lab))
        for lab in sorted(set(train.labels) - set(test.labels)):
            flags.append(Flag("MK_LABEL_NOT_IN_TEST", "info",
                              f"label {lab!r} has no test image: its accuracy will not be measured",
                              "test", lab))
    return flags
