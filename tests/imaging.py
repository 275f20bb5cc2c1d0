"""Tiny real images for tests, made with Pillow (no binary fixtures in the repo)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image


def image_bytes(width: int = 80, height: int = 64, fmt: str = "JPEG", *, mode: str = "RGB",
                orientation: int | None = None, color: tuple[int, int, int] = (120, 30, 200)) -> bytes:
    """Encode a solid image. ``orientation`` adds an EXIF Orientation tag (JPEG only)."""
    img = Image.new(mode, (width, height), color[0] if mode in ("L", "I;16") else color[: len(mode)])
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def write_image(path: str | os.PathLike[str], width: int = 80, height: int = 64, fmt: str | None = None,
                **kwargs: object) -> Path:
    """Write an image file, creating folders; the format follows the extension unless given."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt is None:
        ext = p.suffix.lower()
        fmt = {".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF",
               ".tiff": "TIFF"}.get(ext, "JPEG")
    p.write_bytes(image_bytes(width, height, fmt, **kwargs))  # type: ignore[arg-type]
    return p
