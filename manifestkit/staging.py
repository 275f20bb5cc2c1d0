"""Stage a dataset in S3: upload every image the manifests name to exactly its ``s3://`` place, then the
manifests themselves.

Guarantees:

- Images first, manifests last; a manifest is uploaded only when every image it names is in place, so
  S3 never holds a manifest pointing at a missing object.
- Idempotent and resumable: an object whose size and checksum already match the local file is skipped.
  The checksum is the MD5 that S3 reports as the ETag of a single-part upload; where the ETag is not an
  MD5 (SSE-KMS, multipart uploads by other tools) the SHA-256 manifestkit stores in the object metadata
  ``x-amz-meta-manifestkit-sha256`` decides. One ListObjectsV2 listing over the common prefix replaces a
  HEAD per file.
- Buckets are checked before any upload: a missing bucket is an error naming it (unless asked to create
  it), and a bucket outside the Rekognition region is an error.

Manifests are streamed; memory grows with the number of distinct images (a key per image), not with the
size of the manifest lines.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import random
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from .aws import _HINTS, aws_errors
from .errors import ManifestError, ManifestKitError
from .manifest import atomic_writer
from .uris import normalize_prefix, parse_s3_uri

__all__ = [
    "DEFAULT_WORKERS",
    "SHA256_METADATA",
    "Failure",
    "ManifestOutcome",
    "StageResult",
    "bucket_region",
    "default_manifest_target",
    "stage",
    "write_stage_report",
]

#: Object metadata key (sent as ``x-amz-meta-manifestkit-sha256``) holding the file's SHA-256, hex.
SHA256_METADATA = "manifestkit-sha256"
#: Uploads wait on the network, not the CPU, so even a 2-core machine keeps 16 requests in flight (the AWS
#: CLI keeps 10); the cap stays well below S3's per-prefix request rates.
DEFAULT_WORKERS = min(32, max(16, 4 * (os.cpu_count() or 1)))

#: ``progress(done_files, done_bytes, total_files, total_bytes)``; called with running totals.
Progress = Callable[[int, int, int, int], None]
ClientFactory = Callable[[str], Any]

_TRANSIENT_CODES = {
    "RequestTimeout", "RequestTimeoutException", "SlowDown", "Throttling", "ThrottlingException",
    "InternalError", "ServiceUnavailable", "503", "500", "RequestLimitExceeded", "PriorRequestNotComplete",
}
_CHUNK = 1 << 20


class _Ref(msgspec.Struct):
    source_ref: Any = msgspec.field(name="source-ref", default=None)


_decode_ref = msgspec.json.Decoder(_Ref).decode


@dataclass
class Failure:
    """An object that could not be staged: its ``s3://`` URI, the local file and why."""

    target: str
    path: str | None
    reason: str


@dataclass
class ManifestOutcome:
    """What happened to one manifest: ``status`` is uploaded, unchanged, withheld or planned (dry run)."""

    path: str
    target: str
    status: str
    images: int = 0
    failed_images: int = 0
    reason: str | None = None


@dataclass
class StageResult:
    """The summary of a :func:`stage` run. ``ok`` is False when any image or manifest was not staged."""

    images: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes_total: int = 0
    bytes_uploaded: int = 0
    failed: list[Failure] = field(default_factory=list)
    manifests: list[ManifestOutcome] = field(default_factory=list)
    buckets: dict[str, str] = field(default_factory=dict)
    created_buckets: list[str] = field(default_factory=list)
    lines_without_image: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and all(m.status != "withheld" for m in self.manifests)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data (every failure included)."""
        return {"ok": self.ok, "dry_run": self.dry_run, "images": self.images, "uploaded": self.uploaded,
                "skipped": self.skipped, "failed": len(self.failed), "bytes_total": self.bytes_total,
                "bytes_uploaded": self.bytes_uploaded, "buckets": dict(self.buckets),
                "created_buckets": list(self.created_buckets), "lines_without_image": self.lines_without_image,
                "manifests": [asdict(m) for m in self.manifests], "failures": [asdict(f) for f in self.failed]}


def write_stage_report(result: StageResult, path: str | os.PathLike[str]) -> None:
    """Write ``result.to_dict()`` as JSON at ``path`` (atomically)."""
    with atomic_writer(path, "w") as fp:
        json.dump(result.to_dict(), fp, indent=2, ensure_ascii=False)
        fp.write("\n")


@dataclass(slots=True)
class _Entry:
    bucket: str
    key: str
    manifests: int  # bit mask of the manifests naming this image
    size: int = 0
    error: str | None = None
    local: str | None = None  # kept for failures only; derived from the key for uploads


def default_manifest_target(manifest: str | os.PathLike[str], *, s3_prefix: str | None,
                            manifest_to: str | None, image_bucket: str | None, many: bool) -> str:
    """Where a manifest goes: ``--manifest-to`` (a folder if it ends in ``/``), else ``<prefix>manifests/``."""
    name = os.path.basename(os.fspath(manifest))
    if manifest_to:
        bucket, key = parse_s3_uri(manifest_to)
        if not key or key.endswith("/"):
            return f"s3://{bucket}/{key}{name}"
        if many:
            raise ManifestKitError(f"--manifest-to {manifest_to} names one object but {name} is one of several "
                                   "manifests: end it with '/' to upload them all into that folder")
        return manifest_to
    if s3_prefix:
        return normalize_prefix(s3_prefix) + "manifests/" + name
    if image_bucket:
        return f"s3://{image_bucket}/manifests/{name}"
    raise ManifestKitError(f"{name} names no image, so its destination is unknown: pass --manifest-to "
                           "or --s3-prefix")


def bucket_region(s3: Any, bucket: str) -> str | None:
    """The region of ``bucket`` (HeadBucket's x-amz-bucket-region, else GetBucketLocation); None if missing."""
    import botocore.exceptions as bex

    try:
        resp = s3.head_bucket(Bucket=bucket)
        region = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    except bex.ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        code = str(e.response.get("Error", {}).get("Code", ""))
        if meta.get("HTTPStatusCode") == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            return None
        # A 403 (no s3:ListBucket) or 301 (other region) still names the region in its headers.
        region = meta.get("HTTPHeaders", {}).get("x-amz-bucket-region")
        if not region:
            with aws_errors(f"finding the region of bucket {bucket}"):
                raise
    if region:
        return str(region)
    with aws_errors(f"finding the region of bucket {bucket}"):
        loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    # GetBucketLocation answers None for us-east-1 and the legacy "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc)


def stage(manifests: Sequence[str | os.PathLike[str]], images: str | os.PathLike[str], *, s3: Any,
          s3_prefix: str | None = None, manifest_to: str | None = None, workers: int | None = None,
          dry_run: bool = False, create_bucket: bool = False, region: str | None = None,
          client_for_region: ClientFactory | None = None, retries: int = 4, retry_delay: float = 0.5,
          progress: Progress | None = None) -> StageResult:
    """Upload the images named by ``manifests`` from ``images``, then the manifests; see the module doc.

    Args:
        manifests: manifest files; each line's ``source-ref`` ``s3://BUCKET/KEY`` names one image.
        images: the local folder; the image of ``s3://BUCKET/KEY`` is ``images/REL``, REL being KEY
            without ``s3_prefix`` (the whole key when no prefix is given).
        s3: a boto3 S3 client (thread-safe; give it a connection pool at least ``workers`` wide).
        manifest_to: where manifests go (an ``s3://`` folder ending in ``/``, or one object for one
            manifest); default ``<s3_prefix>manifests/<file name>``.
        region: the Rekognition region; a bucket elsewhere is an error before any upload (None: no check).
        client_for_region: makes an S3 client for a region, used for buckets outside ``s3``'s region.
        retries, retry_delay: extra attempts (exponential backoff with jitter from ``retry_delay``
            seconds) for transient failures, on top of botocore's own retries.
        progress: called with running totals of files and bytes handled.

    Raises:
        ManifestKitError: bad arguments, a missing folder, manifest or bucket, or a region mismatch.
        AwsError: a request that every image depends on failed (bucket lookup, creation).
    """
    root = os.path.realpath(os.fspath(images))
    if not os.path.isdir(root):
        raise ManifestKitError(f"the images folder {os.fspath(images)} does not exist or is not a folder")
    paths = [os.fspath(m) for m in manifests]
    if not paths:
        raise ManifestKitError("no manifest given")
    for p in paths:
        if not os.path.isfile(p):
            raise ManifestError("manifest not found", path=p)
    prefix = normalize_prefix(s3_prefix) if s3_prefix else None
    workers = workers or DEFAULT_WORKERS
    if workers < 1:
        raise ManifestKitError(f"workers must be at least 1, not {workers}")

    result = StageResult(dry_run=dry_run)
    entries, per_manifest, first_bucket, common = _collect(paths, root, prefix, result)
    result.images = len(entries)
    targets = [default_manifest_target(p, s3_prefix=prefix, manifest_to=manifest_to,
                                       image_bucket=first_bucket[i], many=len(paths) > 1)
               for i, p in enumerate(paths)]
    seen_targets: dict[str, str] = {}
    for p, t in zip(paths, targets):
        if t in seen_targets:
            raise ManifestKitError(f"{seen_targets[t]} and {p} would both be uploaded to {t}: give them "
                                   "different file names or use --manifest-to")
        seen_targets[t] = p

    # Every bucket is checked before the first upload, so a bad bucket or region costs nothing.
    buckets = sorted({e.bucket for e in entries if e.error is None}
                     | {parse_s3_uri(t)[0] for t in targets})
    for b in buckets:
        result.buckets[b] = _ensure_bucket(s3, b, region=region, create=create_bucket, dry_run=dry_run,
                                           client_for_region=client_for_region, result=result)

    clients = {b: _client_for(s3, r, client_for_region) for b, r in result.buckets.items()}
    todo = [e for e in entries if e.error is None]
    result.bytes_total = sum(e.size for e in todo)
    # A bucket created just now is empty: nothing to list, nothing to compare.
    listings = {b: {} if b in result.created_buckets else
                _listing(clients[b], b, common.get(b, ""), {e.key for e in todo if e.bucket == b})
                for b in {e.bucket for e in todo}}

    tracker = _Tracker(len(entries), result.bytes_total, progress)
    failed_per_manifest = [0] * len(paths)

    def failed(e: _Entry, reason: str, local: str | None) -> None:
        result.failed.append(Failure(f"s3://{e.bucket}/{e.key}", local, reason))
        for i in range(len(paths)):
            if e.manifests >> i & 1:
                failed_per_manifest[i] += 1

    for e in entries:
        if e.error is not None:
            failed(e, e.error, e.local)
            tracker.add(1, 0)
    del entries  # the work list keeps what is still needed

    pkey = parse_s3_uri(prefix)[1] if prefix else ""

    def work(e: _Entry) -> tuple[_Entry, str]:
        local = os.path.join(root, *e.key[len(pkey):].split("/"))
        return e, _stage_one(clients[e.bucket], e.bucket, e.key, local, e.size, listings.get(e.bucket),
                             dry_run, retries, retry_delay)

    for e, outcome, reason in _run_parallel(work, todo, workers):
        if outcome == "failed":
            failed(e, reason, os.path.join(root, *e.key[len(pkey):].split("/")))
        elif outcome == "skipped":
            result.skipped += 1
        else:
            result.uploaded += 1
            result.bytes_uploaded += e.size
        tracker.add(1, e.size)

    result.failed.sort(key=lambda f: f.target)  # completion order is random; reports should not be
    for i, (p, t) in enumerate(zip(paths, targets)):
        count = per_manifest[i]
        if failed_per_manifest[i]:
            result.manifests.append(ManifestOutcome(p, t, "withheld", count, failed_per_manifest[i],
                                                    f"{failed_per_manifest[i]} of its images could not be "
                                                    "staged"))
            continue
        if dry_run:
            result.manifests.append(ManifestOutcome(p, t, "planned", count))
            continue
        bucket, key = parse_s3_uri(t)
        try:
            status = _stage_one(clients.get(bucket, s3), bucket, key, p, os.path.getsize(p), None, False,
                                retries, retry_delay)
        except _Failed as exc:
            result.manifests.append(ManifestOutcome(p, t, "withheld", count, 0, f"upload failed: {exc}"))
            continue
        result.manifests.append(ManifestOutcome(p, t, "unchanged" if status == "skipped" else "uploaded", count))
    return result


# ------------------------------------------------------------------------------------------ collecting


def _collect(paths: list[str], root: str, prefix: str | None, result: StageResult
             ) -> tuple[list[_Entry], list[int], list[str | None], dict[str, str]]:
    """Stream the manifests into one entry per distinct image; note each manifest's first bucket.

    Per image only the bucket (shared), the key, a manifest bit mask and the size are kept; the local
    path is derived again from the key when the image is uploaded.
    """
    entries: dict[str, dict[str, _Entry]] = {}  # bucket -> key -> entry; no tuple per image
    per_manifest = [0] * len(paths)
    first_bucket: list[str | None] = [None] * len(paths)
    common: dict[str, str] = {}
    pbucket, pkey = parse_s3_uri(prefix) if prefix else (None, "")
    checker = _PathChecker(root)
    names: dict[str, str] = {}
    for i, path in enumerate(paths):
        bit = 1 << i
        for raw in _lines(path):
            ref = _source_ref(raw)
            if ref is None:
                result.lines_without_image += 1
                continue
            try:
                bucket, key = parse_s3_uri(ref)
            except ManifestKitError:
                result.lines_without_image += 1
                continue
            per_manifest[i] += 1
            bucket = names.setdefault(bucket, bucket)  # one string per bucket, not one per line
            by_key = entries.get(bucket)
            if by_key is None:
                by_key = entries[bucket] = {}
            if first_bucket[i] is None:
                first_bucket[i] = bucket
            found = by_key.get(key)
            if found is not None:
                found.manifests |= bit
                continue
            entry = by_key[key] = _Entry(bucket, key, bit)
            if prefix is not None and (bucket != pbucket or not key.startswith(pkey)):
                entry.error = f"outside --s3-prefix {prefix}: it has no place under the images folder"
                continue
            local, size, why = checker.check(key[len(pkey):])
            if why:
                entry.local, entry.error = local, why
                continue
            entry.size = size
            c = common.get(bucket)
            if c is None:
                common[bucket] = key
            elif not key.startswith(c):
                common[bucket] = os.path.commonprefix([c, key])
    # List whole "folders": cut each common prefix back to its last '/'.
    common = {b: c[: c.rfind("/") + 1] for b, c in common.items()}
    flat = [e for by_key in entries.values() for e in by_key.values()]
    return flat, per_manifest, first_bucket, common


class _PathChecker:
    """Maps a key's relative part to a regular file inside ``root``, resolving each folder only once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.inside = root + os.sep
        self.folders: dict[str, bool] = {}

    def local(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def check(self, rel: str) -> tuple[str | None, int, str]:
        """``(local path, size, "")`` for a good file, else ``(local path or None, 0, why)``."""
        local, why = _local_path(self.root, rel, self.folders)
        if local is None:
            return None, 0, why
        try:
            st = os.lstat(local)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(local)
                if not real.startswith(self.inside):
                    return local, 0, f"{local} is a symbolic link to outside the images folder"
                st = os.stat(local)
        except FileNotFoundError:
            return local, 0, f"not found: {local}"
        except OSError as e:
            return local, 0, f"cannot read {local}: {e.strerror or e}"
        if not stat.S_ISREG(st.st_mode):
            return local, 0, f"not a file: {local}"
        return local, st.st_size, ""


def _lines(path: str) -> Iterator[bytes]:
    try:
        fp = open(path, "rb")
    except OSError as e:
        raise ManifestError(f"cannot open the manifest ({e.strerror or e})", path=path) from None
    with fp:
        for n, raw in enumerate(fp):
            if n == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.strip():
                yield raw


def _source_ref(raw: bytes) -> str | None:
    try:
        ref = _decode_ref(raw).source_ref
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return ref if isinstance(ref, str) else None


def _local_path(root: str, rel: str, folders: dict[str, bool] | None = None) -> tuple[str | None, str]:
    """``root/rel`` if ``rel`` is a plain relative path whose folder stays inside ``root``; else None and why.

    ``folders`` caches, per local folder, whether it resolves inside ``root`` (symbolic links included).
    """
    parts = rel.split("/")
    if not rel or rel.endswith("/"):
        return None, f"the key part {rel!r} names a folder, not a file"
    if rel.startswith("/") or "\\" in rel or any(p in ("..", ".") for p in parts) or os.path.isabs(rel):
        return None, f"the key part {rel!r} escapes the images folder (absolute path, '..' or '\\')"
    local = os.path.join(root, *parts)
    folder = os.path.dirname(local)
    ok = folders.get(folder) if folders is not None else None
    if ok is None:
        real = os.path.realpath(folder)
        ok = real == root or real.startswith(root + os.sep)
        if folders is not None:
            folders[folder] = ok
    if not ok:
        return None, f"{local} resolves outside the images folder (a symbolic link?)"
    return local, ""


# ------------------------------------------------------------------------------------------ buckets


def _client_for(s3: Any, region: str, factory: ClientFactory | None) -> Any:
    if factory is None or region == getattr(s3.meta, "region_name", None):
        return s3
    return factory(region)


def _ensure_bucket(s3: Any, bucket: str, *, region: str | None, create: bool, dry_run: bool,
                   client_for_region: ClientFactory | None, result: StageResult) -> str:
    found = bucket_region(s3, bucket)
    if found is None:
        if not create:
            raise ManifestKitError(f"the bucket {bucket} does not exist: create it, check the name in the "
                                   "manifests and --s3-prefix, or pass --create-bucket")
        where = region or getattr(s3.meta, "region_name", None) or "us-east-1"
        if not dry_run:
            client = _client_for(s3, where, client_for_region)
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if where != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": where}
            with aws_errors(f"creating bucket {bucket} in {where}"):
                client.create_bucket(**kwargs)
        result.created_buckets.append(bucket)
        return where
    if region is not None and found != region:
        raise ManifestKitError(f"the bucket {bucket} is in {found} but Rekognition runs in {region}: "
                               f"Custom Labels reads S3 in its own region, so use --region {found} "
                               f"or a bucket in {region}")
    return found


def _listing(s3: Any, bucket: str, prefix: str, wanted: set[str]) -> dict[str, tuple[int, str]] | None:
    """``key -> (size, etag)`` of the wanted objects under ``prefix``; None if listing is not allowed."""
    import botocore.exceptions as bex

    if not wanted:
        return {}
    found: dict[str, tuple[int, str]] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                if obj["Key"] in wanted:
                    found[obj["Key"]] = (int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))
    except bex.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("AccessDenied", "403"):
            return None  # no s3:ListBucket: fall back to a HEAD per object
        with aws_errors(f"listing s3://{bucket}/{prefix}"):
            raise
    return found


# ------------------------------------------------------------------------------------------ uploading


def _hashes(path: str) -> tuple[str, str]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def _remote(s3: Any, bucket: str, key: str) -> tuple[int, str] | None:
    import botocore.exceptions as bex

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except bex.ClientError as e:
        if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise
    return int(head["ContentLength"]), str(head.get("ETag", "")).strip('"')


def _unchanged(s3: Any, bucket: str, key: str, size: int, md5: str, sha: str,
               remote: tuple[int, str] | None) -> bool:
    if remote is None or remote[0] != size:
        return False
    if _is_md5(remote[1]):
        return remote[1] == md5
    # Not an MD5 ETag (SSE-KMS, multipart): trust only the SHA-256 we stored at upload.
    head = s3.head_object(Bucket=bucket, Key=key)
    return bool(head.get("Metadata", {}).get(SHA256_METADATA) == sha)


def _stage_one(s3: Any, bucket: str, key: str, local: str, size: int,
               listing: dict[str, tuple[int, str]] | None, dry_run: bool, retries: int, retry_delay: float
               ) -> str:
    """Upload one file unless unchanged; returns uploaded/skipped, or raises a _Failed."""
    import botocore.exceptions as bex

    def attempt() -> str:
        md5, sha = _hashes(local)
        remote = listing.get(key) if listing is not None else _remote(s3, bucket, key)
        if _unchanged(s3, bucket, key, size, md5, sha, remote):
            return "skipped"
        if dry_run:
            return "uploaded"
        ctype = mimetypes.guess_type(local)[0] or "application/octet-stream"
        with open(local, "rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=ctype,
                          ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode("ascii"),
                          Metadata={SHA256_METADATA: sha})
        return "uploaded"

    try:
        return _with_retries(attempt, retries, retry_delay)
    except bex.ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        # A bare 403 (no error body, as for HEAD or some proxies) is a refusal like AccessDenied.
        hint = _HINTS.get("AccessDenied" if code in ("403", "Forbidden") else code)
        reason = f"{code}: {err.get('Message') or code}" + (f" ({hint})" if hint else "")
        raise _Failed(reason) from None
    except bex.BotoCoreError as e:
        raise _Failed(str(e)) from None
    except OSError as e:
        raise _Failed(f"cannot read {local}: {e.strerror or e}") from None


class _Failed(Exception):
    """One object could not be staged; ``str()`` is the reason."""


def _transient(exc: BaseException) -> bool:
    import botocore.exceptions as bex

    if isinstance(exc, (bex.ConnectionError, bex.HTTPClientError)):
        return True
    if isinstance(exc, bex.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _TRANSIENT_CODES or int(status) >= 500
    return False


def _with_retries(fn: Callable[[], str], retries: int, delay: float) -> str:
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as e:
            if attempt >= retries or not _transient(e):
                raise
            # Full jitter keeps a pool of workers from retrying in lockstep after a shared hiccup.
            time.sleep(random.uniform(0, min(20.0, delay * (2 ** attempt))))
            attempt += 1


def _run_parallel(work: Callable[[_Entry], tuple[_Entry, str]], todo: list[_Entry],
                  workers: int) -> Iterator[tuple[_Entry, str, str]]:
    """Run ``work`` over ``todo`` with at most a few tasks queued per worker (flat memory).

    A _Failed becomes a "failed" outcome; anything else (Ctrl-C, a bug) cancels what is queued and
    propagates after the running uploads finish, so a re-run resumes from what reached S3.
    """
    window = workers * 4
    pending: dict[Future[tuple[_Entry, str]], _Entry] = {}
    it = iter(todo)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="manifestkit-stage")
    try:
        while True:
            while len(pending) < window:
                e = next(it, None)
                if e is None:
                    break
                pending[pool.submit(work, e)] = e
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                e = pending.pop(fut)
                try:
                    entry, outcome = fut.result()
                except _Failed as f:
                    yield e, "failed", str(f)
                else:
                    yield entry, outcome, ""
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class _Tracker:
    """Serialises progress calls from worker threads and keeps the running totals."""

    def __init__(self, files: int, nbytes: int, progress: Progress | None) -> None:
        self.total_files, self.total_bytes = files, nbytes
        self.files = self.bytes = 0
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, files: int, nbytes: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.files += files
            self.bytes += nbytes
            self.progress(self.files, self.bytes, self.total_files, self.total_bytes)
