"""The validator never crashes, reports every broken line, and finds nothing in what the converter writes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linegen import any_line
from manifestkit import validate
from manifestkit.manifest import write_manifest
from manifestkit.model import Box, Dataset, ImageItem, Task, box_too_small
from manifestkit.validation.lines import VALID, check_line

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)
json_objects = st.dictionaries(st.sampled_from(["source-ref", "bounding-box", "bounding-box-metadata", "label",
                                                "label-metadata", "errors"]) | st.text(max_size=10),
                               json_values, max_size=6)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])


def assert_reported(raw: bytes) -> None:
    r = check_line(raw, 1, "m.manifest")
    assert r.status == VALID or r.findings, raw[:200]
    for f in r.findings or ():
        assert f.code and f.message and f.line == 1 and f.severity in ("error", "warning", "info")


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_reported(raw.replace(b"\n", b""))


@SETTINGS
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    assert_reported(json.dumps(value).encode())


@SETTINGS
@given(json_objects)
def test_arbitrary_json_objects(value: dict[str, Any]) -> None:
    assert_reported(json.dumps(value).encode())


@SETTINGS
@given(any_line)
def test_mutated_valid_lines(value: dict[str, Any]) -> None:
    assert_reported(json.dumps(value).encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80) | any_line.map(lambda o: json.dumps(o).encode()), max_size=12))
def test_whole_files_never_raise_and_count_every_line(lines: list[bytes]) -> None:
    data = b"\n".join(x.replace(b"\n", b"") for x in lines)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.manifest"
        p.write_bytes(data)
        r = validate(p)
        m = r.manifests[0]
        expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        assert m.total_lines == expected
        assert m.valid_lines + m.invalid_lines + m.ignored_lines == m.total_lines
        flagged = {f.line for f in r.findings if f.line is not None}
        assert set(m.error_line_indices) <= flagged
        assert r.verdict in ("clean", "would_train", "would_fail")


@st.composite
def detection_items(draw: Any) -> ImageItem:
    w, h = draw(st.integers(64, 4096)), draw(st.integers(64, 4096))
    boxes = []
    for _ in range(draw(st.integers(1, 50))):
        left, top = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
        bw, bh = draw(st.integers(1, w - left)), draw(st.integers(1, h - top))
        if box_too_small(bw, bh, w, h):
            continue
        boxes.append(Box(draw(st.sampled_from(["cat", "dog", "sweet pea", "é"])), left, top, bw, bh))
    return ImageItem(path=draw(st.from_regex(r"[a-z0-9/ ._-]{1,20}", fullmatch=True)).strip("/") or "x",
                     width=w, height=h, boxes=tuple(boxes))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(detection_items(), min_size=1, max_size=8), st.booleans())
def test_converter_output_has_no_line_findings(items: list[ImageItem], detection: bool) -> None:
    seen: set[str] = set()
    unique = []
    for it in items:
        if it.path not in seen and it.boxes:  # the converter leaves out box images without boxes
            seen.add(it.path)
            unique.append(it if detection else ImageItem(path=it.path, labels=tuple(b.label for b in it.boxes[:3])))
    classes = {"cat": 0, "dog": 1, "sweet pea": 2, "é": 3}
    ds = Dataset(Task.DETECTION if detection else Task.CLASSIFICATION, unique, classes)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.manifest"
        write_manifest(ds, out, s3_prefix="s3://bkt/prefix/", creation_date_value="2024-05-01T00:00:00")
        r = validate(out)
        assert [f for f in r.findings if f.line is not None] == []
        assert r.manifests[0].invalid_lines == 0
