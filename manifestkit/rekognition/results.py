"""After training, success or failure: the validation files, mapped back to the user's own manifest lines.

Rekognition writes ``manifest_summary.json`` and a copy of each input manifest with ``errors`` and
``warnings`` inserted (``training_manifest_with_validation.json``, ``testing_...``) under the output
prefix (rekognition.md 2.6). Their S3 locations come from DescribeProjectVersions. Each finding is
traced back to the line of the user's manifest with the same ``source-ref``; a line Rekognition could
not parse has no ``source-ref`` and is matched by position, as the validation file is a line-by-line copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from ..errors import ManifestKitError
from ._base import read_s3_json, read_s3_lines, s3_object_uri

__all__ = ["LineIssue", "TrainingReport", "issues_in_line", "training_report"]

_decode = msgspec.json.Decoder().decode
# Keys Rekognition inserts: validation manifests use errors/warnings, dataset entries cl-errors.
_ERROR_KEYS = ("errors", "cl-errors")
_WARNING_KEYS = ("warnings",)


@dataclass
class LineIssue:
    """One error or warning Rekognition attached to a line of a validation manifest."""

    dataset: str                 # "training" or "testing"
    code: str
    message: str
    severity: str                # "error" or "warning"
    scope: str                   # "line", "attribute 'x'", "metadata of 'x'", "annotation 2 of 'x'"
    validation_line: int         # 1-based line in the *_with_validation.json file
    source_ref: str | None = None
    manifest: str | None = None  # the user's manifest the line was found in
    line: int | None = None      # 1-based line in that manifest
    matched_by: str | None = None  # "source-ref" or "position"

    def where(self) -> str:
        """``train.manifest:12`` when the line was found, else the validation file's line."""
        if self.line is not None:
            return f"{self.manifest}:{self.line}"
        return f"{self.dataset} validation line {self.validation_line}"


@dataclass
class TrainingReport:
    """The outcome of a training: status, F1 and every validation finding, located."""

    version: str
    status: str
    status_message: str | None = None
    f1: float | None = None
    billable_seconds: int | None = None
    summary_uri: str | None = None
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)   # aggregate: manifest_summary errors
    issues: list[LineIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)               # what could not be fetched, and why

    @property
    def succeeded(self) -> bool:
        return self.status == "TRAINING_COMPLETED"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["succeeded"] = self.succeeded
        return d


def issues_in_line(obj: Any, *, dataset: str, validation_line: int) -> list[LineIssue]:
    """Every ``errors``/``warnings``/``cl-errors`` entry in one decoded validation line, with its scope."""
    found: list[LineIssue] = []
    ref = obj.get("source-ref") if isinstance(obj, dict) else None
    ref = ref if isinstance(ref, str) else None

    def take(container: Any, scope: str) -> None:
        if not isinstance(container, dict):
            return
        for keys, severity in ((_ERROR_KEYS, "error"), (_WARNING_KEYS, "warning")):
            for key in keys:
                entries = container.get(key)
                if not isinstance(entries, list):
                    continue
                for e in entries:
                    if isinstance(e, dict):
                        found.append(LineIssue(dataset, str(e.get("code", "UNKNOWN")), str(e.get("message", "")),
                                               severity, scope, validation_line, ref))

    if not isinstance(obj, dict):
        return found
    take(obj, "line")
    for name, value in obj.items():
        if name in _ERROR_KEYS or name in _WARNING_KEYS or name == "source-ref":
            continue
        if name.endswith("-metadata"):
            take(value, f"metadata of {name[:-len('-metadata')]!r}")
        elif isinstance(value, dict):
            take(value, f"attribute {name!r}")
            anns = value.get("annotations")
            if isinstance(anns, list):
                for i, ann in enumerate(anns):
                    take(ann, f"annotation {i} of {name!r}")
    return found


class _Ref(msgspec.Struct):
    """Only the source-ref of a line: msgspec skips every other key without building it."""

    source_ref: Any = msgspec.field(name="source-ref", default=None)


_decode_ref = msgspec.json.Decoder(_Ref).decode


def _scan_validation(lines: Iterable[bytes], dataset: str) -> Iterator[LineIssue]:
    for n, raw in enumerate(lines, 1):
        # Most lines carry no finding: a substring test skips them without decoding.
        if b'"errors"' not in raw and b'"warnings"' not in raw and b'"cl-errors"' not in raw:
            continue
        try:
            obj = _decode(raw)
        except msgspec.DecodeError:
            continue
        yield from issues_in_line(obj, dataset=dataset, validation_line=n)


def _manifest_lines(manifest: str, s3: Any) -> Iterator[bytes]:
    if manifest.startswith("s3://"):
        yield from read_s3_lines(s3, manifest)
        return
    try:
        fp = open(manifest, "rb")
    except OSError as e:
        raise ManifestKitError(f"cannot open {manifest} ({e.strerror or e})") from None
    with fp:
        yield from fp


def _locate(issues: list[LineIssue], manifest: str, s3: Any, *, positions: bool = True) -> None:
    """Fill in ``line`` for issues whose source-ref occurs in ``manifest`` (one streaming pass).

    Issues without a source-ref are matched by position when ``positions`` (the validation file is then
    a line-by-line copy of ``manifest``).
    """
    wanted: dict[str, list[LineIssue]] = {}
    by_position: dict[int, list[LineIssue]] = {}
    for issue in issues:
        if issue.source_ref:
            wanted.setdefault(issue.source_ref, []).append(issue)
        elif positions:
            by_position.setdefault(issue.validation_line, []).append(issue)
    if not wanted and not by_position:
        return
    for n, raw in enumerate(_manifest_lines(manifest, s3), 1):
        for issue in by_position.pop(n, ()):
            issue.manifest, issue.line, issue.matched_by = manifest, n, "position"
        if wanted and b"source-ref" in raw:
            try:
                ref = _decode_ref(raw).source_ref
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            for issue in wanted.pop(ref, ()) if isinstance(ref, str) else ():
                issue.manifest, issue.line, issue.matched_by = manifest, n, "source-ref"
        if not wanted and not by_position:
            break


_FILE_NAMES = {"manifest_summary.json": "summary", "training_manifest_with_validation.json": "training",
               "testing_manifest_with_validation.json": "testing"}


def _listed_locations(description: dict[str, Any], s3: Any, version: str) -> tuple[dict[str, str], str | None]:
    """Look for the validation files under the version's OutputConfig when the API did not say where.

    Only objects written after the version was created count; when several of one name remain, the one
    whose key names the version wins, else none is guessed. Returns ({kind: uri}, note).
    """
    from ..aws import aws_errors

    out = description.get("OutputConfig") or {}
    bucket, prefix = out.get("S3Bucket"), out.get("S3KeyPrefix") or ""
    if not bucket or description.get("Status") not in ("TRAINING_FAILED", "TRAINING_COMPLETED"):
        return {}, None
    created = description.get("CreationTimestamp")
    where = f"s3://{bucket}/{prefix}"
    found: dict[str, list[str]] = {}
    try:
        with aws_errors(f"listing {where}"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    kind = _FILE_NAMES.get(obj["Key"].rsplit("/", 1)[-1])
                    modified = obj.get("LastModified")
                    if kind is None or (created is not None and modified is not None and modified < created):
                        continue
                    found.setdefault(kind, []).append(obj["Key"])
    except ManifestKitError as e:
        return {}, f"the validation files' locations were not returned and {where} could not be listed ({e})"
    chosen: dict[str, str] = {}
    for kind, keys in found.items():
        if len(keys) > 1:
            keys = [k for k in keys if f"/{version}/" in f"/{k}"]
        if len(keys) == 1:
            chosen[kind] = f"s3://{bucket}/{keys[0]}"
    if not chosen:
        return {}, None
    return chosen, (f"DescribeProjectVersions did not return the validation files' locations; found them by "
                    f"listing {where}: {', '.join(sorted(chosen.values()))}")


def training_report(description: dict[str, Any], *, s3: Any, train_manifest: str | None = None,
                    test_manifest: str | None = None) -> TrainingReport:
    """Build the :class:`TrainingReport` of one ProjectVersionDescription.

    ``train_manifest``/``test_manifest`` are the user's manifests (local paths or ``s3://`` URIs) that
    findings are traced back to; with an automatic split the test findings are looked up in the
    training manifest. Files Rekognition did not write (a terminal manifest-file error) are noted, not
    raised.
    """
    from ._base import version_name

    report = TrainingReport(
        version=version_name(description),
        status=str(description.get("Status", "UNKNOWN")),
        status_message=description.get("StatusMessage"),
        f1=(description.get("EvaluationResult") or {}).get("F1Score"),
        billable_seconds=description.get("BillableTrainingTimeInSeconds"),
    )
    summary_uri = s3_object_uri((description.get("ManifestSummary") or {}).get("S3Object"))
    validation: dict[str, list[str]] = {}
    for dataset, key in (("training", "TrainingDataResult"), ("testing", "TestingDataResult")):
        assets = ((description.get(key) or {}).get("Validation") or {}).get("Assets") or []
        validation[dataset] = [u for u in (s3_object_uri((a.get("GroundTruthManifest") or {}).get("S3Object"))
                                           for a in assets) if u]
    if summary_uri is None and not any(validation.values()):
        # After a service error the files may exist while the response omits where (rekognition.md 2.6).
        listed, note = _listed_locations(description, s3, report.version)
        if note:
            report.notes.append(note)
        summary_uri = listed.pop("summary", None)
        for dataset, uri in listed.items():
            validation[dataset] = [uri]
    report.summary_uri = summary_uri
    if summary_uri:
        summary = read_s3_json(s3, summary_uri)
        if isinstance(summary, dict):
            stats = summary.get("statistics")
            report.statistics = stats if isinstance(stats, dict) else {}
            errs = summary.get("errors")
            report.errors = [e for e in errs if isinstance(e, dict)] if isinstance(errs, list) else []
            # Errors of one dataset (e.g. too many invalid rows) are terminal too: list them with the rest.
            for name, st in report.statistics.items():
                for e in (st.get("errors") or []) if isinstance(st, dict) else []:
                    if isinstance(e, dict):
                        report.errors.append({"dataset": name, **e})
    else:
        report.notes.append("no manifest summary: Rekognition wrote no validation files, which happens after "
                            "a terminal manifest-file error (see the status message) or a service error")

    for dataset, manifest in (("training", train_manifest), ("testing", test_manifest or train_manifest)):
        for uri in validation[dataset]:
            found = list(_scan_validation(read_s3_lines(s3, uri), dataset))
            if manifest and found:
                if not manifest.startswith("s3://") and not os.path.exists(manifest):
                    report.notes.append(f"{manifest} not found: {dataset} findings are not traced to its lines")
                else:
                    # Auto-split: Rekognition's test lines came from the training manifest, so a
                    # position in the test file means nothing there; match by source-ref only.
                    _locate(found, manifest, s3, positions=not (dataset == "testing" and test_manifest is None))
            report.issues.extend(found)
    # In the user's order: by manifest line where found, else by the validation file's line.
    order = {"training": 0, "testing": 1}
    report.issues.sort(key=lambda i: (order.get(i.dataset, 2), i.line is None, i.line or 0, i.validation_line))
    return report
