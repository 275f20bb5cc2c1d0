"""Validation of manifests against Rekognition Custom Labels' rules, offline, in Rekognition's own codes.

``validate()`` streams the manifest(s) and returns a :class:`Report` with a verdict (``clean``,
``would_train``, ``would_fail``), every finding, and per-manifest statistics. The renderers turn a report
into text, JSON, GitHub annotations, or the files Rekognition itself writes after a training attempt.
"""

from __future__ import annotations

from .core import ManifestStats, Report, validate
from .findings import CODES, TERMINAL, Code, Finding
from .render import render_github, render_json, render_text, write_rekognition_results

__all__ = [
    "CODES",
    "Code",
    "Finding",
    "ManifestStats",
    "Report",
    "TERMINAL",
    "render_github",
    "render_json",
    "render_text",
    "validate",
    "write_rekognition_results",
]
