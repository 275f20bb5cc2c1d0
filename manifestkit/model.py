"""The dataset model every reader produces and every writer consumes.

Coordinates are absolute pixels in the stored image, origin top-left, as Ground Truth writes them::

    (0,0) ------------------> x
      |   left
      |   +---------+ top
      |   |  box    | height
      |   +---------+
      |     width
      v y

Readers convert their own coordinate forms (COCO x/y/w/h, YOLO centres, VOC corners) at the edge, and
round and clip with :func:`normalize_box` so that the writer only has to serialise.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Batched",
    "Box",
    "Dataset",
    "ImageItem",
    "Note",
    "Summary",
    "Task",
    "box_too_small",
    "normalize_box",
    "round_half_up",
]


class Task(str, enum.Enum):
    """What a manifest trains: image-level labels or bounding boxes."""

    CLASSIFICATION = "classification"
    DETECTION = "detection"


@dataclass(frozen=True, slots=True)
class Box:
    """One bounding box, absolute pixels. ``class_id`` is the source's id when it has one (COCO)."""

    label: str
    left: float
    top: float
    width: float
    height: float
    class_id: int | None = None
    confidence: float = 1.0

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One image: where it is, how big it really is, and its labels.

    ``path`` is relative to the dataset root with ``/`` separators (the part appended to the S3 prefix).
    ``width``/``height`` are the stored pixel size (from the file header when the image was at hand).
    ``orientation`` is the EXIF orientation tag (1 = upright; 5-8 swap the displayed width and height).
    ``labels`` are image-level labels in order; ``boxes`` the detection boxes. ``source_ref`` is set for
    items read back from a manifest, ``line`` is their 1-based manifest line.
    """

    path: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    labels: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    depth: int = 3
    orientation: int = 1
    source_ref: str | None = None
    line: int | None = None
    source_id: str | None = None

    @property
    def all_labels(self) -> tuple[str, ...]:
        """Image-level labels and box labels, each once, in first-seen order."""
        seen: dict[str, None] = dict.fromkeys(self.labels)
        for b in self.boxes:
            seen.setdefault(b.label, None)
        return tuple(seen)


@dataclass(slots=True)
class Note:
    """A counted event of a conversion (or a finding class): how often, and the first few places."""

    code: str
    severity: str
    message: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "count": self.count,
                "examples": list(self.examples)}


@dataclass(slots=True)
class Summary:
    """What a conversion did: counts written, and every skipped, clipped, dropped or rounded item.

    ``note()`` counts an event under its code and keeps the first ``max_examples`` places, so memory
    stays flat on datasets with a million boxes.
    """

    source: str = ""
    task: str = ""
    images: int = 0
    boxes: int = 0
    # Counters: update() counts a list in C, which matters at a million boxes.
    labels: Counter[str] = field(default_factory=Counter)
    boxes_per_label: Counter[str] = field(default_factory=Counter)
    notes: dict[str, Note] = field(default_factory=dict)
    output: str | None = None
    max_examples: int = 5

    def note(self, code: str, message: str, where: str | None = None, *, severity: str = "warning",
             count: int = 1) -> None:
        n = self.notes.get(code)
        if n is None:
            n = self.notes[code] = Note(code, severity, message)
        n.count += count
        if where is not None and len(n.examples) < self.max_examples:
            n.examples.append(where)

    def count_item(self, item: ImageItem) -> None:
        """Count an item that was written."""
        self.count_boxes(item.labels, [b.label for b in item.boxes])

    def count_many(self, images: int, image_labels: Iterable[str], box_labels: Sequence[str]) -> None:
        """Count ``images`` written images at once: each image's distinct labels, each box's label."""
        self.images += images
        self.labels.update(image_labels)
        self.boxes += len(box_labels)
        self.boxes_per_label.update(box_labels)

    def count_boxes(self, labels: Sequence[str], box_labels: Sequence[str]) -> None:
        """Count a written image from its image-level labels and the label of each of its boxes."""
        self.images += 1
        if box_labels:
            self.boxes += len(box_labels)
            self.boxes_per_label.update(box_labels)
            self.labels.update(dict.fromkeys([*labels, *box_labels]).keys())
        else:
            self.labels.update(dict.fromkeys(labels).keys())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "task": self.task,
            "output": self.output,
            "images": self.images,
            "boxes": self.boxes,
            "labels": {k: self.labels[k] for k in sorted(self.labels)},
            "boxes_per_label": {k: self.boxes_per_label[k] for k in sorted(self.boxes_per_label)},
            "notes": [self.notes[k].to_dict() for k in sorted(self.notes)],
        }


@dataclass(slots=True)
class Dataset:
    """A labelled dataset: its task, its items (a list, or a one-pass iterator), and its classes.

    ``classes`` maps each label name to its ``class_id``. ``summary`` collects what the reader skipped or
    changed; the writer adds what it wrote. ``root`` is the folder the item paths are relative to.
    """

    task: Task
    items: Iterable[ImageItem]
    classes: dict[str, int]
    summary: Summary = field(default_factory=Summary)
    root: str | None = None

    def __iter__(self) -> Iterator[ImageItem]:
        return iter(self.items)


class Batched:
    """Calls ``progress(n)`` once per ``every`` ticks rather than per item: a tqdm update costs more than
    the per-item work of a fast loop. Call ``flush()`` at the end for the remainder."""

    __slots__ = ("_progress", "_every", "_pending")

    def __init__(self, progress: Callable[[int], None] | None, every: int = 1000) -> None:
        self._progress = progress
        self._every = every
        self._pending = 0

    def __call__(self, n: int = 1) -> None:
        if self._progress is None:
            return
        self._pending += n
        if self._pending >= self._every:
            self._progress(self._pending)
            self._pending = 0

    def flush(self) -> None:
        if self._progress is not None and self._pending:
            self._progress(self._pending)
            self._pending = 0


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves away from minus infinity (no banker's rounding)."""
    return math.floor(x + 0.5)


def box_too_small(width: float, height: float, image_width: int, image_height: int) -> bool:
    """Rekognition's ``ERROR_BOUNDING_BOX_TOO_SMALL`` after its 1280 px downscale (decisions.md)."""
    longest = max(image_width, image_height)
    s = min(1.0, 1280.0 / longest) if longest > 0 else 1.0
    return width * s <= 1 or height * s <= 1


def normalize_box(left: float, top: float, width: float, height: float, image_width: int,
                  image_height: int) -> tuple[tuple[int, int, int, int], bool, bool]:
    """Round each edge to the nearest pixel, then clip to the image.

    Returns ``((left, top, width, height), rounded, clipped)``: ``rounded`` when any input was not
    already an integer, ``clipped`` when an edge lay outside the image. The result may be empty
    (width or height <= 0): the caller decides to drop it.
    """
    x0, y0 = round_half_up(left), round_half_up(top)
    x1, y1 = round_half_up(left + width), round_half_up(top + height)
    rounded = not (float(left).is_integer() and float(top).is_integer() and float(width).is_integer()
                   and float(height).is_integer())
    cx0, cy0 = min(max(x0, 0), image_width), min(max(y0, 0), image_height)
    cx1, cy1 = min(max(x1, 0), image_width), min(max(y1, 0), image_height)
    clipped = (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
    return (cx0, cy0, cx1 - cx0, cy1 - cy0), rounded, clipped
