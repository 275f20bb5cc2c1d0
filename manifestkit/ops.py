"""Dataset operations on manifests: convert any registered source, merge, relabel, filter.

Every operation streams its input manifests (two or three passes, never the whole file in memory, except
the set of ``source-ref`` strings that duplicate detection needs and the ``sample`` reservoir) and writes
its output through :func:`manifest.atomic_writer`, so a failed run leaves no half-written file.

Output lines are written in Rekognition's form by :func:`manifest.item_to_line`. Labels are numbered
0..N-1 in sorted label order in the output (decisions.md), except by ``convert`` for sources that carry
their own ids (YOLO, Ground Truth box jobs).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .errors import ManifestKitError
from .manifest import read_manifest, write_manifest
from .model import Dataset, ImageItem, Summary, Task
from .sources._shared import Reiterable

__all__ = ["convert_source", "filter_manifest", "merge_manifests", "relabel_manifest", "write_dataset"]

Progress = Callable[[int], None]


def write_dataset(dataset: Dataset, path: str | os.PathLike[str], *, s3_prefix: str | None = None,
                  label_attribute: str | None = None, creation_date_value: str | _dt.datetime | None = None,
                  progress: Progress | None = None, duplicates: str = "error",
                  summary: Summary | None = None) -> Summary:
    """Write ``dataset`` as a manifest at ``path``: :func:`manifest.write_manifest` under its older name."""
    return write_manifest(dataset, path, s3_prefix=s3_prefix, label_attribute=label_attribute,
                          creation_date_value=creation_date_value, progress=progress, duplicates=duplicates,
                          summary=summary)


def convert_source(fmt: str, source: str | os.PathLike[str], output: str | os.PathLike[str], *,
                   s3_prefix: str | None = None, label_attribute: str | None = None,
                   creation_date: str | _dt.datetime | None = None, progress: Progress | None = None,
                   **options: Any) -> Summary:
    """Convert ``source`` read by the registered reader ``fmt`` (voc, yolo, csv, groundtruth, entries,
    coco, folders) into a manifest. ``options`` go to the reader. Returns the conversion summary."""
    from .sources import READERS

    reader = READERS.get(fmt)
    if reader is None:
        raise ManifestKitError(f"unknown source format {fmt!r}; one of: {', '.join(sorted(READERS))}")
    if fmt == "coco":
        ds = reader(source, options.pop("images", None), **options)
    else:
        ds = reader(source, **options)
    # A job output or a saved entry list can repeat an image: report and keep the first line. For sources
    # read from a folder two items with one key are a naming clash, an error (decisions.md).
    duplicates = "skip" if fmt in ("groundtruth", "entries") else "error"
    return write_dataset(ds, output, s3_prefix=s3_prefix, label_attribute=label_attribute,
                         creation_date_value=creation_date, progress=progress, duplicates=duplicates)


# ------------------------------------------------------------------------------------------- helpers

def _as_sorted_classes(labels: Iterable[str]) -> dict[str, int]:
    return {label: i for i, label in enumerate(sorted(set(labels)))}


def _strip_ids(item: ImageItem) -> ImageItem:
    """The item with box class ids cleared, so the writer numbers them from the dataset's classes."""
    if not item.boxes:
        return item
    return dataclasses.replace(item, boxes=tuple(dataclasses.replace(b, class_id=None) for b in item.boxes))


def _where(item: ImageItem, name: str) -> str:
    return f"{name}:{item.line}" if item.line is not None else name


def _copy_notes(src: Summary, dst: Summary) -> None:
    """Carry the reader's notes of one pass over (copies: later passes count into the originals again)."""
    for code, note in src.notes.items():
        dst.notes[code] = dataclasses.replace(note, examples=list(note.examples))


def _read(path: str | os.PathLike[str], skip_invalid: bool) -> Dataset:
    return read_manifest(path, skip_invalid=skip_invalid)


# --------------------------------------------------------------------------------------------- merge

def merge_manifests(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
                    label_attribute: str | None = None, creation_date: str | _dt.datetime | None = None,
                    skip_invalid: bool = False, progress: Progress | None = None) -> Summary:
    """Merge manifests into one: labels unified by name and renumbered 0..N-1 in sorted order; a
    ``source-ref`` already written is reported (``MK_DUPLICATE_SOURCE_REF``) and its later lines left out.

    All inputs must train the same task (image labels or boxes).
    """
    if len(inputs) < 2:
        raise ManifestKitError("merge needs at least two manifests")
    datasets = [_read(p, skip_invalid) for p in inputs]
    tasks = {ds.task for ds in datasets}
    if len(tasks) > 1:
        kinds = ", ".join(f"{os.fspath(p)}: {ds.task.value}" for p, ds in zip(inputs, datasets))
        raise ManifestKitError(f"cannot merge image-label and box manifests ({kinds}); Rekognition trains one "
                               "task per project")
    labels: set[str] = set()
    counts: list[int] = []
    for ds in datasets:
        n = 0
        for item in ds:
            labels.update(item.all_labels)
            n += 1
        counts.append(n)
    summary = Summary(source=" + ".join(os.fspath(p) for p in inputs), task=datasets[0].task.value)
    for p, ds, n in zip(inputs, datasets, counts):
        for code, note in ds.summary.notes.items():
            summary.note(code, note.message, os.fspath(p), severity=note.severity, count=note.count)
        summary.note("MK_MERGED_INPUT", "lines read from an input manifest", f"{os.fspath(p)} ({n})",
                     severity="info", count=n)

    def items() -> Iterator[ImageItem]:
        for p, ds in zip(inputs, datasets):
            name = os.path.basename(os.fspath(p))
            for item in ds:
                yield dataclasses.replace(_strip_ids(item), source_id=_where(item, name))

    merged = Dataset(task=datasets[0].task, items=Reiterable(items), classes=_as_sorted_classes(labels),
                     summary=summary)
    return write_dataset(merged, output, label_attribute=label_attribute, creation_date_value=creation_date,
                         progress=progress, duplicates="skip")


# ------------------------------------------------------------------------------------------- relabel

def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["old=new", ...]`` into a dict; raises ManifestKitError on a malformed pair."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise ManifestKitError(f"invalid mapping {pair!r}: write OLD=NEW")
        if len(new) > 255:
            raise ManifestKitError(f"label {new[:40]!r}... is longer than 255 characters")
        if old in out and out[old] != new:
            raise ManifestKitError(f"label {old!r} is mapped twice ({out[old]!r} and {new!r})")
        out[old] = new
    return out


def _relabel_item(item: ImageItem, mapping: dict[str, str], drop: frozenset[str]) -> ImageItem:
    labels: list[str] = []
    for lab in item.labels:
        if lab in drop:
            continue
        new = mapping.get(lab, lab)
        if new not in labels:
            labels.append(new)
    boxes = tuple(dataclasses.replace(b, label=mapping.get(b.label, b.label), class_id=None)
                  for b in item.boxes if b.label not in drop)
    return dataclasses.replace(item, labels=tuple(labels), boxes=boxes)


def relabel_manifest(manifest: str | os.PathLike[str], output: str | os.PathLike[str], *,
                     mapping: dict[str, str] | None = None, drop: Iterable[str] = (),
                     label_attribute: str | None = None, creation_date: str | _dt.datetime | None = None,
                     skip_invalid: bool = False, progress: Progress | None = None) -> Summary:
    """Rename labels (``mapping`` old -> new; two old names may become one) and remove the ``drop`` labels.

    Images left without any label or box are left out and reported. Labels are renumbered 0..N-1.
    """
    mapping = dict(mapping or {})
    dropped = frozenset(drop)
    both = sorted(dropped & set(mapping))
    if both:
        raise ManifestKitError(f"label(s) both renamed and dropped: {', '.join(both)}")
    if not mapping and not dropped:
        raise ManifestKitError("nothing to do: give --map OLD=NEW and/or --drop LABEL")
    ds = _read(manifest, skip_invalid)
    seen: set[str] = set()
    labels: set[str] = set()
    for item in ds:
        seen.update(item.all_labels)
        labels.update(_relabel_item(item, mapping, dropped).all_labels)
    summary = Summary(source=os.fspath(manifest), task=ds.task.value)
    _copy_notes(ds.summary, summary)
    for old in sorted((set(mapping) | dropped) - seen):
        summary.note("MK_LABEL_NOT_FOUND", "label to rename or drop does not occur in the manifest", old)
    for old, new in sorted(mapping.items()):
        if old in seen:
            summary.note("MK_LABEL_RENAMED", "label renamed", f"{old} -> {new}", severity="info")
    name = os.path.basename(os.fspath(manifest))

    def items() -> Iterator[ImageItem]:
        for item in ds:
            new = _relabel_item(item, mapping, dropped)
            removed = len(item.boxes) - len(new.boxes)
            if removed:
                summary.note("MK_BOX_DROPPED_BY_LABEL", "box of a dropped label removed", _where(item, name),
                             severity="info", count=removed)
            if not new.labels and not new.boxes:
                summary.note("MK_IMAGE_EMPTIED", "image left without labels or boxes was not written",
                             _where(item, name))
                continue
            yield dataclasses.replace(new, source_id=_where(item, name))

    out = Dataset(task=ds.task, items=Reiterable(items), classes=_as_sorted_classes(labels), summary=summary)
    return write_dataset(out, output, label_attribute=label_attribute, creation_date_value=creation_date,
                         progress=progress)


# -------------------------------------------------------------------------------------------- filter

def _filter_item(item: ImageItem, keep: frozenset[str] | None, min_boxes: int, task: Task) -> ImageItem | None:
    if keep is not None:
        item = dataclasses.replace(item, labels=tuple(x for x in item.labels if x in keep),
                                   boxes=tuple(b for b in item.boxes if b.label in keep))
    if task is Task.DETECTION and len(item.boxes) < max(min_boxes, 1 if keep is not None else 0):
        return None
    if task is Task.CLASSIFICATION and not item.labels:
        return None
    return item


def filter_manifest(manifest: str | os.PathLike[str], output: str | os.PathLike[str], *,
                    labels: Iterable[str] | None = None, min_boxes: int = 0, sample: int | None = None,
                    seed: int = 0, label_attribute: str | None = None,
                    creation_date: str | _dt.datetime | None = None, skip_invalid: bool = False,
                    progress: Progress | None = None) -> Summary:
    """Keep part of a manifest: only the given ``labels`` (others removed from each line; lines left empty
    are dropped), only images with at least ``min_boxes`` boxes, then a random ``sample`` of that many
    images (same ``seed``, same sample). Line order is kept; labels are renumbered 0..N-1.
    """
    if min_boxes < 0:
        raise ManifestKitError("--min-boxes must be 0 or more")
    if sample is not None and sample < 1:
        raise ManifestKitError("--sample must be 1 or more")
    keep = frozenset(labels) if labels else None
    ds = _read(manifest, skip_invalid)
    if min_boxes and ds.task is not Task.DETECTION:
        raise ManifestKitError("--min-boxes applies to box (object-detection) manifests only")
    total = eligible = 0
    for item in ds:
        total += 1
        if _filter_item(item, keep, min_boxes, ds.task) is not None:
            eligible += 1
    chosen: set[int] | None = None
    if sample is not None and sample < eligible:
        chosen = set(random.Random(seed).sample(range(eligible), sample))
    summary = Summary(source=os.fspath(manifest), task=ds.task.value)
    _copy_notes(ds.summary, summary)
    if keep is not None:
        missing = sorted(keep - set(ds.classes))
        for lab in missing:
            summary.note("MK_LABEL_NOT_FOUND", "label to keep does not occur in the manifest", lab)
    left_out = total - (len(chosen) if chosen is not None else eligible)
    if left_out:
        summary.note("MK_FILTERED_OUT", "images left out by the filter", None, severity="info", count=left_out)

    def selected() -> Iterator[ImageItem]:
        idx = 0
        for item in ds:
            kept = _filter_item(item, keep, min_boxes, ds.task)
            if kept is None:
                continue
            if chosen is None or idx in chosen:
                yield _strip_ids(kept)
            idx += 1

    names = _as_sorted_classes(lab for item in selected() for lab in item.all_labels)
    out = Dataset(task=ds.task, items=Reiterable(selected), classes=names, summary=summary)
    return write_dataset(out, output, label_attribute=label_attribute, creation_date_value=creation_date,
                         progress=progress)
