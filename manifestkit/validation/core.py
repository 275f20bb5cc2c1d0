"""``validate``: stream a manifest (and its test manifest) through the line checks, the image checks and the
aggregate checks, and predict what Rekognition would do: ``clean``, ``would_train`` or ``would_fail``.

Memory stays flat in the number of lines: per line only an 8-byte hash of its source-ref is kept (for
duplicates and train/test overlap), plus label counts and the numbers of invalid lines. Findings are
kept (they are the report), so memory grows with the number of problems, not of lines.
"""

from __future__ import annotations

import os
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec

from .. import schemas
from ..errors import ManifestKitError
from ..images import ImageInfo
from ..uris import relative_key
from .findings import CODES, TERMINAL, Finding
from .imagecheck import DENIED, NOT_FOUND, image_findings, local_image_path, probe_local, probe_s3
from .lines import IGNORED, INVALID, VALID, LineResult, check_line, explain_kind

__all__ = ["ManifestStats", "Report", "validate"]

Progress = Callable[[int], None]

MAX_MANIFEST_BYTES = 1024 ** 3
MAX_ROWS_DETECTION = 250_000
MAX_ROWS_CLASSIFICATION = 500_000
INVALID_BUDGET = 0.20
MIN_LABELS_CLASSIFICATION, MIN_LABELS_DETECTION, MAX_LABELS = 2, 1, 250
MIN_OVERLAP = 0.50
_READ_LIMIT = 1 << 20  # a line longer than 1 MiB is over 100,000 characters whatever its encoding
_BOM = b"\xef\xbb\xbf"
_S3_WINDOW = 256  # S3 probes in flight at most (memory stays flat)

IMAGE_LEVEL, OBJECT_LOCALIZATION, NOT_DETERMINED = "IMAGE_LEVEL_LABELS", "OBJECT_LOCALIZATION", "NOT_DETERMINED"


@dataclass
class ManifestStats:
    """Counts of one manifest, as Rekognition's ``manifest_summary.json`` has them, and more."""

    path: str
    role: str
    use_case: str = NOT_DETERMINED
    total_lines: int = 0
    valid_lines: int = 0
    invalid_lines: int = 0
    ignored_lines: int = 0
    filtered_lines: int = 0
    dropped_annotations: int = 0
    size_bytes: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    buckets: list[str] = field(default_factory=list)
    error_line_indices: array = field(default_factory=lambda: array("q"))
    terminal: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.path, "role": self.role, "use_case": self.use_case,
            "total_lines": self.total_lines, "valid_lines": self.valid_lines,
            "invalid_lines": self.invalid_lines, "ignored_lines": self.ignored_lines,
            "filtered_lines": self.filtered_lines, "dropped_annotations": self.dropped_annotations,
            "size_bytes": self.size_bytes, "labels": {k: self.labels[k] for k in sorted(self.labels)},
            "buckets": sorted(self.buckets), "terminal_errors": list(self.terminal),
        }


@dataclass
class Report:
    """The validation report: verdict, findings (sorted by manifest and line), per-manifest statistics."""

    verdict: str
    findings: list[Finding]
    manifests: list[ManifestStats]
    terminal: list[str]
    dropped_lines: int
    dropped_annotations: int

    @property
    def counts(self) -> dict[str, int]:
        """How many findings each code has."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.code] = out.get(f.code, 0) + 1
        return out

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def verdict_text(self) -> str:
        """The verdict as a sentence."""
        if self.verdict == "would_fail":
            return f"would fail: {', '.join(self.terminal)}"
        if self.verdict == "would_train":
            return (f"would train: {self.dropped_lines:,} line(s) and {self.dropped_annotations:,} annotation(s) "
                    "would be dropped")
        return "clean"

    def exit_code(self, strict: bool = False) -> int:
        """1 when training would fail, or with ``strict`` when any finding is an error; else 0."""
        if self.verdict == "would_fail" or (strict and self.has_errors):
            return 1
        return 0

    def summary(self) -> dict[str, Any]:
        by_sev = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
        counts = self.counts
        return {
            "verdict": self.verdict, "verdict_text": self.verdict_text(), "terminal_errors": list(self.terminal),
            "dropped_lines": self.dropped_lines, "dropped_annotations": self.dropped_annotations,
            "findings_by_severity": by_sev, "findings_by_code": {k: counts[k] for k in sorted(counts)},
            "manifests": [m.to_dict() for m in self.manifests],
        }

    def to_dict(self) -> dict[str, Any]:
        """One JSON document: ``{"verdict", "findings": [...], "summary": {...}}``."""
        return {"verdict": self.verdict, "findings": [f.to_dict() for f in self.findings],
                "summary": self.summary()}


class _Ctx:
    """Options shared by the scans of the training and the test manifest."""

    def __init__(self, images: str | None, s3_prefix: str | None, s3_client: Any, workers: int,
                 explain_budget: int, progress: Progress | None) -> None:
        self.images = images
        self.s3_prefix = s3_prefix
        self.s3 = s3_client
        self.workers = workers
        self.explain_budget = explain_budget
        self.progress = progress
        self.pool: ThreadPoolExecutor | None = None


class _Scan:
    """The running state of one manifest: counts, label tallies by kind, hashes of source-refs."""

    def __init__(self, stats: ManifestStats, findings: list[Finding], ctx: _Ctx,
                 other_refs: set[int] | None) -> None:
        self.stats = stats
        self.findings = findings
        self.ctx = ctx
        self.other_refs = other_refs
        self.refs: set[int] = set()
        self.buckets: dict[str, int] = {}
        self.cls_labels: dict[str, int] = {}
        self.det_labels: dict[str, int] = {}
        self.only_cls = self.only_det = self.both = 0
        self.first_cls: list[int] = []
        self.first_det: list[int] = []
        self.nonblank = 0
        self.denied: list[str] = []
        self.pending: deque[tuple[int, LineResult, Future[Any]]] = deque()
        self.check_images = ctx.images is not None or ctx.s3 is not None

    # -- per line ------------------------------------------------------------------------------------
    def line(self, n: int, raw: bytes, overlong: int | None) -> None:
        st = self.stats
        st.total_lines += 1
        name = st.path
        if overlong is not None:
            self.nonblank += 1
            r = LineResult()
            r.status = INVALID
            r.add(Finding("MK_LINE_TOO_LONG", f"the line has about {overlong:,} bytes; Rekognition drops lines over "
                          "100,000 characters: shorten it (fewer boxes or shorter names)", line=n, manifest=name))
        else:
            if raw and not raw.isspace():
                self.nonblank += 1
            r = check_line(raw, n, name)
            if r.findings is not None and self.ctx.explain_budget > 0:
                self._explain(r, raw)
        ref = r.source_ref
        if ref is not None:
            b = r.bucket or ""
            if b not in self.buckets:
                self.buckets[b] = n
            h = hash(ref)
            if h in self.refs:
                r.add(Finding("MK_DUPLICATE_SOURCE_REF", f"source-ref {ref} is already used on an earlier line; "
                              "Rekognition keeps the first and drops this one: merge the two lines' labels",
                              line=n, manifest=name, source_ref=ref))
                r.status = IGNORED
                r.cls_labels = r.det_labels = None
            else:
                self.refs.add(h)
                if self.other_refs is not None and h in self.other_refs:
                    r.add(Finding("MK_IMAGE_IN_TRAIN_AND_TEST", f"{ref} is also in the training manifest: keep "
                                  "each image in one of the two sets", line=n, manifest=name, source_ref=ref))
        if r.status == VALID and self.check_images:
            self._image(n, r)
        else:
            self._finish(n, r)

    def _explain(self, r: LineResult, raw: bytes) -> None:
        first = next((f for f in r.findings or () if f.rule == "schema" and f.code != "ERROR_INVALID_JSON_LINE"),
                     None)
        if first is None:
            return
        try:
            obj = msgspec.json.decode(raw[:-1] if raw.endswith(b"\r") else raw)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
            return
        if isinstance(obj, dict):
            self.ctx.explain_budget -= 1
            kind = explain_kind(obj)
            first.details = [f"{schemas.SCHEMA_FILES[kind]}: {d}" for d in schemas.explain(obj, kind)]

    def _finish(self, n: int, r: LineResult) -> None:
        st = self.stats
        if r.findings is not None:
            self.findings.extend(r.findings)
        st.dropped_annotations += r.dropped_annotations
        if r.status == INVALID:
            st.invalid_lines += 1
            st.error_line_indices.append(n)
            return
        if r.status == IGNORED:
            st.ignored_lines += 1
            return
        st.valid_lines += 1
        cls, det = r.cls_labels, r.det_labels
        if cls and det:
            self.both += 1
        elif cls:
            self.only_cls += 1
            if len(self.first_cls) < 5:
                self.first_cls.append(n)
        elif det:
            self.only_det += 1
            if len(self.first_det) < 5:
                self.first_det.append(n)
        # Each label counts once per image.
        if cls:
            tally = self.cls_labels
            for lab in (cls if len(cls) == 1 else set(cls)):
                tally[lab] = tally.get(lab, 0) + 1
        if det:
            tally = self.det_labels
            for lab in (det if len(det) == 1 else set(det)):
                tally[lab] = tally.get(lab, 0) + 1

    # -- images ----------------------------------------------------------------------------------------
    def _image(self, n: int, r: LineResult) -> None:
        ref = r.source_ref or ""
        ctx = self.ctx
        if ctx.s3 is not None:
            bucket, _, key = ref[5:].partition("/")
            pool = ctx.pool
            if pool is None:  # validate() opens the pool whenever it has a client
                raise ManifestKitError("internal error: no S3 worker pool")
            self.pending.append((n, r, pool.submit(probe_s3, ctx.s3, bucket, key)))
            while len(self.pending) >= _S3_WINDOW:
                self._drain_one()
            return
        rel = relative_key(ref, ctx.s3_prefix)
        path = local_image_path(ctx.images or "", rel) if rel is not None else None
        if path is None:
            why = ("is outside --s3-prefix " + str(ctx.s3_prefix) if rel is None else
                   "has a key that would leave the images folder (.. or an absolute path)")
            r.add(Finding("MK_IMAGE_NOT_CHECKED", f"{ref} {why}, so its image was not checked: pass the "
                          "--s3-prefix that the images folder corresponds to", line=n, manifest=self.stats.path,
                          source_ref=ref))
            self._finish(n, r)
            return
        self._apply_probe(n, r, probe_local(path), path)

    def _drain_one(self) -> None:
        n, r, fut = self.pending.popleft()
        self._apply_probe(n, r, fut.result(), r.source_ref or "")

    def drain(self) -> None:
        while self.pending:
            self._drain_one()

    def _apply_probe(self, n: int, r: LineResult, got: ImageInfo | str, where: str) -> None:
        name = self.stats.path
        ref = r.source_ref
        if isinstance(got, str):
            if got == DENIED:
                if len(self.denied) < 5:
                    self.denied.append(ref or "")
                msg = f"reading {where} was denied (403): grant s3:GetObject on the images"
            elif got == NOT_FOUND:
                msg = f"image not found at {where}: fix the source-ref or put the image there"
            else:
                msg = f"{where}: {got}: replace the image"
            r.add(Finding("ERROR_INVALID_IMAGE", msg, line=n, manifest=name, source_ref=ref))
            self._drop(r)
        else:
            boxes = r.det_labels is not None
            code, msg, notes = image_findings(got, boxes=boxes, image_size=r.image_size)
            if code is not None:
                r.add(Finding(code, msg or code, line=n, manifest=name, source_ref=ref))
                self._drop(r)
            for c, m, sev in notes:
                r.add(Finding(c, m, line=n, manifest=name, source_ref=ref, severity=sev))
        self._finish(n, r)

    @staticmethod
    def _drop(r: LineResult) -> None:
        r.status = INVALID
        r.cls_labels = r.det_labels = None

    # -- the manifest as a whole -----------------------------------------------------------------------
    def aggregate(self) -> None:
        st = self.stats
        name = st.path
        agg: list[Finding] = []

        def add(code: str, msg: str, severity: str | None = None) -> None:
            agg.append(Finding(code, msg, manifest=name, severity=severity))

        cls_lines = self.only_cls + self.both
        det_lines = self.only_det + self.both
        if det_lines == 0 and cls_lines == 0:
            st.use_case = NOT_DETERMINED
            labels: dict[str, int] = {}
        elif det_lines >= cls_lines:
            st.use_case = OBJECT_LOCALIZATION
            st.filtered_lines = self.only_cls
            labels = self.det_labels
        else:
            st.use_case = IMAGE_LEVEL
            st.filtered_lines = self.only_det
            labels = self.cls_labels
        st.labels = dict(labels)
        st.valid_lines -= st.filtered_lines
        st.ignored_lines += st.filtered_lines
        st.buckets = list(self.buckets)
        filtered = st.filtered_lines > 0
        if filtered:
            kept, dropped = ((f"{det_lines:,} box line(s)", f"{self.only_cls:,} image-level line(s)")
                             if st.use_case == OBJECT_LOCALIZATION else
                             (f"{cls_lines:,} image-level line(s)", f"{self.only_det:,} box line(s)"))
            first = self.first_cls if st.use_case == OBJECT_LOCALIZATION else self.first_det
            add("MK_MIXED_USE_CASE", f"the manifest mixes image-level labels and boxes; Rekognition picks one use "
                f"case ({st.use_case}, kept: {kept}) and drops the other kind's lines ({dropped}, e.g. line(s) "
                f"{', '.join(map(str, first))}): keep one kind of label per dataset")

        _, ext = os.path.splitext(os.path.basename(name))
        if not ext:
            add("ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT", "the manifest file name has no extension, "
                "which Rekognition refuses: rename it to NAME.manifest")
        elif ext != ".manifest":
            add("MK_MANIFEST_EXTENSION", f"the manifest's extension is {ext!r}: name it NAME.manifest, the "
                "convention (Rekognition refuses a name without extension)")
        if self.nonblank == 0:
            add("MK_MANIFEST_EMPTY", "the manifest has no lines with content, so Rekognition refuses it "
                "(\"The manifest file is empty.\"): write the labelled lines into it")
        if st.size_bytes > MAX_MANIFEST_BYTES:
            add("ERROR_MANIFEST_SIZE_TOO_LARGE", f"the manifest has {st.size_bytes:,} bytes; the limit is 1 GiB: "
                "split it")
        limit = MAX_ROWS_DETECTION if st.use_case == OBJECT_LOCALIZATION else MAX_ROWS_CLASSIFICATION
        if st.total_lines > limit:
            add("ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM", f"the manifest has {st.total_lines:,} lines; the limit for "
                f"{st.use_case} is {limit:,} (blank lines count): split it")
        if len(self.buckets) > 1:
            shown = ", ".join(f"{b} (line {n})" for b, n in list(self.buckets.items())[:5])
            add("ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS", f"the images are in {len(self.buckets)} buckets ({shown}"
                f"{', ...' if len(self.buckets) > 5 else ''}); a dataset's images must be in one bucket: copy them "
                "into one and rewrite the source-refs")
        if self.denied:
            add("ERROR_INVALID_PERMISSIONS_IMAGES_S3_BUCKET", f"reading images was denied (e.g. {self.denied[0]}): "
                "grant s3:GetObject on the images bucket to the identity that trains")
        if st.total_lines and st.invalid_lines / st.total_lines > INVALID_BUDGET:
            add("ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST", f"{st.invalid_lines:,} of {st.total_lines:,} lines "
                f"({100 * st.invalid_lines / st.total_lines:.1f} %) are invalid; Rekognition fails above 20 %: fix "
                "the line errors")
        if self.nonblank:
            need = MIN_LABELS_DETECTION if st.use_case == OBJECT_LOCALIZATION else MIN_LABELS_CLASSIFICATION
            if len(labels) < need:
                code = "ERROR_MANIFEST_TOO_FEW_USABLE_LABELS" if filtered else "ERROR_MANIFEST_TOO_FEW_LABELS"
                what = "box" if st.use_case == OBJECT_LOCALIZATION else "image-level"
                add(code, f"the usable lines have {len(labels)} label(s); {st.use_case if labels else 'a dataset'} "
                    f"needs at least {need} ({what} labels): add labelled images")
            elif len(labels) > MAX_LABELS:
                add("ERROR_MANIFEST_TOO_MANY_LABELS", f"the manifest has {len(labels)} labels; the limit is "
                    f"{MAX_LABELS}: merge or drop labels")
        st.terminal = [f.code for f in agg if f.code in TERMINAL]
        self.findings.extend(agg)


def _lines(fp: IO[bytes]) -> Iterator[tuple[bytes, int | None]]:
    """Lines without their newline; a line over 1 MiB is skipped in chunks and reported by its size."""
    readline = fp.readline
    while True:
        raw = readline(_READ_LIMIT)
        if not raw:
            return
        if raw[-1:] == b"\n":
            yield raw[:-1], None
            continue
        if len(raw) < _READ_LIMIT:
            yield raw, None  # the last line, without a newline
            return
        size = len(raw)
        while True:
            chunk = readline(_READ_LIMIT)
            if not chunk:
                break
            if chunk[-1:] == b"\n":
                size += len(chunk) - 1
                break
            size += len(chunk)
        yield b"", size


def _scan(path: str, role: str, findings: list[Finding], ctx: _Ctx, other: set[int] | None) -> _Scan:
    stats = ManifestStats(path=path, role=role)
    scan = _Scan(stats, findings, ctx, other)
    try:
        fp = open(path, "rb")
    except FileNotFoundError:
        raise ManifestKitError(f"{path}: manifest not found") from None
    except IsADirectoryError:
        raise ManifestKitError(f"{path}: is a folder; pass the manifest file") from None
    except OSError as e:
        raise ManifestKitError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    progress = ctx.progress
    with fp:
        stats.size_bytes = os.fstat(fp.fileno()).st_size
        n = 0
        for raw, overlong in _lines(fp):
            n += 1
            if n == 1 and raw.startswith(_BOM):
                raw = raw[3:]
                findings.append(Finding("MK_UTF8_BOM", "the file starts with a UTF-8 byte order mark, which "
                                        "strict JSON parsers reject: save it as UTF-8 without BOM", line=1,
                                        manifest=path))
            scan.line(n, raw, overlong)
            if progress is not None and not n % 10_000:
                progress(10_000)
        scan.drain()
        if progress is not None and n % 10_000:
            progress(n % 10_000)
    scan.aggregate()
    return scan


def validate(manifest: str | os.PathLike[str], *, test: str | os.PathLike[str] | None = None,
             images: str | os.PathLike[str] | None = None, s3_prefix: str | None = None,
             s3_client: Any = None, workers: int = 32, explain: int = 20,
             progress: Progress | None = None) -> Report:
    """Validate a manifest (and optionally its test manifest) the way Rekognition would, offline.

    Args:
        manifest: the training manifest (or the only one).
        test: the test manifest; adds the train/test checks (label overlap, images in both).
        images: a local folder holding the images; the image of ``s3://BUCKET/KEY`` is ``images/REL``, where
            REL is KEY without ``s3_prefix`` (the whole key without it).
        s3_prefix: the ``s3://BUCKET/PREFIX/`` that ``images`` corresponds to.
        s3_client: a boto3 S3 client: check the images in S3 by ranged GETs of their headers, in parallel.
        workers: parallel S3 requests.
        explain: how many failing lines get a detailed schema explanation (jsonschema is slow).
        progress: called with the number of lines handled since its last call.

    Returns the :class:`Report`; never raises for the content of a manifest. Raises ManifestKitError when
    a manifest or the images folder cannot be read, and AwsError when S3 fails for other reasons than a
    missing or forbidden image.
    """
    if images is not None and s3_client is not None:
        raise ManifestKitError("check images either in a local folder (--images) or in S3 (--s3), not both")
    if s3_prefix is not None and images is None:
        raise ManifestKitError("--s3-prefix says where the --images folder is in S3; pass --images too")
    img = os.fspath(images) if images is not None else None
    if img is not None and not os.path.isdir(img):
        raise ManifestKitError(f"{img}: the images folder does not exist")
    prefix = None
    if s3_prefix is not None:
        from ..uris import normalize_prefix

        prefix = normalize_prefix(s3_prefix)
    ctx = _Ctx(img, prefix, s3_client, workers, explain, progress)
    findings: list[Finding] = []
    train_path = os.fspath(manifest)
    if s3_client is not None:
        ctx.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mk-s3")
    try:
        train = _scan(train_path, "training", findings, ctx, None)
        scans = [train]
        if test is not None:
            scans.append(_scan(os.fspath(test), "testing", findings, ctx, train.refs))
    finally:
        if ctx.pool is not None:
            ctx.pool.shutdown(wait=True, cancel_futures=True)
    if test is not None:
        _overlap(scans[0], scans[1], findings)
    order = {s.stats.path: i for i, s in enumerate(scans)}
    # Stable: line findings in line order, then the manifest's aggregate findings, then cross-manifest ones.
    findings.sort(key=lambda f: (order.get(f.manifest or "", len(scans)), f.line is None, f.line or 0))
    return _verdict(findings, [s.stats for s in scans])


def _overlap(train: _Scan, test: _Scan, findings: list[Finding]) -> None:
    a, b = train.stats, test.stats
    if not a.labels:
        return
    common = set(a.labels) & set(b.labels)
    ratio = len(common) / len(a.labels)
    if ratio < MIN_OVERLAP:
        filtered = a.filtered_lines > 0 or b.filtered_lines > 0
        code = "ERROR_INSUFFICIENT_USABLE_LABEL_OVERLAP" if filtered else "ERROR_INSUFFICIENT_LABEL_OVERLAP"
        missing = sorted(set(a.labels) - common)
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        findings.append(Finding(code, f"only {len(common)} of the {len(a.labels)} training labels "
                                f"({100 * ratio:.0f} %) are in the test manifest; Rekognition needs 50 %: add test "
                                f"images of {shown}"))


def _verdict(findings: list[Finding], stats: list[ManifestStats]) -> Report:
    terminal: list[str] = []
    for f in findings:
        if f.code in TERMINAL and f.code not in terminal:
            terminal.append(f.code)
    dropped_lines = sum(s.invalid_lines + s.ignored_lines for s in stats)
    dropped_ann = sum(s.dropped_annotations for s in stats)
    if terminal:
        verdict = "would_fail"
    elif dropped_lines or dropped_ann or any(f.severity == "error" for f in findings):
        verdict = "would_train"
    else:
        verdict = "clean"
    return Report(verdict, findings, stats, terminal, dropped_lines, dropped_ann)


def severity_of(code: str) -> str:
    """The default severity of a finding code."""
    return CODES[code].severity

