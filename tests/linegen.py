"""Hypothesis strategies for manifest lines: valid lines of both kinds, and mutations of them."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

DET = "groundtruth/object-detection"
CLS = "groundtruth/image-classification"

refs = st.builds(lambda b, k: f"s3://{b}/{k}", st.from_regex(r"[a-z0-9][a-z0-9.\-_]{2,12}", fullmatch=True),
                 st.from_regex(r"[A-Za-z0-9_ ./\-]{1,16}", fullmatch=True))
attr_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in ("cl", "errors",
                                                                                               "warnings"))
labels = st.text(min_size=1, max_size=12)
dates = st.sampled_from(["2024-05-01T12:00:00", "2013-11-18 02:53:27", "2021-06-22T10:11:18.006Z"])
numbers = st.one_of(st.integers(-10, 3000), st.floats(-10, 3000, allow_nan=False, allow_infinity=False))


def _meta_common(draw: Any) -> dict[str, Any]:
    m = {"human-annotated": draw(st.sampled_from(["yes", "no"])), "creation-date": draw(dates)}
    if draw(st.booleans()):
        m["job-name"] = draw(st.text(max_size=10))
    return m


@st.composite
def cls_lines(draw: Any) -> dict[str, Any]:
    """A valid image-level line: 1-3 classification pairs."""
    line: dict[str, Any] = {"source-ref": draw(refs)}
    for name in draw(st.lists(attr_names, min_size=1, max_size=3, unique=True)):
        line[name] = draw(st.integers(-5, 10**6))
        line[name + "-metadata"] = {"class-name": draw(labels), "confidence": draw(st.floats(0, 1)), "type": CLS,
                                    **_meta_common(draw)}
    return line


@st.composite
def det_lines(draw: Any) -> dict[str, Any]:
    """A line with valid shape for object detection: 1-2 detection pairs (boxes may be off-frame)."""
    line: dict[str, Any] = {"source-ref": draw(refs)}
    for name in draw(st.lists(attr_names, min_size=1, max_size=2, unique=True)):
        ids = draw(st.lists(st.integers(0, 20), min_size=1, max_size=4, unique=True))
        anns = [{"class_id": draw(st.sampled_from(ids)), "left": draw(numbers), "top": draw(numbers),
                 "width": draw(numbers), "height": draw(numbers)} for _ in range(draw(st.integers(0, 4)))]
        size = {"width": draw(st.integers(1, 5000) | st.floats(0.5, 5000)),
                "height": draw(st.integers(1, 5000) | st.floats(0.5, 5000)), "depth": draw(st.integers(1, 4))}
        line[name] = {"image_size": [size], "annotations": anns}
        line[name + "-metadata"] = {"objects": [{"confidence": draw(st.floats(0, 1))} for _ in anns],
                                    "class-map": {str(i): draw(labels) for i in ids}, "type": DET,
                                    **_meta_common(draw)}
    return line


INTERESTING = [None, True, False, 0, -1, 1, 2.5, 1.0, 3.0, 10**20, "", "x", "yes", "no", "x" * 300, [], [{}],
               {}, {"confidence": 1}, {"width": 1, "height": 1, "depth": 3}, "s3://bkt/k.jpg", "s3://b/k",
               CLS, DET, "groundtruth/image-classification-multilabel", "01", "7", -0.5, 1.5]
NEW_KEYS = ["foo", "x-metadata", "errors", "warnings", "cl-metadata", "cl-errors", "source-ref", "type",
            "confidence", "class-name", "class-map", "objects", "annotations", "image_size", "width", "left",
            "class_id", "depth", "job-name", "human-annotated", "creation-date", "bounding-box",
            "bounding-box-metadata", "0", "01", "x" * 3]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


@st.composite
def mutated(draw: Any, base: Any) -> dict[str, Any]:
    """A valid line after 1-3 random mutations: delete, replace, add or rename a key, or change a value."""
    obj = copy.deepcopy(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(obj)))
        target = _get(obj, path)
        op = draw(st.sampled_from(["replace", "delete", "add", "rename", "append"]))
        if not path:
            op = "add"
        if op == "replace":
            parent = _get(obj, path[:-1])
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(INTERESTING)))
        elif op == "delete":
            parent = _get(obj, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op == "add" and isinstance(target, dict):
            target[draw(st.sampled_from(NEW_KEYS))] = copy.deepcopy(draw(st.sampled_from(INTERESTING)))
        elif op == "rename" and path and isinstance(_get(obj, path[:-1]), dict):
            parent = _get(obj, path[:-1])
            parent[draw(st.sampled_from(NEW_KEYS))] = parent.pop(path[-1])
        elif op == "append" and isinstance(target, list):
            target.append(copy.deepcopy(draw(st.sampled_from(INTERESTING))))
    return obj


any_line = st.one_of(cls_lines(), det_lines(), mutated(cls_lines()), mutated(det_lines()))
