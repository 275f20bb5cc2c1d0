"""A self-contained HTML report of a manifest: statistics as SVG charts, thumbnails per label, findings.

The report is ONE file that works offline: inline CSS, SVG charts drawn here, thumbnails embedded as
``data:`` URIs, and a Content-Security-Policy that forbids the browser to fetch anything. Every label, path
and message is HTML-escaped (labels may contain ``<``, ``&`` or quotes).

Size bound: the gallery shows at most ``per_label`` sampled images per label and manifest (a seeded
reservoir sample, so big labels cost no more than small ones), plus at most :data:`MAX_FLAGGED_THUMBNAILS`
images that have findings. A thumbnail is at most 256 px on its long side, JPEG quality 70: typically
5-25 KB, a third more in base64. So the file is at most about
``(labels x manifests x per_label + 100) x 35 KB`` plus the findings table (at most
:data:`MAX_FINDINGS_LISTED` rows), whatever the number of lines in the manifest.

Images are decoded with Pillow at reduced size (``draft()`` for JPEG). An image that is missing, too large,
a decompression bomb or unreadable never stops the report: it gets a placeholder and a finding.
"""

from __future__ import annotations

import base64
import html
import io
import os
import random
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ManifestKitError
from .manifest import atomic_writer, read_manifest
from .model import ImageItem
from .datastats import ManifestStats, Stats, StatsAccumulator, compute_flags
from .uris import parse_s3_uri, relative_key

__all__ = [
    "DEFAULT_PER_LABEL",
    "MAX_FINDINGS_LISTED",
    "MAX_FLAGGED_THUMBNAILS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageFetchError",
    "ImageSource",
    "LocalImages",
    "ReportFinding",
    "ReportResult",
    "S3Images",
    "make_thumbnail",
    "write_html_report",
    "write_sample_report",
]

Progress = Callable[[int], None]

DEFAULT_PER_LABEL = 12
THUMBNAIL_SIZE = 256
THUMBNAIL_QUALITY = 70
# Rekognition accepts at most 4096 x 4096 (16.8 MP); four times that leaves room for the odd oversized photo
# while refusing decompression bombs long before they allocate gigabytes. Checked from the header of each
# image, below Pillow's own default limit (Image.MAX_IMAGE_PIXELS, 89 MP), which stays as a second guard.
MAX_IMAGE_PIXELS = 4 * 4096 * 4096
# Rekognition's own limit is 15 MB; an image several times bigger is not worth downloading for a thumbnail.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_FLAGGED_THUMBNAILS = 100
MAX_FINDINGS_LISTED = 1000
_WORKERS = 4

_PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#f032e6", "#9a6324",
            "#800000", "#808000", "#000075", "#46a0a0")
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


# ------------------------------------------------------------------------------------------ findings


@dataclass(frozen=True, slots=True)
class ReportFinding:
    """A finding as the report shows it. ``manifest`` is ``train`` or ``test``; ``line`` is 1-based."""

    code: str
    severity: str
    message: str
    line: int | None = None
    manifest: str = "train"
    source_ref: str | None = None

    @property
    def anchor(self) -> str | None:
        return _anchor(self.manifest, self.line) if self.line is not None else None


def _anchor(role: str, line: int) -> str:
    return f"{role}-L{line}"


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _normalize_findings(findings: Iterable[Any], train_path: str, test_path: str | None) -> list[ReportFinding]:
    """Accept the validator's findings (objects or dicts with code, severity, line, manifest, message)."""
    out: list[ReportFinding] = []
    test_names = {"test"}
    if test_path is not None:
        test_names.update({test_path, os.path.abspath(test_path), os.path.basename(test_path)})
    for f in findings:
        where = _field(f, "manifest")
        role = "test" if where is not None and str(where) in test_names and where != train_path else "train"
        line = _field(f, "line")
        severity = _field(f, "severity", "info")
        severity = getattr(severity, "value", severity)
        out.append(ReportFinding(
            code=str(_field(f, "code", "")), severity=str(severity), message=str(_field(f, "message", "")),
            line=line if isinstance(line, int) and line > 0 else None, manifest=role,
            source_ref=_field(f, "source_ref")))
    return out


def _run_validator(train: str, test: str | None, *, images: str | None, s3_prefix: str | None,
                   s3: Any, progress: Progress | None) -> tuple[list[Any], str | None]:
    """The validator's findings for the pair (image checks included) and its verdict as a sentence."""
    from .validation import validate

    result = validate(train, test=test, images=images, s3_prefix=s3_prefix, s3_client=s3, progress=progress)
    return list(result.findings), result.verdict_text()


# ------------------------------------------------------------------------------------------ image sources


class ImageFetchError(ManifestKitError):
    """One image cannot be fetched; ``code`` is the finding code to report (``MK_IMAGE_NOT_FOUND``...)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class ImageSource(Protocol):
    """Where the report gets an item's bytes from."""

    def fetch(self, item: ImageItem) -> bytes:
        """The image file's bytes; raises ImageFetchError for a per-image problem."""
        ...


class LocalImages:
    """Images in a local folder: ``root`` + the source-ref's key below ``s3_prefix``.

    Without ``s3_prefix`` the key's leading folders are dropped one by one until a file exists under
    ``root`` (the first match fixes how many, for speed). Paths never leave ``root``.
    """

    def __init__(self, root: str | os.PathLike[str], s3_prefix: str | None = None) -> None:
        self.root = os.path.abspath(os.fspath(root))
        if not os.path.isdir(self.root):
            raise ManifestKitError(f"the images folder {self.root} does not exist: pass the folder the "
                                   "manifest's images are in with --images")
        self.prefix = s3_prefix if s3_prefix is None or s3_prefix.endswith("/") else s3_prefix + "/"
        self._strip: int | None = None
        self._lock = threading.Lock()

    def _candidate(self, rel: str) -> str | None:
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        path = os.path.join(self.root, *parts)
        real = os.path.realpath(path)
        if os.path.commonpath([real, os.path.realpath(self.root)]) != os.path.realpath(self.root):
            return None
        return path if os.path.isfile(path) else None

    def locate(self, item: ImageItem) -> str:
        """The local file of ``item``; raises ImageFetchError when there is none."""
        ref = item.source_ref or item.path
        if self.prefix is not None:
            rel = relative_key(ref, self.prefix)
            if rel is None:
                raise ImageFetchError("MK_IMAGE_NOT_FOUND", f"{ref} is not under --s3-prefix {self.prefix}")
            found = self._candidate(rel)
            if found is None:
                raise ImageFetchError("MK_IMAGE_NOT_FOUND", f"{rel} not found under {self.root}")
            return found
        try:
            key = parse_s3_uri(ref)[1]
        except ManifestKitError:
            key = ref
        parts = key.split("/")
        order = list(range(len(parts)))
        if self._strip is not None and self._strip < len(parts):
            order.remove(self._strip)
            order.insert(0, self._strip)
        for k in order:
            found = self._candidate("/".join(parts[k:]))
            if found is not None:
                with self._lock:
                    self._strip = k
                return found
        raise ImageFetchError("MK_IMAGE_NOT_FOUND", f"no file for {ref} under {self.root} (pass --s3-prefix to "
                                                    "say which part of the source-ref is the folder)")

    def discover_prefix(self, items: Iterable[ImageItem]) -> str | None:
        """The ``s3://BUCKET/PREFIX/`` the folder stands for, from the first item found in it (or None)."""
        if self.prefix is not None:
            return self.prefix
        for n, item in enumerate(items):
            if n >= 100:
                break
            try:
                bucket, key = parse_s3_uri(item.source_ref or "")
                self.locate(item)
            except ManifestKitError:
                continue
            lead = "/".join(key.split("/")[: self._strip or 0])
            return f"s3://{bucket}/{lead}/" if lead else f"s3://{bucket}/"
        return None

    def fetch(self, item: ImageItem) -> bytes:
        path = self.locate(item)
        try:
            size = os.path.getsize(path)
            if size > MAX_IMAGE_BYTES:
                raise ImageFetchError("MK_IMAGE_TOO_LARGE_TO_PREVIEW",
                                      f"{size} bytes: too large to preview (limit {MAX_IMAGE_BYTES})")
            with open(path, "rb") as fp:
                return fp.read()
        except OSError as e:
            raise ImageFetchError("MK_IMAGE_UNREADABLE", f"cannot read {path}: {e.strerror or e}") from None


class S3Images:
    """Images in S3, fetched with the given client (the source-ref is the object)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def fetch(self, item: ImageItem) -> bytes:
        import botocore.exceptions as bex

        from .aws import aws_errors

        ref = item.source_ref or item.path
        try:
            bucket, key = parse_s3_uri(ref)
        except ManifestKitError as e:
            raise ImageFetchError("MK_IMAGE_NOT_FOUND", str(e)) from None
        with aws_errors(f"reading {ref}"):
            try:
                obj = self.s3.get_object(Bucket=bucket, Key=key)
            except bex.ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                # A missing object is a per-image problem; anything else (credentials, access) is not.
                if code in ("NoSuchKey", "404", "NotFound"):
                    raise ImageFetchError("MK_IMAGE_NOT_FOUND", f"{ref} does not exist") from None
                raise
            length = obj.get("ContentLength") or 0
            body = obj["Body"]
            try:
                if length > MAX_IMAGE_BYTES:
                    raise ImageFetchError("MK_IMAGE_TOO_LARGE_TO_PREVIEW",
                                          f"{length} bytes: too large to preview (limit {MAX_IMAGE_BYTES})")
                data: bytes = body.read(MAX_IMAGE_BYTES + 1)
                return data
            finally:
                body.close()


# ------------------------------------------------------------------------------------------ thumbnails


def _colour(label: str) -> str:
    return _PALETTE[zlib.crc32(label.encode("utf-8")) % len(_PALETTE)]


_FONT: Any = None


def _font() -> Any:
    global _FONT
    if _FONT is None:
        from PIL import ImageFont

        try:
            _FONT = ImageFont.load_default(size=12)
        except (TypeError, OSError):
            _FONT = ImageFont.load_default()
    return _FONT


def make_thumbnail(data: bytes, item: ImageItem, *, size: int = THUMBNAIL_SIZE,
                   quality: int = THUMBNAIL_QUALITY) -> tuple[bytes, int, int]:
    """A JPEG thumbnail of the image with ``item``'s boxes and labels drawn. Returns (jpeg, width, height).

    Raises ImageFetchError (``MK_IMAGE_UNREADABLE`` or ``MK_DECOMPRESSION_BOMB``) instead of crashing.
    """
    from PIL import Image, ImageDraw

    from .errors import ImageError
    from .images import probe_bytes

    # Size check from the header before Pillow sees the data. Pillow's own guard (the global
    # Image.MAX_IMAGE_PIXELS) is left alone: changing a process-wide setting from worker threads races.
    try:
        info = probe_bytes(data)
    except ImageError as e:
        raise ImageFetchError("MK_IMAGE_UNREADABLE", e.reason) from None
    if info.width * info.height > MAX_IMAGE_PIXELS:
        raise ImageFetchError("MK_DECOMPRESSION_BOMB", f"{info.width}x{info.height} is more than "
                              f"{MAX_IMAGE_PIXELS} pixels: not decoded")
    try:
        with Image.open(io.BytesIO(data)) as im:
            full_w, full_h = im.size
            if im.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale directly: a 4000 px photo costs a 500 px decode.
                im.draft("RGB", (size, size))
            im.thumbnail((size, size))
            thumb = _to_rgb(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageFetchError("MK_DECOMPRESSION_BOMB", "too many pixels: not decoded") from None
    except (OSError, ValueError, SyntaxError, struct.error, Image.UnidentifiedImageError) as e:
        raise ImageFetchError("MK_IMAGE_UNREADABLE", f"the image cannot be decoded ({e})") from None
    sx, sy = thumb.width / full_w, thumb.height / full_h
    if item.boxes:
        draw = ImageDraw.Draw(thumb)
        font = _font()
        for b in item.boxes:
            colour = _colour(b.label)
            x0, y0 = b.left * sx, b.top * sy
            x1, y1 = max(x0, (b.left + b.width) * sx), max(y0, (b.top + b.height) * sy)
            draw.rectangle((x0, y0, x1, y1), outline=colour, width=2)
            tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), b.label, font=font)
            th = ty1 - ty0 + 2
            ty = y0 - th if y0 - th >= 0 else y0
            draw.rectangle((x0, ty, x0 + (tx1 - tx0) + 4, ty + th), fill=colour)
            draw.text((x0 + 2, ty - ty0 + 1), b.label, fill="white", font=font)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue(), thumb.width, thumb.height


def _to_rgb(im: Any) -> Any:
    from PIL import Image

    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        back = Image.new("RGB", rgba.size, (255, 255, 255))
        back.paste(rgba, mask=rgba.getchannel("A"))
        return back
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits before converting, else everything is white.
        return im.point(lambda v: v / 256).convert("L").convert("RGB")
    return im.convert("RGB")


@dataclass(slots=True)
class _Thumb:
    uri: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None
    orientation: int = 1
    size: tuple[int, int] | None = None


def _render(source: ImageSource, item: ImageItem) -> tuple[_Thumb, tuple[str, str] | None]:
    try:
        data = source.fetch(item)
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageFetchError("MK_IMAGE_TOO_LARGE_TO_PREVIEW", f"more than {MAX_IMAGE_BYTES} bytes")
        jpeg, w, h = make_thumbnail(data, item)
    except ImageFetchError as e:
        return _Thumb(error=str(e)), (e.code, str(e))
    from .images import probe_bytes

    # The thumbnail shows the stored pixels (the frame the boxes are in); say when viewers turn the image.
    info = probe_bytes(data)
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return _Thumb(uri, w, h, orientation=info.orientation, size=(info.width, info.height)), None


# ------------------------------------------------------------------------------------------ sampling


@dataclass(slots=True)
class _Part:
    """One manifest's pass: its statistics, per-label samples and the items that have findings."""

    role: str
    path: str
    stats: ManifestStats
    samples: dict[str, list[ImageItem]] = field(default_factory=dict)
    flagged: list[ImageItem] = field(default_factory=list)


def _scan(role: str, path: str, per_label: int, flagged_lines: set[int], flagged_cap: int, seed: int,
          progress: Progress | None) -> _Part:
    ds = read_manifest(path, skip_invalid=True)
    acc = StatsAccumulator(path, ds.task.value)
    rng = random.Random(f"{seed}:{role}")
    samples: dict[str, list[ImageItem]] = {}
    seen: dict[str, int] = {}
    flagged: list[ImageItem] = []
    pending = 0
    for item in ds:
        acc.add(item)
        for lab in item.all_labels:
            # Reservoir sampling: every image of a label has the same chance, memory stays per_label.
            n = seen.get(lab, 0) + 1
            seen[lab] = n
            bucket = samples.setdefault(lab, [])
            if len(bucket) < per_label:
                bucket.append(item)
            else:
                j = rng.randrange(n)
                if j < per_label:
                    bucket[j] = item
        if item.line in flagged_lines and len(flagged) < flagged_cap:
            flagged.append(item)
        pending += 1
        if progress is not None and pending >= 1000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    note = ds.summary.notes.get("ERROR_INVALID_JSON_LINE")
    acc.result.invalid_lines = note.count if note else 0
    for bucket in samples.values():
        bucket.sort(key=lambda it: it.line or 0)
    return _Part(role, path, acc.result, samples, flagged)


# ------------------------------------------------------------------------------------------ the report


@dataclass(slots=True)
class ReportResult:
    """What :func:`write_html_report` wrote."""

    path: str
    size: int
    thumbnails: int
    placeholders: int
    findings: list[ReportFinding]
    stats: Stats

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "thumbnails": self.thumbnails,
                "placeholders": self.placeholders, "findings": len(self.findings)}


def write_html_report(manifest: str | os.PathLike[str], output: str | os.PathLike[str], *,
                      test: str | os.PathLike[str] | None = None, images: str | os.PathLike[str] | None = None,
                      s3_prefix: str | None = None, s3: Any = None, per_label: int = DEFAULT_PER_LABEL,
                      findings: Iterable[Any] | None = None, seed: int = 0,
                      progress: Progress | None = None) -> ReportResult:
    """Write the self-contained HTML report of ``manifest`` (and ``test``) to ``output``, atomically.

    Images come from the folder ``images`` (source-refs mapped below ``s3_prefix``) or, with an S3 client
    ``s3``, from the source-refs themselves. ``findings`` (objects or dicts with code, severity, line,
    manifest, message) default to the validator's. At most ``per_label`` images per label are shown.
    """
    if per_label < 1:
        raise ManifestKitError(f"--per-label must be at least 1, not {per_label}")
    if (images is None) == (s3 is None):
        raise ManifestKitError("say where the images are: a local folder (--images DIR) or S3 (--s3)")
    train_path = os.fspath(manifest)
    test_path = os.fspath(test) if test is not None else None
    verdict: str | None = None
    if images is not None:
        local = LocalImages(images, s3_prefix)
        source: ImageSource = local
        # The validator maps source-refs to files by the prefix; find it the way the gallery does.
        prefix = local.discover_prefix(read_manifest(train_path, skip_invalid=True))
    else:
        source, prefix = S3Images(s3), None
    if findings is None:
        # When no image of the manifest is in the folder, the validator checks the lines only: the gallery
        # already shows every missing image, and a finding per line would bury the rest.
        folder = os.fspath(images) if images is not None and prefix is not None else None
        raw, verdict = _run_validator(train_path, test_path, images=folder, s3_prefix=prefix if folder else None,
                                      s3=s3, progress=progress)
    else:
        raw = list(findings)
    found = _normalize_findings(raw, train_path, test_path)

    parts = [_scan("train", train_path, per_label, {f.line for f in found if f.line and f.manifest == "train"},
                   MAX_FLAGGED_THUMBNAILS, seed, progress)]
    if test_path is not None:
        parts.append(_scan("test", test_path, per_label,
                           {f.line for f in found if f.line and f.manifest == "test"},
                           MAX_FLAGGED_THUMBNAILS, seed, progress))
    stats = Stats(parts[0].stats, parts[1].stats if len(parts) > 1 else None)
    stats.flags = compute_flags(stats.train, stats.test)

    # Each image is decoded once, however many label galleries show it.
    todo: dict[tuple[str, int], ImageItem] = {}
    for part in parts:
        for bucket in part.samples.values():
            for it in bucket:
                todo.setdefault((part.role, it.line or 0), it)
        for it in part.flagged:
            todo.setdefault((part.role, it.line or 0), it)
    thumbs: dict[tuple[str, int], _Thumb] = {}
    known = {(f.code, f.manifest, f.line) for f in found}
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        futures = {key: pool.submit(_render, source, it) for key, it in sorted(todo.items())}
        for key, fut in futures.items():
            thumb, problem = fut.result()
            thumbs[key] = thumb
            if problem is not None:
                it = todo[key]
                if (problem[0], key[0], it.line) not in known:
                    found.append(ReportFinding(problem[0], "warning", problem[1], it.line, key[0], it.source_ref))
            if progress is not None:
                progress(1)

    document = _html(parts, stats, thumbs, found, per_label, verdict)
    out = os.fspath(output)
    data = document.encode("utf-8")
    with atomic_writer(out) as fp:
        fp.write(data)
    ok = sum(1 for t in thumbs.values() if t.uri is not None)
    return ReportResult(out, len(data), ok, len(thumbs) - ok, found, stats)


# ------------------------------------------------------------------------------------------ HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9}
header{background:#232f3e;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#d5dbe3}nav a{color:#ffb84d;margin-right:14px}
main{padding:8px 24px 40px}section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:12px 18px;
margin:16px 0}h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{flex:0 0 auto}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:264px;background:#fafbfc;border:1px solid #e1e4e8;border-radius:6px;padding:4px}
figure.bad{border-color:#d13212}figure:target,div.card:target{outline:3px solid #ff9900}
figure img{display:block;max-width:256px;max-height:256px;margin:0 auto}
figcaption{font-size:12px;word-break:break-all;padding:2px}.ph{width:256px;height:120px;display:flex;
align-items:center;justify-content:center;text-align:center;background:#fdecea;color:#8a1c0c;font-size:12px;
padding:4px;box-sizing:border-box}
.sev-error{color:#b0190b;font-weight:600}.sev-warning{color:#8a5a00;font-weight:600}.sev-info{color:#3b6ea5}
.tag{display:inline-block;border-radius:3px;padding:0 4px;margin:1px;color:#fff;font-size:11px}
.muted{color:#6a737d}code{font-size:12px}div.card{border:1px solid #e1e4e8;border-radius:6px;padding:6px;
margin:4px 0;background:#fafbfc}
"""
# The browser must not fetch anything: the file is meant to be mailed around and opened offline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _bar_chart(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
               colours: Sequence[str] = ("#4363d8", "#f58231")) -> str:
    """A horizontal bar chart as inline SVG: one row per category, one bar per series."""
    label_w, bar_w, value_w = 170, 300, 60
    bar_h, gap = 14, 8
    row_h = bar_h * len(series) + gap
    top = 26 + (16 if len(series) > 1 else 0)
    height = top + row_h * max(1, len(categories)) + 4
    width = label_w + bar_w + value_w
    peak = max((v for _, vals in series for v in vals), default=0) or 1
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
           f'<text x="0" y="16" font-size="14" font-weight="600" fill="#1d1d1f">{_e(title)}</text>']
    if len(series) > 1:
        x = label_w
        for i, (name, _) in enumerate(series):
            out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{colours[i % len(colours)]}"/>'
                       f'<text x="{x + 14}" y="33" font-size="11" fill="#444">{_e(name)}</text>')
            x += 14 + 8 * len(name) + 16
    for r, cat in enumerate(categories):
        y = top + r * row_h
        short = cat if len(cat) <= 24 else cat[:23] + "\u2026"
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h * len(series) / 2 + 4:.1f}" font-size="12" '
                   f'text-anchor="end" fill="#1d1d1f"><title>{_e(cat)}</title>{_e(short)}</text>')
        for i, (name, vals) in enumerate(series):
            v = vals[r]
            w = bar_w * v / peak
            by = y + i * bar_h
            out.append(f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar_h - 2}" '
                       f'fill="{colours[i % len(colours)]}"><title>{_e(cat)} ({_e(name)}): {v}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{by + bar_h - 4}" font-size="11" fill="#444">{v}</text>')
    out.append("</svg>")
    return "".join(out)


def _charts(stats: Stats) -> str:
    parts = [("train", stats.train)] + ([("test", stats.test)] if stats.test is not None else [])
    labels = stats.labels
    charts = [_bar_chart("Images per label", labels,
                         [(n, [p.labels[k].images if k in p.labels else 0 for k in labels]) for n, p in parts])]
    detection = any(p.detection for _, p in parts)
    if detection:
        charts.append(_bar_chart("Boxes per label", labels,
                                 [(n, [p.labels[k].boxes if k in p.labels else 0 for k in labels])
                                  for n, p in parts]))
        for title, attr in (("Boxes per image", "boxes_per_image"), ("Box area / image area", "box_area"),
                            ("Box aspect (width:height)", "box_aspect")):
            cats = list(getattr(stats.train, attr))
            charts.append(_bar_chart(title, cats, [(n, [getattr(p, attr)[c] for c in cats]) for n, p in parts]))
    # Image-level manifests carry no image size: a chart of "unknown" only would say nothing.
    if any(sum(p.image_sizes.values()) > p.image_sizes["unknown"] for _, p in parts):
        cats = [c for c in stats.train.image_sizes if c != "unknown" or any(p.image_sizes[c] for _, p in parts)]
        charts.append(_bar_chart("Image size (longest side, px)", cats,
                                 [(n, [p.image_sizes[c] for c in cats]) for n, p in parts]))
    return "".join(f'<div class="chart">{c}</div>' for c in charts)


def _summary_table(stats: Stats) -> str:
    parts = [("train", stats.train)] + ([("test", stats.test)] if stats.test is not None else [])
    rows: list[tuple[str, list[str]]] = [
        ("manifest", [p.path for _, p in parts]),
        ("task", [p.task for _, p in parts]),
        ("images", [str(p.images) for _, p in parts]),
        ("labels", [str(len(p.labels)) for _, p in parts]),
    ]
    if any(p.detection for _, p in parts):
        rows += [("boxes", [str(p.boxes) for _, p in parts]),
                 ("boxes per image (mean / max)",
                  [f"{p.boxes_per_image_mean:.2f} / {p.max_boxes_on_image}" for _, p in parts]),
                 ("boxes too small for Rekognition", [str(p.too_small_boxes) for _, p in parts])]
    rows += [("width range (px)", [f"{p.width_range[0]}-{p.width_range[1]}" if p.width_range else "unknown"
                                   for _, p in parts]),
             ("height range (px)", [f"{p.height_range[0]}-{p.height_range[1]}" if p.height_range else "unknown"
                                    for _, p in parts]),
             ("unreadable lines", [str(p.invalid_lines) for _, p in parts])]
    head = "".join(f'<th class="n">{_e(n)}</th>' for n, _ in parts)
    body = "".join(f"<tr><th>{_e(k)}</th>" + "".join(f'<td class="n">{_e(v)}</td>' for v in vals) + "</tr>"
                   for k, vals in rows)
    label_head = "".join(f'<th class="n">{_e(n)} images</th>' + (f'<th class="n">{_e(n)} boxes</th>'
                                                                   if p.detection else "") for n, p in parts)
    label_rows = []
    for i, lab in enumerate(stats.labels):
        cells = []
        for _, p in parts:
            ls = p.labels.get(lab)
            cells.append(f'<td class="n">{ls.images if ls else 0}</td>')
            if p.detection:
                cells.append(f'<td class="n">{ls.boxes if ls else 0}</td>')
        label_rows.append(f'<tr><td><a href="#label-{i}">{_e(lab)}</a></td>{"".join(cells)}</tr>')
    return (f'<table><tr><th></th>{head}</tr>{body}</table><h3>Labels</h3>'
            f'<table><tr><th>label</th>{label_head}</tr>{"".join(label_rows)}</table>')


def _figure(role: str, item: ImageItem, thumb: _Thumb, anchor: bool, findings: Sequence[ReportFinding]) -> str:
    ident = f' id="{_anchor(role, item.line or 0)}"' if anchor else ""
    cls = ' class="bad"' if thumb.uri is None or any(f.severity == "error" for f in findings) else ""
    if thumb.uri is not None:
        alt = f"{role} line {item.line}: {', '.join(item.all_labels)}"
        pic = (f'<img src="{thumb.uri}" width="{thumb.width}" height="{thumb.height}" alt="{_e(alt)}" '
               '>')
    else:
        pic = f'<div class="ph">image not available<br>{_e(thumb.error or "")}</div>'
    tags = "".join(f'<span class="tag" style="background:{_colour(lab)}">{_e(lab)}</span>'
                   for lab in item.all_labels)
    notes = ""
    if thumb.orientation != 1:
        notes += (f'<br><span class="sev-warning">EXIF orientation {thumb.orientation}: shown as stored, '
                  "viewers turn it</span>")
    for f in findings[:3]:
        notes += f'<br><span class="sev-{_e(f.severity)}">{_e(f.code)}</span>'
    if len(findings) > 3:
        notes += f'<br><span class="muted">+{len(findings) - 3} more</span>'
    # The stored size: from the manifest's image_size, else (image-level lines) from the image itself.
    wh = (item.width, item.height) if item.width and item.height else thumb.size
    size = f" {wh[0]}x{wh[1]}" if wh else ""
    return (f'<figure{ident}{cls}>{pic}<figcaption>{tags}<br><span class="muted">{_e(role)} line '
            f'{item.line}{_e(size)}</span> <code>{_e(item.source_ref or item.path)}</code>{notes}</figcaption>'
            "</figure>")


def _html(parts: list[_Part], stats: Stats, thumbs: dict[tuple[str, int], _Thumb],
          found: list[ReportFinding], per_label: int, verdict: str | None) -> str:
    by_line: dict[tuple[str, int], list[ReportFinding]] = {}
    for f in found:
        if f.line is not None:
            by_line.setdefault((f.manifest, f.line), []).append(f)
    anchors: set[str] = set()

    def fig(role: str, it: ImageItem) -> str:
        a = _anchor(role, it.line or 0)
        first = a not in anchors
        anchors.add(a)
        return _figure(role, it, thumbs[(role, it.line or 0)], first, by_line.get((role, it.line or 0), []))

    gallery = []
    for i, lab in enumerate(stats.labels):
        block = [f'<h3 id="label-{i}"><span class="tag" style="background:{_colour(lab)}">&#9632;</span> '
                 f"{_e(lab)}</h3>"]
        for part in parts:
            items = part.samples.get(lab, [])
            total = part.stats.labels[lab].images if lab in part.stats.labels else 0
            block.append(f'<p class="muted">{_e(part.role)}: {len(items)} of {total} image'
                         f'{"s" if total != 1 else ""} shown</p>')
            if items:
                block.append('<div class="grid">' + "".join(fig(part.role, it) for it in items) + "</div>")
        gallery.append("".join(block))

    flagged_figs = [fig(part.role, it) for part in parts for it in part.flagged
                    if _anchor(part.role, it.line or 0) not in anchors]

    ordered = sorted(found, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.manifest, f.line or 0, f.code))
    listed = ordered[:MAX_FINDINGS_LISTED]
    # Findings whose line has no thumbnail still link somewhere: a text card for the line.
    cards = []
    for f in listed:
        a = f.anchor
        if a is not None and a not in anchors:
            anchors.add(a)
            ref = f" <code>{_e(f.source_ref)}</code>" if f.source_ref else ""
            codes = ", ".join(dict.fromkeys(x.code for x in by_line.get((f.manifest, f.line or 0), [])))
            cards.append(f'<div class="card" id="{a}">{_e(f.manifest)} line {f.line}{ref}: {_e(codes)}</div>')
    rows = []
    for f in listed:
        where = (f'<a href="#{f.anchor}">{_e(f.manifest)} line {f.line}</a>' if f.anchor else
                 f'<span class="muted">{_e(f.manifest)}</span>')
        rows.append(f'<tr><td class="sev-{_e(f.severity)}">{_e(f.severity)}</td><td><code>{_e(f.code)}</code></td>'
                    f"<td>{where}</td><td>{_e(f.message)}</td></tr>")
    more = (f'<p class="muted">{len(ordered) - len(listed)} more findings not listed; run '
            "<code>manifestkit validate</code> for all of them.</p>" if len(ordered) > len(listed) else "")
    counts: dict[str, int] = {}
    for f in found:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    count_text = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: _SEVERITY_ORDER.get(s, 3)))
    verdict_html = f"<p><strong>Validator verdict: {_e(verdict)}</strong></p>" if verdict else ""
    findings_html = verdict_html + (f"<p>{_e(count_text)}</p><table><tr><th>severity</th><th>code</th><th>where</th>"
                     f"<th>message</th></tr>{''.join(rows)}</table>{more}" if found
                                    else "<p>No findings.</p>")

    flags = "".join(f'<li><span class="sev-{_e(fl.severity)}">{_e(fl.severity)}</span> <code>{_e(fl.code)}</code> '
                    f"({_e(fl.manifest)}) {_e(fl.message)}</li>" for fl in stats.flags)
    names = " and ".join(f"{_e(p.role)}: <code>{_e(p.path)}</code>" for p in parts)
    title = os.path.basename(parts[0].path)
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>manifestkit report: {_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>Dataset report</h1><p>{names}</p><p>{stats.train.images} training images, "
        f"{len(stats.labels)} labels; up to {per_label} images shown per label</p>",
        '<nav><a href="#summary">Summary</a><a href="#charts">Charts</a><a href="#findings">Findings</a>'
        '<a href="#gallery">Gallery</a></nav></header><main>',
        f'<section id="summary"><h2>Summary</h2>{_summary_table(stats)}</section>',
        f'<section id="flags"><h2>Flags</h2>{"<ul>" + flags + "</ul>" if flags else "<p>No flags.</p>"}</section>',
        f'<section id="charts"><h2>Charts</h2><div class="charts">{_charts(stats)}</div></section>',
        f'<section id="findings"><h2>Findings</h2>{findings_html}</section>',
        f'<section id="gallery"><h2>Gallery</h2>{"".join(gallery)}</section>',
        ('<section id="flagged"><h2>Other images with findings</h2><div class="grid">'
         + "".join(flagged_figs) + "</div>" + "".join(cards) + "</section>") if flagged_figs or cards else "",
        "</main></body></html>\n",
    ])



def write_sample_report(sample_dir: str | os.PathLike[str], build_dir: str | os.PathLike[str], *,
                        per_label: int = DEFAULT_PER_LABEL) -> ReportResult:
    """The report of the repository's sample data (``make demo``): ``build_dir/report.html``.

    Converts ``sample_dir/coco`` into ``build_dir/sample-coco.manifest`` (fixed creation date, so the files
    are reproducible) and writes the report of that manifest with its images.
    """
    from .convert import convert_coco

    coco = os.path.join(os.fspath(sample_dir), "coco")
    build = os.fspath(build_dir)
    prefix = "s3://manifestkit-demo/coco/"
    manifest = os.path.join(build, "sample-coco.manifest")
    convert_coco(os.path.join(coco, "annotations.json"), manifest, s3_prefix=prefix,
                 images=os.path.join(coco, "images"), creation_date="2024-05-01T12:00:00")
    return write_html_report(manifest, os.path.join(build, "report.html"), images=os.path.join(coco, "images"),
                             s3_prefix=prefix, per_label=per_label)
