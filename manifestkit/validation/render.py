"""Reports as text for people, one JSON document, GitHub workflow annotations, or Rekognition's own files."""

from __future__ import annotations

import os
from typing import Any

import msgspec

from ..manifest import atomic_writer
from .core import Report
from .findings import ANNOTATION, ATTRIBUTE, CODES, LINE, METADATA, Finding
from .lines import rek_message

__all__ = ["render_github", "render_json", "render_text", "write_rekognition_results"]

_encode = msgspec.json.Encoder().encode
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def render_text(report: Report, max_examples: int = 5) -> str:
    """For people: per manifest its counts; per code the count and the first examples; the verdict last."""
    out: list[str] = []
    for m in report.manifests:
        out.append(f"{m.role} manifest {m.path}: {m.total_lines:,} lines ({m.valid_lines:,} valid, "
                   f"{m.invalid_lines:,} invalid, {m.ignored_lines:,} ignored), use case {m.use_case}, "
                   f"{len(m.labels)} label(s)")
    groups: dict[str, list[Finding]] = {}
    for f in report.findings:
        groups.setdefault(f.code, []).append(f)
    codes = sorted(groups, key=lambda c: (_SEVERITY_ORDER.get(groups[c][0].severity, 3), c))
    for code in codes:
        fs = groups[code]
        out.append("")
        out.append(f"{fs[0].severity} {code}: {len(fs):,} finding(s) - {CODES[code].trigger}")
        for f in fs[:max_examples]:
            where = f.manifest or "train/test"
            if f.line is not None:
                where += f":{f.line}"
            out.append(f"  {where}: {f.message}")
            for d in f.details or ():
                out.append(f"      {d}")
        if len(fs) > max_examples:
            out.append(f"  ... and {len(fs) - max_examples:,} more")
    out.append("")
    out.append(f"verdict: {report.verdict_text()}")
    return "\n".join(out)


def render_json(report: Report) -> str:
    """One JSON document: ``{"verdict": ..., "findings": [...], "summary": {...}}``."""
    return _encode(report.to_dict()).decode("utf-8")


def _esc_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(s: str) -> str:
    return _esc_data(s).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    """GitHub Actions workflow commands: ``::error file=...,line=...::CODE message``, one per finding."""
    kinds = {"error": "error", "warning": "warning", "info": "notice"}
    out = []
    for f in report.findings:
        props = []
        if f.manifest:
            props.append(f"file={_esc_prop(f.manifest)}")
        if f.line is not None:
            props.append(f"line={f.line}")
        props.append(f"title={_esc_prop(f.code)}")
        out.append(f"::{kinds.get(f.severity, 'warning')} {','.join(props)}::{_esc_data(f.code + ' ' + f.message)}")
    level = "error" if report.verdict == "would_fail" else "notice"
    out.append(f"::{level} title=manifestkit validate::{_esc_data('verdict: ' + report.verdict_text())}")
    return "\n".join(out)


# ------------------------------------------------------------------------------- Rekognition's own files

def _entry(f: Finding) -> dict[str, str]:
    return {"code": f.code, "message": rek_message(f)}


def _annotate(obj: dict[str, Any], fs: list[Finding]) -> dict[str, Any]:
    fresh: set[int] = set()  # containers whose old errors/warnings were already replaced

    def put(target: dict[str, Any], f: Finding) -> None:
        key = "warnings" if f.code.startswith("WARNING_") else "errors"
        if id(target) not in fresh:
            target.pop("errors", None)
            target.pop("warnings", None)
            fresh.add(id(target))
        target.setdefault(key, []).append(_entry(f))

    for f in fs:
        target: Any = obj
        a = f.attribute
        if f.scope == ATTRIBUTE and a is not None and isinstance(obj.get(a), dict):
            target = obj[a]
        elif f.scope == METADATA and a is not None and isinstance(obj.get(a + "-metadata"), dict):
            target = obj[a + "-metadata"]
        elif f.scope == ANNOTATION and a is not None and isinstance(obj.get(a), dict):
            anns = obj[a].get("annotations")
            i = f.annotation
            if isinstance(anns, list) and i is not None and 0 <= i < len(anns) and isinstance(anns[i], dict):
                target = anns[i]
        put(target, f)
    return obj


def write_rekognition_results(report: Report, output_dir: str | os.PathLike[str]) -> list[str]:
    """Write ``training_manifest_with_validation.json`` (and ``testing_...``) and ``manifest_summary.json``.

    The layout is the one Rekognition writes after a training attempt (rekognition.md 1.7, 2.6): each input
    line copied with Rekognition's ``errors``/``warnings`` inserted at line, attribute, metadata and
    annotation level (manifestkit's own MK_ findings are left out); a line that is not JSON becomes a line
    holding only its error. ``error_json_line_indices`` are 1-based. Files are written atomically.
    Returns the paths written.
    """
    out_dir = os.fspath(output_dir)
    written = []
    per_manifest: dict[str, dict[int, list[Finding]]] = {}
    for f in report.findings:
        if f.line is None or f.manifest is None or f.code.startswith("MK_") or f.scope not in (
                LINE, ATTRIBUTE, METADATA, ANNOTATION):
            continue
        per_manifest.setdefault(f.manifest, {}).setdefault(f.line, []).append(f)
    statistics: dict[str, Any] = {}
    for m in report.manifests:
        by_line = per_manifest.get(m.path, {})
        target = os.path.join(out_dir, f"{m.role}_manifest_with_validation.json")
        with open(m.path, "rb") as src, atomic_writer(target) as dst:
            for n, raw in enumerate(src, 1):
                fs = by_line.get(n)
                if not fs:
                    dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
                    continue
                body = raw.rstrip(b"\r\n")
                if n == 1 and body.startswith(b"\xef\xbb\xbf"):
                    body = body[3:]
                if any(f.code == "ERROR_INVALID_JSON_LINE" for f in fs):
                    dst.write(_encode({"errors": [_entry(f) for f in fs]}) + b"\n")
                    continue
                try:
                    obj = msgspec.json.decode(body)
                except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
                    obj = None
                if not isinstance(obj, dict):
                    dst.write(_encode({"errors": [_entry(f) for f in fs]}) + b"\n")
                    continue
                dst.write(_encode(_annotate(obj, fs)) + b"\n")
        written.append(target)
        statistics[m.role] = {
            "use_case": m.use_case,
            "total_json_lines": m.total_lines,
            "valid_json_lines": m.valid_lines,
            "invalid_json_lines": m.invalid_lines,
            "ignored_json_lines": m.ignored_lines,
            "error_json_line_indices": list(m.error_line_indices),
            "errors": [{"code": f.code, "message": rek_message(f)} for f in report.findings
                       if f.manifest == m.path and f.line is None and f.code.startswith("ERROR_")],
        }
    summary = {"statistics": statistics,
               "errors": [{"code": f.code, "message": rek_message(f)}
                          for f in report.findings if f.manifest is None and f.code.startswith("ERROR_")]}
    target = os.path.join(out_dir, "manifest_summary.json")
    with atomic_writer(target) as fp:
        fp.write(msgspec.json.format(_encode(summary), indent=2) + b"\n")
    written.append(target)
    return written
