"""images.probe_file / probe_bytes: header-only facts from real images and from hostile bytes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imaging import image_bytes, write_image
from PIL import Image

from manifestkit.errors import ImageError
from manifestkit.images import ImageInfo, probe_bytes, probe_file, sniff_format


def _pil_bytes(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, bits: int = 8, color_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bits, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _sof(width: int, height: int, components: int = 3) -> bytes:
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(components))
    return _segment(0xC0, struct.pack(">BHHB", 8, height, width, components) + comps)


def _exif_app1(orientation: int, endian: str = "<") -> bytes:
    order = b"II" if endian == "<" else b"MM"
    tiff = order + struct.pack(endian + "HI", 42, 8)
    tiff += struct.pack(endian + "H", 1) + struct.pack(endian + "HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(endian + "I", 0)
    return _segment(0xE1, b"Exif\x00\x00" + tiff)


# ---------------------------------------------------------------------------------------------- JPEG


def test_baseline_jpeg(tmp_path: Path) -> None:
    p = write_image(tmp_path / "a.jpg", 123, 77)
    info = probe_file(p)
    assert info == ImageInfo("JPEG", 123, 77, channels=3, bits=8, orientation=1, size=p.stat().st_size,
                             truncated=False)
    assert info.supported and not info.rotated and info.display_size == (123, 77)


def test_progressive_jpeg() -> None:
    data = _pil_bytes(Image.new("RGB", (300, 200), (10, 200, 30)), "JPEG", progressive=True, quality=50)
    assert b"\xff\xc2" in data  # really a progressive (SOF2) frame
    info = probe_bytes(data)
    assert (info.format, info.width, info.height, info.channels) == ("JPEG", 300, 200, 3)


def test_grey_jpeg() -> None:
    info = probe_bytes(image_bytes(90, 65, "JPEG", mode="L"))
    assert (info.width, info.height, info.channels) == (90, 65, 1)


def test_cmyk_jpeg() -> None:
    data = _pil_bytes(Image.new("CMYK", (70, 80), (0, 50, 100, 0)), "JPEG")
    info = probe_bytes(data)
    assert (info.format, info.width, info.height, info.channels) == ("JPEG", 70, 80, 4)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(orientation: int) -> None:
    info = probe_bytes(image_bytes(100, 64, "JPEG", orientation=orientation))
    assert info.orientation == orientation
    assert info.rotated is (orientation >= 5)
    assert info.display_size == ((64, 100) if orientation >= 5 else (100, 64))
    assert (info.width, info.height) == (100, 64)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_orientation_hand_built_both_byte_orders(endian: str) -> None:
    data = b"\xff\xd8" + _exif_app1(6, endian) + _sof(640, 480) + b"\xff\xd9"
    info = probe_bytes(data)
    assert (info.width, info.height, info.orientation, info.display_size) == (640, 480, 6, (480, 640))


def test_exif_orientation_out_of_range_means_upright() -> None:
    data = b"\xff\xd8" + _exif_app1(9) + _sof(640, 480) + b"\xff\xd9"
    assert probe_bytes(data).orientation == 1


def test_jpeg_with_huge_app_segments_before_the_frame() -> None:
    # Three 60 KB APP2 segments (an ICC profile, say) push the frame header far past the first 4 KB.
    big = b"".join(_segment(0xE2, bytes([i]) * 60_000) for i in range(3))
    data = b"\xff\xd8" + _exif_app1(8) + big + _sof(1024, 768) + b"\xff\xd9"
    info = probe_bytes(data)
    assert (info.width, info.height, info.orientation, info.truncated) == (1024, 768, 8, False)


def test_jpeg_fill_bytes_between_segments_are_tolerated() -> None:
    data = b"\xff\xd8" + b"\xff\xff\xff" + _sof(64, 65)[1:] + b"\xff\xd9"
    assert (probe_bytes(data).width, probe_bytes(data).height) == (64, 65)


def test_jpeg_impossible_segment_length() -> None:
    with pytest.raises(ImageError, match="impossible length"):
        probe_bytes(b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 40)


def test_jpeg_zero_width_frame() -> None:
    with pytest.raises(ImageError, match="zero width"):
        probe_bytes(b"\xff\xd8" + _sof(0, 100) + b"\xff\xd9")


def test_jpeg_without_frame_header() -> None:
    with pytest.raises(ImageError, match="no frame header"):
        probe_bytes(b"\xff\xd8" + _segment(0xE0, b"JFIF\x00" + b"\x00" * 9) + b"\xff\xda\x00\x08" + b"\x00" * 20)


# ---------------------------------------------------------------------------------------------- PNG


@pytest.mark.parametrize(("mode", "channels", "bits"), [
    ("RGB", 3, 8), ("RGBA", 4, 8), ("L", 1, 8), ("LA", 2, 8), ("P", 3, 8), ("I;16", 1, 16),
])
def test_png_modes(mode: str, channels: int, bits: int) -> None:
    if mode == "P":
        # Every palette index used, so Pillow cannot shrink the palette below 8 bits.
        img = Image.frombytes("P", (96, 72), bytes(range(256)) * 27)
        img.putpalette(bytes(range(256)) * 3)
    else:
        img = Image.new(mode, (96, 72), 200 if mode in ("L", "I;16") else (1, 2, 3, 4)[: len(mode)])
    data = _pil_bytes(img, "PNG")
    info = probe_bytes(data)
    assert (info.format, info.width, info.height, info.channels, info.bits) == ("PNG", 96, 72, channels, bits)
    assert not info.truncated


def test_png_first_chunk_not_ihdr() -> None:
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"CgBI", b"\x00" * 4) + _png_chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="not IHDR"):
        probe_bytes(data)


def test_png_zero_height() -> None:
    with pytest.raises(ImageError, match="zero width or height"):
        probe_bytes(_png_header(10, 0) + _png_chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- decompression bombs


def test_png_bomb_header_is_probed_without_decoding(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A 60000 x 60000 RGB header (10.8 GB of pixels) with a tiny IDAT: only the header may be read.
    data = _png_header(60_000, 60_000) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) \
        + _png_chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(data)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("probe must not open the image with Pillow")

    monkeypatch.setattr(Image, "open", no_decoding)
    info = probe_file(path)
    assert (info.format, info.width, info.height, info.truncated) == ("PNG", 60_000, 60_000, False)


def test_jpeg_bomb_header_is_probed_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\xff\xd8" + _sof(60_000, 60_000) + b"\xff\xd9"

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("probe must not open the image with Pillow")

    monkeypatch.setattr(Image, "open", no_decoding)
    info = probe_bytes(data)
    assert (info.format, info.width, info.height, info.size) == ("JPEG", 60_000, 60_000, len(data))


# ------------------------------------------------------------------------------ unsupported formats


@pytest.mark.parametrize(("fmt", "kwargs"), [
    ("GIF", {}), ("BMP", {}), ("WEBP", {"lossless": False}), ("WEBP", {"lossless": True}), ("TIFF", {}),
])
def test_unsupported_formats_are_recognised_with_sizes(fmt: str, kwargs: dict[str, object]) -> None:
    data = _pil_bytes(Image.new("RGB", (150, 91), (90, 10, 10)), fmt, **kwargs)
    info = probe_bytes(data)
    assert (info.format, info.width, info.height) == (fmt, 150, 91)
    assert not info.supported


def test_webp_extended_header_with_alpha() -> None:
    data = _pil_bytes(Image.new("RGBA", (130, 70), (9, 9, 9, 100)), "WEBP", lossless=False)
    assert data[12:16] == b"VP8X"
    assert (probe_bytes(data).width, probe_bytes(data).height) == (130, 70)


def test_truncated_lossless_webp_header() -> None:
    with pytest.raises(ImageError, match="truncated WebP header"):
        probe_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f\x01")


def test_tiff_directory_after_the_pixels() -> None:
    # Header -> 10 KB of pixel data -> IFD: the directory lies beyond the first 4 KB read.
    pixels = b"\x80" * 10_000
    ifd_offset = 8 + len(pixels)
    entries = [(256, 3, 1, 3000), (257, 3, 1, 2000), (0x0112, 3, 1, 6)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHIHH", t, ty, n, v, 0)
                                                     for t, ty, n, v in entries) + struct.pack("<I", 0)
    data = b"II*\x00" + struct.pack("<I", ifd_offset) + pixels + ifd
    info = probe_bytes(data)
    assert (info.format, info.width, info.height, info.orientation) == ("TIFF", 3000, 2000, 6)


def test_bmp_os2_core_header() -> None:
    core = struct.pack("<IHHHH", 12, 320, 240, 1, 24)
    data = b"BM" + struct.pack("<IHHI", 26 + 320 * 240 * 3, 0, 0, 26) + core + b"\x00" * 64
    info = probe_bytes(data)
    assert (info.format, info.width, info.height) == ("BMP", 320, 240)


def test_text_starting_with_bm_is_not_a_bitmap() -> None:
    with pytest.raises(ImageError, match="not an image"):
        probe_bytes(b"BMW and Mercedes cars, a README about the dataset\n" * 3)


@pytest.mark.parametrize(("brand", "fmt"), [(b"heic", "HEIF"), (b"mif1", "HEIF"), (b"avif", "AVIF")])
def test_heif_family_sniffed(brand: bytes, fmt: str) -> None:
    head = b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 12
    assert sniff_format(head) == fmt
    info = probe_bytes(head)
    assert info.format == fmt and not info.supported


# ------------------------------------------------------------------------------ broken and hostile


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_header_cut_is_an_error(fmt: str) -> None:
    data = image_bytes(200, 100, fmt)
    with pytest.raises(ImageError, match=fmt):
        probe_bytes(data[:20])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_tail_cut_is_flagged_truncated(fmt: str, tmp_path: Path) -> None:
    data = _pil_bytes(Image.effect_noise((256, 256), 60).convert("RGB"), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    info = probe_file(path)
    assert (info.format, info.width, info.height, info.truncated) == (fmt, 256, 256, True)
    assert probe_bytes(data).truncated is False


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file") as exc:
        probe_file(tmp_path / "empty.jpg")
    assert exc.value.path == str(tmp_path / "empty.jpg")


def test_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "noise.jpg").write_bytes(bytes(range(7, 250)) * 20)
    with pytest.raises(ImageError, match="not an image"):
        probe_file(tmp_path / "noise.jpg")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        probe_file(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        probe_file(tmp_path)


def test_probe_bytes_head_only_slice() -> None:
    # A ranged GET of the first 8 KB of a big image: the size comes from the header, the (absent) tail
    # is not mistaken for truncation.
    data = _pil_bytes(Image.effect_noise((512, 384), 80).convert("RGB"), "JPEG", quality=95)
    assert len(data) > 8192
    info = probe_bytes(data[:8192], name="s3://bucket/key.jpg", total_size=len(data))
    assert (info.width, info.height, info.size, info.truncated) == (512, 384, len(data), False)


def test_probe_bytes_head_only_slice_before_the_frame() -> None:
    big = _segment(0xE2, b"\x00" * 60_000)
    data = b"\xff\xd8" + big + _sof(100, 100) + b"\xff\xd9"
    with pytest.raises(ImageError, match="s3://bucket/key.jpg") as exc:
        probe_bytes(data[:4096], name="s3://bucket/key.jpg", total_size=len(data))
    assert "no frame header" in exc.value.reason


def test_probe_file_matches_probe_bytes(tmp_path: Path) -> None:
    p = write_image(tmp_path / "x.png", 65, 66, mode="RGBA", color=(1, 2, 3))
    assert probe_file(p) == probe_bytes(p.read_bytes())


_MAGIC = [b"", b"\xff\xd8\xff", b"\xff\xd8\xff\xe1\x00\x20Exif\x00\x00", b"\x89PNG\r\n\x1a\n",
          b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"GIF89a", b"BM", b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
          b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X",
          b"II*\x00", b"MM\x00*", b"\x00\x00\x00\x18ftypheic"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_MAGIC), st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 10**7)))
def test_arbitrary_bytes_raise_only_image_error(magic: bytes, rest: bytes, total: int | None) -> None:
    data = magic + rest
    try:
        info = probe_bytes(data, total_size=total)
    except ImageError:
        return
    assert info.format in ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "HEIF", "AVIF")
    assert info.size == (len(data) if total is None else total)
