"""Image checks: Rekognition's limits on the real image (local file or S3 object), from its header only."""

from __future__ import annotations

import os
from typing import Any

from ..aws import aws_errors
from ..errors import ImageError
from ..images import SUPPORTED_FORMATS, ImageInfo, probe_bytes, probe_file

__all__ = ["MAX_IMAGE_BYTES", "S3_HEAD_BYTES", "image_findings", "local_image_path", "probe_local", "probe_s3"]

MAX_IMAGE_BYTES = 15 * 1024 * 1024
MIN_SIDE, MAX_SIDE, MAX_ASPECT = 64, 4096, 20
S3_HEAD_BYTES = 64 * 1024
_S3_RETRY_BYTES = 1024 * 1024

# Outcomes of a probe that are not an ImageInfo.
NOT_FOUND, DENIED = "not_found", "denied"


def local_image_path(root: str, rel: str) -> str | None:
    """``root/rel`` if ``rel`` stays inside ``root`` (no absolute path, no ``..``), else None."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or os.path.isabs(rel):
        return None
    parts = rel.replace("\\", "/").split("/")
    if any(p == ".." for p in parts):
        return None
    if len(rel) > 1 and rel[1] == ":":  # a Windows drive letter
        return None
    return os.path.join(root, *[p for p in parts if p])


def probe_local(path: str) -> ImageInfo | str:
    """Probe a local image: its ImageInfo, NOT_FOUND, or the reason it is not a readable image."""
    try:
        return probe_file(path)
    except ImageError as e:
        if not os.path.exists(path):
            return NOT_FOUND
        return e.reason


def probe_s3(client: Any, bucket: str, key: str) -> ImageInfo | str:
    """Probe an S3 image by a ranged GET of its first 64 KiB (total size from Content-Range).

    Returns its ImageInfo, NOT_FOUND, DENIED, or the reason it is not a readable image. Other AWS
    failures raise AwsError.
    """
    from botocore.exceptions import ClientError

    want = S3_HEAD_BYTES
    while True:
        with aws_errors(f"reading s3://{bucket}/{key}"):
            try:
                resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{want - 1}")
                data = resp["Body"].read()
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                    return NOT_FOUND
                if code in ("AccessDenied", "403", "Forbidden") or status == 403:
                    return DENIED
                if code == "InvalidRange" or status == 416:
                    return "empty file (0 bytes)"
                raise
            total = _total_size(resp)
            if total is None:
                total = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        try:
            return probe_bytes(data, name=f"s3://{bucket}/{key}", total_size=total)
        except ImageError as e:
            # A JPEG whose frame header lies beyond a big EXIF block: read more, once.
            if want < _S3_RETRY_BYTES and total > len(data):
                want = _S3_RETRY_BYTES
                continue
            return e.reason


def _total_size(resp: dict[str, Any]) -> int | None:
    cr = resp.get("ContentRange")
    if isinstance(cr, str) and "/" in cr:
        tail = cr.rsplit("/", 1)[1]
        if tail.isdigit():
            return int(tail)
    return None


def image_findings(info: ImageInfo, *, boxes: bool, image_size: tuple[float, float] | None
                   ) -> tuple[str | None, str | None, list[tuple[str, str, str | None]]]:
    """Rekognition's limits on an image, and our checks against the line.

    Returns ``(drop_code, drop_message, notes)``: the error that makes Rekognition drop the line (or
    None), and a list of ``(code, message, severity)`` for MK_ checks (severity None = the default).
    """
    notes: list[tuple[str, str, str | None]] = []
    w, h = info.width, info.height
    drop: tuple[str | None, str | None] = (None, None)
    if info.format not in SUPPORTED_FORMATS:
        drop = ("ERROR_INVALID_IMAGE", f"the image is {info.format}; Rekognition accepts only JPEG and PNG "
                                       "(by content, not extension): convert it")
    elif info.size > MAX_IMAGE_BYTES:
        drop = ("ERROR_INVALID_IMAGE", f"the image has {info.size:,} bytes; the limit is 15 MiB "
                                       f"({MAX_IMAGE_BYTES:,} bytes): compress or resize it")
    elif not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        drop = ("ERROR_INVALID_IMAGE_DIMENSION" if boxes else "ERROR_INVALID_IMAGE",
                f"the image is {w}x{h} px; each side must be {MIN_SIDE} to {MAX_SIDE} px: resize it"
                + (" and scale its boxes" if boxes else ""))
    elif max(w, h) / min(w, h) > MAX_ASPECT:
        drop = ("ERROR_INVALID_IMAGE", f"the image is {w}x{h} px, more elongated than {MAX_ASPECT}:1: crop it")
    if info.truncated:
        notes.append(("MK_IMAGE_TRUNCATED", "the image file ends early (no end marker): re-export or "
                                            "re-download it", None))
    if boxes and image_size is not None:
        dw, dh = image_size
        if (dw, dh) != (w, h):
            if info.rotated and (dw, dh) == (h, w):
                notes.append(("MK_EXIF_ROTATED", f"image_size {dw}x{dh} is the displayed size of an image stored "
                              f"as {w}x{h} with EXIF orientation {info.orientation}: the boxes were probably drawn "
                              "on the turned image; store the image upright (rotate the pixels, drop the tag)",
                              None))
            else:
                notes.append(("MK_IMAGE_SIZE_MISMATCH", f"image_size says {dw}x{dh} but the image is {w}x{h} px: "
                              "write the real size and check the boxes", None))
        elif info.rotated:
            notes.append(("MK_EXIF_ROTATED", f"the image has EXIF orientation {info.orientation}, so viewers show "
                          f"it turned ({h}x{w}); the boxes must fit the stored {w}x{h} pixels: check them, or "
                          "store the image upright", None))
    elif info.rotated:
        notes.append(("MK_EXIF_ROTATED", f"the image has EXIF orientation {info.orientation} (shown turned, "
                      f"{h}x{w}); harmless for image-level labels", "info"))
    return drop[0], drop[1], notes
