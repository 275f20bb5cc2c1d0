"""``s3://bucket/key`` URIs: parsing, checking and joining. Pure; no AWS calls."""

from __future__ import annotations

import re

from .errors import ManifestKitError

__all__ = ["join_s3", "normalize_prefix", "parse_s3_uri", "relative_key"]

# Rekognition's S3Object.Bucket shape: 3..255 of [0-9A-Za-z.\-_] (legacy bucket names included).
_BUCKET = re.compile(r"^[0-9A-Za-z.\-_]{3,255}$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``. Raises ManifestKitError if it is not one."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ManifestKitError(f"not an S3 URI (expected s3://BUCKET/PREFIX/): {uri!r}")
    rest = uri[5:]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ManifestKitError(f"invalid S3 bucket name {bucket!r} in {uri!r}")
    return bucket, key


def normalize_prefix(uri: str) -> str:
    """Check an ``s3://bucket/prefix/`` URI and make it end in ``/`` (a folder), as users mean it."""
    bucket, key = parse_s3_uri(uri)
    if key and not key.endswith("/"):
        key += "/"
    return f"s3://{bucket}/{key}"


def join_s3(prefix: str, relpath: str) -> str:
    """``prefix`` (normalised, ending in ``/``) plus a relative path with ``/`` separators."""
    return prefix + relpath


def relative_key(source_ref: str, prefix: str | None) -> str | None:
    """The path of ``source_ref`` below ``prefix``; the whole key when no prefix; None if outside it."""
    if prefix is None:
        try:
            return parse_s3_uri(source_ref)[1]
        except ManifestKitError:
            return None
    if source_ref.startswith(prefix):
        return source_ref[len(prefix):]
    return None
