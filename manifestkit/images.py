"""Image facts from file headers: format by magic bytes, stored size, channels, EXIF orientation.

No pixel is decoded: a probe reads the first few kilobytes (following JPEG segments with seeks) and the
last kilobyte, so a 100-megapixel image, a decompression bomb or a truncated file costs the same as a
thumbnail. Rekognition accepts JPEG and PNG only; other formats are recognised so that the user hears
what the file really is.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from .errors import ImageError

__all__ = ["SUPPORTED_FORMATS", "ImageInfo", "probe", "probe_bytes", "probe_file", "sniff_format"]

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG"})
_HEAD = 4096
_TAIL = 1024
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT/JPG/DAC (C4, C8, CC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# BMP DIB header sizes (little-endian); checking them keeps text files starting with "BM" out.
_BMP_HEADERS = frozenset(n.to_bytes(4, "little") for n in (12, 16, 40, 52, 56, 64, 108, 124))


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says. ``width``/``height`` are the stored size; ``orientation`` the EXIF tag."""

    format: str
    width: int
    height: int
    channels: int = 3
    bits: int = 8
    orientation: int = 1
    size: int = 0
    truncated: bool = False

    @property
    def rotated(self) -> bool:
        """EXIF orientations 5-8 display the image turned by 90 degrees (width and height swapped)."""
        return self.orientation in (5, 6, 7, 8)

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.rotated else (self.width, self.height)

    @property
    def supported(self) -> bool:
        return self.format in SUPPORTED_FORMATS


def sniff_format(head: bytes) -> str | None:
    """The format named by the magic bytes at the start of a file, or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and head[14:18] in _BMP_HEADERS:
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return "AVIF" if head[8:12] == b"avif" else "HEIF"
    return None


def probe_file(path: str | os.PathLike[str]) -> ImageInfo:
    """Probe an image file on disk. Raises :class:`ImageError` naming the file and what is wrong."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            return _probe(fp, size, p, check_tail=True)
    except FileNotFoundError:
        raise ImageError("image not found", path=p) from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image", path=p) from None
    except PermissionError:
        raise ImageError("permission denied reading the image", path=p) from None
    except OSError as e:
        raise ImageError(f"cannot read the image ({e.strerror or e})", path=p) from None


probe = probe_file


def probe_bytes(data: bytes, *, name: str = "<bytes>", total_size: int | None = None) -> ImageInfo:
    """Probe an image from its first bytes (for example a ranged GET). ``total_size`` is the full size.

    When ``data`` is only the head of the file, the truncation check is skipped.
    """
    size = len(data) if total_size is None else total_size
    whole = total_size is None or total_size == len(data)
    return _probe(io.BytesIO(data), size, name, check_tail=whole)


def _probe(fp: BinaryIO, size: int, name: str, *, check_tail: bool) -> ImageInfo:
    if size == 0:
        raise ImageError("empty file (0 bytes)", path=name)
    head = fp.read(_HEAD)
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageError("not an image: the content is neither JPEG nor PNG (nor another known format)",
                         path=name)
    try:
        if fmt == "JPEG":
            w, h, ch, bits, orient = _jpeg(fp, size, name)
        elif fmt == "PNG":
            w, h, ch, bits = _png(head, name)
            orient = 1
        elif fmt == "GIF":
            w, h = struct.unpack_from("<HH", head, 6)
            ch, bits, orient = 3, 8, 1
        elif fmt == "BMP":
            # OS/2 BITMAPCOREHEADER (12 bytes) stores 16-bit sizes; every later header 32-bit signed ones
            # (a negative height means top-down rows).
            (dib,) = struct.unpack_from("<I", head, 14)
            w, h = struct.unpack_from("<HH" if dib == 12 else "<ii", head, 18)
            w, h = abs(w), abs(h)
            ch, bits, orient = 3, 8, 1
        elif fmt == "WEBP":
            w, h = _webp(head, name)
            ch, bits, orient = 3, 8, 1
        elif fmt == "TIFF":
            w, h, orient = _tiff_dims(fp, head, name)
            ch, bits = 3, 8
        else:
            w, h, ch, bits, orient = 0, 0, 3, 8, 1
    except struct.error:
        raise ImageError(f"truncated {fmt} header", path=name) from None
    truncated = False
    if check_tail and fmt in ("JPEG", "PNG"):
        fp.seek(max(0, size - _TAIL))
        tail = fp.read(_TAIL)
        truncated = (b"\xff\xd9" not in tail) if fmt == "JPEG" else (b"IEND" not in tail)
    return ImageInfo(fmt, w, h, ch, bits, orient, size, truncated)


def _jpeg(fp: BinaryIO, size: int, name: str) -> tuple[int, int, int, int, int]:
    orientation = 1
    pos = 2
    fp.seek(pos)
    while pos < size:
        b = fp.read(1)
        if not b:
            break
        if b != b"\xff":
            # Stray byte between segments: tolerated by decoders, so skip it.
            pos += 1
            continue
        m = fp.read(1)
        while m == b"\xff":
            m = fp.read(1)
        if not m:
            break
        marker = m[0]
        pos = fp.tell()
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if marker in (0xD9, 0xDA):
            break
        ln = fp.read(2)
        if len(ln) < 2:
            break
        (length,) = struct.unpack(">H", ln)
        if length < 2:
            raise ImageError("corrupt JPEG: a segment has an impossible length", path=name)
        if marker in _SOF:
            seg = fp.read(6)
            if len(seg) < 6:
                break
            bits, h, w, ch = struct.unpack(">BHHB", seg)
            if w == 0 or h == 0:
                raise ImageError("corrupt JPEG: the frame header gives a zero width or height", path=name)
            return w, h, ch, bits, orientation
        if marker == 0xE1 and length >= 16:
            data = fp.read(min(length - 2, 65533))
            if data[:6] == b"Exif\x00\x00":
                orientation = _exif_orientation(data[6:])
        pos = pos + length
        fp.seek(pos)
    raise ImageError("truncated or corrupt JPEG: no frame header (SOF) before the image data", path=name)


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0, or 1 when absent or unreadable."""
    try:
        if tiff[:2] == b"II":
            e = "<"
        elif tiff[:2] == b"MM":
            e = ">"
        else:
            return 1
        (ifd,) = struct.unpack_from(e + "I", tiff, 4)
        (count,) = struct.unpack_from(e + "H", tiff, ifd)
        for i in range(min(count, 512)):
            off = ifd + 2 + 12 * i
            tag, typ = struct.unpack_from(e + "HH", tiff, off)
            if tag == 0x0112 and typ == 3:
                (val,) = struct.unpack_from(e + "H", tiff, off + 8)
                return val if 1 <= val <= 8 else 1
    except struct.error:
        return 1
    return 1


def _png(head: bytes, name: str) -> tuple[int, int, int, int]:
    if head[12:16] != b"IHDR":
        raise ImageError("corrupt PNG: the first chunk is not IHDR", path=name)
    w, h, bits, ctype = struct.unpack_from(">IIBB", head, 16)
    if w == 0 or h == 0:
        raise ImageError("corrupt PNG: zero width or height", path=name)
    return w, h, _PNG_CHANNELS.get(ctype, 3), bits


def _webp(head: bytes, name: str) -> tuple[int, int]:
    kind = head[12:16]
    if kind == b"VP8 ":
        w, h = struct.unpack_from("<HH", head, 26)
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        b = head[21:25]
        if len(b) < 4:
            raise ImageError("truncated WebP header", path=name)
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if kind == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
        return w, h
    raise ImageError("corrupt WebP header", path=name)


def _tiff_dims(fp: BinaryIO, head: bytes, name: str) -> tuple[int, int, int]:
    e = "<" if head[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(e + "I", head, 4)
    if ifd + 2 > len(head):
        # Many writers put the first IFD after the pixel data: read just that directory.
        fp.seek(ifd)
        head = fp.read(2 + 12 * 64)
        ifd = 0
    (count,) = struct.unpack_from(e + "H", head, ifd)
    w = h = 0
    orient = 1
    for i in range(count):
        off = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from(e + "HH", head, off)
        val = struct.unpack_from(e + ("H" if typ == 3 else "I"), head, off + 8)[0]
        if tag == 256:
            w = val
        elif tag == 257:
            h = val
        elif tag == 0x0112:
            orient = val if 1 <= val <= 8 else 1
    return w, h, orient
