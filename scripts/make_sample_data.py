#!/usr/bin/env python3
"""Build sample_data/: a small folder-per-label set and a small COCO detection set, drawn with Pillow.

    python scripts/make_sample_data.py [--out sample_data]

Deterministic: a fixed seed, no timestamps, no downloads, so re-running gives the same bytes (with the
same Pillow and libjpeg/zlib builds). Every image is a JPEG or PNG of 96-320 px per side (valid for
Rekognition: 64-4096 px) showing simple coloured shapes, one shape kind per label, so that a report that
shows the images makes sense.

sample_data/folders/   3 labels (circle, square, triangle), 10 images each, JPEG and PNG; square/outlined/
                       is a nested folder that rolls up to "square"; unsorted.jpg sits at the root and has
                       no label; README.txt is clutter a converter must skip.
sample_data/coco/      annotations.json + images/: 20 images, categories 1, 2 and 4 (id 3 is a gap), one
                       crowd annotation, one box running off the image, one image without annotations,
                       one JPEG with EXIF orientation 6, one file_name in a subfolder (images/extra/).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import sys

from PIL import Image, ImageDraw

SEED = 20240501
LABELS = ("circle", "square", "triangle")
COLOURS = {"circle": (214, 48, 49), "square": (9, 132, 227), "triangle": (0, 148, 50)}
SIZES = (96, 128, 160, 192, 224, 256, 320)
JPEG_QUALITY = 35
COCO_CATEGORIES = [  # id 3 is missing on purpose: COCO ids are not 0..N-1
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 2, "name": "square", "supercategory": "shape"},
    {"id": 4, "name": "triangle", "supercategory": "shape"},
]
CATEGORY_IDS = {c["name"]: c["id"] for c in COCO_CATEGORIES}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "sample_data")


def _jitter(rng: random.Random, colour: tuple[int, int, int], amount: int = 25) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)
    return (r, g, b)


def _background(rng: random.Random) -> tuple[int, int, int]:
    grey = rng.randint(215, 245)
    return (grey, grey - rng.randint(0, 12), grey - rng.randint(0, 20))


def _polygon(label: str, left: int, top: int, size: int) -> list[tuple[float, float]]:
    """The outline of a shape in its box, as COCO segmentation points."""
    if label == "square":
        return [(left, top), (left + size, top), (left + size, top + size), (left, top + size)]
    if label == "triangle":
        return [(left + size / 2, top), (left + size, top + size), (left, top + size)]
    cx, cy, r = left + size / 2, top + size / 2, size / 2
    return [(round(cx + r * math.cos(a * math.pi / 8), 1), round(cy + r * math.sin(a * math.pi / 8), 1))
            for a in range(16)]


def _draw(draw: ImageDraw.ImageDraw, label: str, left: int, top: int, size: int, fill: tuple[int, int, int],
          outline_only: bool = False) -> None:
    box = (left, top, left + size - 1, top + size - 1)
    kwargs: dict[str, object] = {"outline": fill, "width": 4} if outline_only else {"fill": fill}
    if label == "circle":
        draw.ellipse(box, **kwargs)  # type: ignore[arg-type]
    elif label == "square":
        draw.rectangle(box, **kwargs)  # type: ignore[arg-type]
    else:
        pts = [(left + size / 2, top), (left + size - 1, top + size - 1), (left, top + size - 1)]
        draw.polygon(pts, **kwargs)  # type: ignore[arg-type]


def _encode(img: Image.Image, fmt: str, exif_orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=True)
    else:
        kwargs: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": True}
        if exif_orientation is not None:
            exif = Image.Exif()
            exif[0x0112] = exif_orientation
            kwargs["exif"] = exif.tobytes()
        img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fp:
        fp.write(data)


def make_folders(out: str, rng: random.Random) -> int:
    """sample_data/folders: one sub-folder per label; returns the number of images written."""
    n = 0
    for label in LABELS:
        for i in range(10):
            w, h = rng.choice(SIZES), rng.choice(SIZES)
            img = Image.new("RGB", (w, h), _background(rng))
            draw = ImageDraw.Draw(img)
            size = rng.randint(min(w, h) // 3, min(w, h) * 4 // 5)
            left, top = rng.randint(0, w - size), rng.randint(0, h - size)
            nested = label == "square" and i >= 7
            _draw(draw, label, left, top, size, _jitter(rng, COLOURS[label]), outline_only=nested)
            fmt = "PNG" if i % 4 == 3 else "JPEG"
            ext = ".png" if fmt == "PNG" else ".jpg"
            sub = os.path.join(label, "outlined") if nested else label
            _write(os.path.join(out, sub, f"{label}_{i + 1:02d}{ext}"), _encode(img, fmt))
            n += 1
    # One image straight in the root: it has no label folder, so converters report it and leave it out.
    img = Image.new("RGB", (128, 96), _background(rng))
    _draw(ImageDraw.Draw(img), "circle", 40, 20, 56, _jitter(rng, COLOURS["circle"]))
    _write(os.path.join(out, "unsorted.jpg"), _encode(img, "JPEG"))
    with open(os.path.join(out, "README.txt"), "w", encoding="utf-8", newline="\n") as fp:
        fp.write("Sample folder-per-label dataset: each sub-folder name is the label of the images in it.\n"
                 "Made by scripts/make_sample_data.py; square/outlined/ rolls up to the label 'square',\n"
                 "unsorted.jpg has no label.\n")
    return n + 1


def make_coco(out: str, rng: random.Random) -> int:
    """sample_data/coco: images/ + annotations.json; returns the number of images written."""
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    ann_id = 1
    for i in range(20):
        image_id = i + 1
        w, h = rng.choice(SIZES[2:]), rng.choice(SIZES[2:])
        img = Image.new("RGB", (w, h), _background(rng))
        draw = ImageDraw.Draw(img)
        # Cycle the labels so that each appears on at least 6 images (a later 80/20 split keeps all).
        shapes = [] if i == 4 else [LABELS[(i + k) % 3] for k in range(1 + i % 2)]
        for k, label in enumerate(shapes):
            size = rng.randint(min(w, h) // 4, min(w, h) // 2)
            half = w // 2
            left = rng.randint(0, half - size) if k == 0 and half > size else rng.randint(half, w - size)
            top = rng.randint(0, h - size)
            if i == 7 and k == 0:
                left = w - size // 2  # half of this shape lies beyond the right edge: the box runs off
            _draw(draw, label, left, top, size, _jitter(rng, COLOURS[label]))
            poly = _polygon(label, left, top, size)
            annotations.append({
                "id": ann_id, "image_id": image_id, "category_id": CATEGORY_IDS[label],
                "bbox": [left, top, size, size], "area": size * size, "iscrowd": 0,
                "segmentation": [[c for pt in poly for c in pt]],
            })
            ann_id += 1
        if i == 12:
            # A crowd region: several small circles annotated together, with an RLE mask like COCO's.
            cx, cy = 10, h - 50
            for j in range(4):
                _draw(draw, "circle", cx + j * 12, cy + (j % 2) * 10, 14, _jitter(rng, COLOURS["circle"]))
            crowd_w, crowd_h = 4 * 12 + 14, 24
            counts = [cx * h + cy, crowd_h]
            counts += [h - crowd_h, crowd_h] * (crowd_w - 1)
            counts.append(w * h - sum(counts))
            annotations.append({
                "id": ann_id, "image_id": image_id, "category_id": CATEGORY_IDS["circle"],
                "bbox": [cx, cy, crowd_w, crowd_h], "area": crowd_w * crowd_h, "iscrowd": 1,
                "segmentation": {"counts": counts, "size": [h, w]},
            })
            ann_id += 1
        orientation = 6 if i == 9 else None
        fmt = "PNG" if i % 5 == 2 else "JPEG"
        name = f"img_{image_id:04d}.{'png' if fmt == 'PNG' else 'jpg'}"
        file_name = f"extra/{name}" if i == 19 else name
        _write(os.path.join(out, "images", *file_name.split("/")), _encode(img, fmt, orientation))
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h, "license": 1})
    doc = {
        "info": {"description": "manifestkit sample shapes (scripts/make_sample_data.py)", "version": "1.0",
                 "year": 2024, "date_created": "2024-05-01T00:00:00"},
        "licenses": [{"id": 1, "name": "CC0-1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "categories": COCO_CATEGORIES,
        "images": images,
        "annotations": annotations,
    }
    with open(os.path.join(out, "annotations.json"), "w", encoding="utf-8", newline="\n") as fp:
        json.dump(doc, fp, indent=1)
        fp.write("\n")
    return len(images)


def main(argv: list[str] | None = None) -> int:
    """Write sample_data/ (or --out) from scratch."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_OUT, help="destination folder (default: sample_data/)")
    args = p.parse_args(argv)
    # Only the two sub-folders this script owns are replaced.
    for sub in ("folders", "coco"):
        shutil.rmtree(os.path.join(args.out, sub), ignore_errors=True)
    rng = random.Random(SEED)
    n_folders = make_folders(os.path.join(args.out, "folders"), rng)
    n_coco = make_coco(os.path.join(args.out, "coco"), rng)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(args.out) for f in files)
    print(f"wrote {args.out}: folders {n_folders} images, coco {n_coco} images, {total / 1024:.0f} KiB in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
