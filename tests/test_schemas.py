"""The schemas are the contract; the fast path agrees with them (differential test)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from linegen import CLS, DET, cls_lines, det_lines, mutated
from manifestkit import schemas
from manifestkit.validation.lines import check_line
from validate_helpers import cls_line, det_line


def test_schemas_load_and_are_valid_draft_2020_12() -> None:
    for kind in (schemas.CLASSIFICATION, schemas.DETECTION):
        s = schemas.load_schema(kind)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(s)
        assert schemas.validator(kind).is_valid(det_line() if kind == schemas.DETECTION else cls_line())


def test_fast_path_reads_its_patterns_from_the_schemas() -> None:
    for where in ("source-ref", "metadata-key"):
        assert schemas.pattern(schemas.CLASSIFICATION, where) == schemas.pattern(schemas.DETECTION, where)
    assert schemas.pattern(schemas.DETECTION, "class-id") == "^(0|[1-9][0-9]*)$"


def test_explain_names_the_failing_place() -> None:
    line = det_line()
    line["bounding-box"]["annotations"][0]["left"] = "ten"
    msgs = schemas.explain(line, schemas.DETECTION)
    assert msgs and msgs[0].startswith("bounding-box/annotations/0/left:")
    assert schemas.explain(det_line(), schemas.DETECTION) == []


def matching_kind(obj: dict[str, Any]) -> str | None:
    """The schema a line is judged by (docs/validate.md): detection if any metadata declares it, else
    classification; None (outside the agreement) when the line declares both supported types."""
    declared = set()
    meta_key = re.compile(schemas.pattern(schemas.CLASSIFICATION, "metadata-key"))
    for k, v in obj.items():
        if isinstance(v, dict) and meta_key.search(k):
            t = v.get("type")
            if t in (CLS, DET) and isinstance(t, str):
                declared.add(t)
    if declared == {CLS, DET}:
        return None
    return schemas.DETECTION if DET in declared else schemas.CLASSIFICATION


def agree(obj: dict[str, Any]) -> None:
    kind = matching_kind(obj)
    if kind is None:
        return
    rejected = not schemas.validator(kind).is_valid(obj)
    r = check_line(json.dumps(obj).encode(), 1, "m.manifest")
    flagged = any(f.rule == "schema" for f in r.findings or ())
    assert flagged == rejected, (kind, [(f.code, f.message) for f in r.findings or ()],
                                 schemas.explain(obj, kind))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls_lines() | det_lines())
def test_valid_lines_pass_both(obj: dict[str, Any]) -> None:
    agree(obj)
    assert schemas.validator(matching_kind(obj) or schemas.DETECTION).is_valid(obj)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(cls_lines()) | mutated(det_lines()))
def test_mutated_lines_agree(obj: dict[str, Any]) -> None:
    agree(obj)


def test_agreement_on_hand_picked_cases() -> None:
    cases = []
    d = det_line()
    d["bounding-box"]["annotations"][0]["class_id"] = 1.0  # an integer written as 1.0: valid in JSON Schema
    cases.append(d)
    d = det_line()
    d["bounding-box"]["image_size"][0]["depth"] = 3.0
    cases.append(d)
    d = det_line()
    d["bounding-box"]["image_size"][0]["width"] = 10**400  # beyond any float: still a number
    cases.append(d)
    d = det_line()
    d["stray"] = 5  # a stray key on a box line must be a box attribute
    cases.append(d)
    c = cls_line()
    c["note-metadata\n"] = {"type": CLS}  # '$' in the schema pattern matches before a final newline
    cases.append(c)
    c = cls_line()
    c["cl-metadata"] = {"is_labeled": True}
    cases.append(c)
    c = cls_line()
    c["label"] = True  # booleans are not integers
    cases.append(c)
    for obj in cases:
        agree(obj)


def test_schemas_load_from_the_package_in_a_wheel_layout(tmp_path: Path) -> None:
    # A wheel force-includes schemas/ as manifestkit/schemas/ beside manifestkit/schemas.py: the module must
    # still import, and read the packaged copy.
    root = Path(schemas.__file__).parent
    shutil.copytree(root, tmp_path / "manifestkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root.parent / "schemas", tmp_path / "manifestkit" / "schemas")
    target = tmp_path / "manifestkit" / "schemas" / "object-detection-line.schema.json"
    doc = json.loads(target.read_text(encoding="utf-8"))
    doc["title"] = "packaged copy"
    target.write_text(json.dumps(doc), encoding="utf-8")
    code = ("import manifestkit.schemas as s; print(s.__file__.endswith('schemas.py'), "
            "s.load_schema('detection')['title'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.stdout.split() == ["True", "packaged", "copy"]
