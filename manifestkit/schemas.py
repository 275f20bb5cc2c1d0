"""The JSON Schemas of manifest lines (``schemas/``, draft 2020-12): the normative contract of a line's shape.

The validator's hot path checks lines with plain Python that mirrors these schemas (see
``validation/lines.py``; a differential test proves the two agree). ``jsonschema`` is used only here, to
explain why a line failed, because it checks about 1,000 lines a second.

In a wheel the schemas live in the package (``manifestkit/schemas/``); in a source checkout they are the
top-level ``schemas/`` folder beside the package.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any

from .errors import ManifestKitError

__all__ = ["CLASSIFICATION", "DETECTION", "SCHEMA_FILES", "explain", "load_schema", "pattern", "validator"]

CLASSIFICATION = "classification"
DETECTION = "detection"
SCHEMA_FILES = {
    CLASSIFICATION: "image-classification-line.schema.json",
    DETECTION: "object-detection-line.schema.json",
}


def _read(name: str) -> str:
    packaged = resources.files("manifestkit").joinpath("schemas").joinpath(name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "schemas", name)
    try:
        with open(path, encoding="utf-8") as fp:
            return fp.read()
    except OSError:
        raise ManifestKitError(f"the schema {name} is missing from the installation; reinstall manifestkit") \
            from None


@functools.cache
def load_schema(kind: str) -> dict[str, Any]:
    """The schema of a ``classification`` or ``detection`` line, as a dict."""
    try:
        name = SCHEMA_FILES[kind]
    except KeyError:
        raise ManifestKitError(f"unknown schema {kind!r}: use one of {', '.join(SCHEMA_FILES)}") from None
    schema: dict[str, Any] = json.loads(_read(name))
    return schema


def pattern(kind: str, where: str) -> str:
    """A regular expression of a schema, so that the fast path uses the very same one.

    ``where`` is ``source-ref``, ``metadata-key`` or ``class-id``.
    """
    s = load_schema(kind)
    if where == "source-ref":
        return str(s["properties"]["source-ref"]["pattern"])
    if where == "metadata-key":
        (key,) = s["patternProperties"]
        return str(key)
    if where == "class-id":
        return str(load_schema(DETECTION)["$defs"]["metadata"]["properties"]["class-map"]["propertyNames"]
                   ["pattern"])
    raise ManifestKitError(f"unknown schema pattern {where!r}")


@functools.cache
def validator(kind: str) -> Any:
    """A compiled draft 2020-12 validator for ``kind`` (built once)."""
    from jsonschema import Draft202012Validator

    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def explain(obj: Any, kind: str, limit: int = 5) -> list[str]:
    """Why ``obj`` does not match the ``kind`` schema: up to ``limit`` sentences, empty when it matches."""
    out = []
    for err in sorted(validator(kind).iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "the line"
        msg = err.message
        if len(msg) > 200:
            msg = msg[:197] + "..."
        out.append(f"{where}: {msg}")
        if len(out) >= limit:
            break
    return out
