"""Builders of manifest lines for the validator tests (Rekognition's documented shapes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DATE = "2024-05-01T12:00:00.000000"


def det_line(ref: str = "s3://bkt/img/a.jpg", boxes: list[tuple[Any, ...]] | None = None, *, width: Any = 640,
             height: Any = 480, attr: str = "bounding-box", labels: dict[int, str] | None = None,
             human: str = "yes") -> dict[str, Any]:
    """An object-detection line; ``boxes`` are (class_id, left, top, width, height)."""
    if boxes is None:
        boxes = [(0, 10, 20, 100, 80)]
    labels = labels if labels is not None else {0: "cat", 1: "dog", 2: "bird"}
    anns = [{"class_id": c, "left": l, "top": t, "width": w, "height": h} for c, l, t, w, h in boxes]
    used = sorted({int(b[0]) for b in boxes})
    return {
        "source-ref": ref,
        attr: {"image_size": [{"width": width, "height": height, "depth": 3}], "annotations": anns},
        attr + "-metadata": {
            "objects": [{"confidence": 1} for _ in anns],
            "class-map": {str(c): labels.get(c, f"class{c}") for c in used},
            "type": "groundtruth/object-detection",
            "human-annotated": human,
            "creation-date": DATE,
            "job-name": "test",
        },
    }


def cls_line(ref: str = "s3://bkt/img/a.jpg", *labels: str, attr: str = "label") -> dict[str, Any]:
    """An image-level line with one classification pair per label (Rekognition's multi-label form)."""
    line: dict[str, Any] = {"source-ref": ref}
    for i, lab in enumerate(labels or ("cat",)):
        name = attr if i == 0 else f"{attr}-{i}"
        line[name] = i
        line[name + "-metadata"] = {"class-name": lab, "confidence": 1, "type": "groundtruth/image-classification",
                                    "human-annotated": "yes", "creation-date": DATE, "job-name": "test"}
    return line


def write_lines(path: str | os.PathLike[str], lines: list[Any], *, raw: bool = False) -> Path:
    """Write lines (dicts as compact JSON, or raw strings/bytes with ``raw``) one per line."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as fp:
        for line in lines:
            if isinstance(line, bytes):
                fp.write(line + b"\n")
            elif isinstance(line, str):
                fp.write(line.encode("utf-8") + b"\n")
            else:
                fp.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")
    return p


def codes(report: Any, line: int | None = None) -> list[str]:
    """The finding codes of a report (of one line when given), in report order."""
    return [f.code for f in report.findings if line is None or f.line == line]
