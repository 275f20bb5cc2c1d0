"""Rekognition dataset entries (``ListDatasetEntries``) back into a manifest.

Accepted input: JSON Lines with one entry per line (as ``manifestkit`` or a script saves them), lines that
are JSON *strings* holding an entry, or the JSON the AWS CLI prints (``{"DatasetEntries": ["...", ...]}``,
pages concatenated or one per line).

Rekognition adds keys to the entries it hands back: ``cl-metadata`` (``is_labeled``), ``cl-errors`` (line
level and inside attribute metadata), ``errors``/``warnings`` (line, attribute and annotation level). They
are removed. An entry with ``is_labeled: false`` is left out (``MK_UNLABELLED_ENTRY``); an entry with
line-level errors is one Rekognition excluded from training and is left out too
(``MK_ENTRY_HAS_ERRORS``) unless ``keep_errors``; an attribute or a box carrying errors is dropped (Rekognition
dropped it). The rest follows the Ground Truth rules (:mod:`manifestkit.sources.groundtruth`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from ..errors import SourceError
from ..model import Dataset, ImageItem, Summary
from ._shared import check_policy
from .groundtruth import LineReader, read_lines

__all__ = ["read_entries"]

Progress = Callable[[int], None]
_decode = msgspec.json.Decoder().decode
_SERVICE_KEYS = ("cl-metadata", "cl-errors", "errors", "warnings")


def _entries(path: str, summary: Summary, skip_invalid: bool) -> Iterator[tuple[int, Any]]:
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except OSError as e:
        raise SourceError(f"cannot open ({e.strerror or e})", path=path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    stripped = data.strip()
    # The AWS CLI's pretty-printed output spans lines: one JSON document with DatasetEntries.
    if stripped.startswith(b"{") and b'"DatasetEntries"' in stripped[:200] and b"\n" in stripped:
        try:
            doc = _decode(stripped)
        except msgspec.DecodeError:
            doc = None
        if isinstance(doc, dict):
            for i, entry in enumerate(doc.get("DatasetEntries") or [], 1):
                yield i, entry
            return
    entry_no = 0
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = _decode(raw)
        except msgspec.DecodeError as e:
            if not skip_invalid:
                raise SourceError(f"invalid JSON ({e}); fix the line or pass --skip-invalid", path=path,
                                  item=f"line {n}") from None
            summary.note("ERROR_INVALID_JSON_LINE", "line that is not JSON skipped (--skip-invalid)", f"line {n}",
                         severity="error")
            continue
        if isinstance(obj, dict) and "DatasetEntries" in obj and "source-ref" not in obj:
            for entry in obj.get("DatasetEntries") or []:
                entry_no += 1
                yield entry_no, entry
            continue
        entry_no += 1
        yield entry_no, obj


def _prepare(keep_errors: bool) -> Callable[[int, Any, Summary], Any]:
    def prepare(n: int, obj: Any, summary: Summary) -> Any:
        where = f"entry {n}"
        if isinstance(obj, str):
            try:
                obj = _decode(obj)
            except msgspec.DecodeError:
                summary.note("ERROR_INVALID_JSON_LINE", "entry that is not JSON skipped", where, severity="error")
                return None
        if not isinstance(obj, dict):
            return obj
        meta = obj.get("cl-metadata")
        if isinstance(meta, dict) and meta.get("is_labeled") is False:
            summary.note("MK_UNLABELLED_ENTRY", "entry marked is_labeled: false left out", where)
            return {}
        if (obj.get("cl-errors") or obj.get("errors")) and not keep_errors:
            codes = [e.get("code", "?") for e in (obj.get("cl-errors") or obj.get("errors") or [])
                     if isinstance(e, dict)]
            summary.note("MK_ENTRY_HAS_ERRORS", "entry Rekognition excluded for errors left out "
                         "(--keep-errors keeps what is usable)", f"{where} ({', '.join(codes)})")
            return {}
        return {k: v for k, v in obj.items() if k not in _SERVICE_KEYS}
    return prepare


class _EntryReader(LineReader):
    """Ground Truth rules, except that an empty (already reported) entry is skipped quietly."""

    def item(self, obj: Any, n: int) -> ImageItem | None:
        if obj is None or obj == {}:
            return None
        return super().item(obj, n)


def read_entries(path: str | os.PathLike[str], *, keep_errors: bool = False, bad_boxes: str = "clip",
                 skip_invalid: bool = False, progress: Progress | None = None) -> Dataset:
    """Read saved ``ListDatasetEntries`` output into a :class:`Dataset` (service keys removed)."""
    check_policy(bad_boxes)
    p = os.fspath(path)
    return read_lines(p, lambda s, t: _EntryReader(s, bad_boxes=bad_boxes, task=t), _prepare(keep_errors),
                      skip_invalid=skip_invalid, progress=progress,
                      lines=lambda path_, s: _entries(path_, s, skip_invalid))
