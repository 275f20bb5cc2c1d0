"""manifestkit report: one self-contained, offline HTML file; structure, escaping, sampling, image safety."""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from s3server import s3_client, s3_endpoint  # noqa: F401
from typer.testing import CliRunner

import manifestkit
from manifestkit import report as report_mod
from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.manifest import write_manifest
from manifestkit.model import Box, Dataset, ImageItem, Task
from manifestkit.report import LocalImages, make_thumbnail, write_html_report

from imaging import image_bytes, write_image

PREFIX = "s3://bucket/data/"
NASTY = ['a<b & "c"', "it's", "</style><script>alert(1)</script>", "plain"]


class Page(HTMLParser):
    """Everything the structural tests look at: ids, links, sources, text, figures per gallery label."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.attr_values: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.figures: dict[str, int] = {}
        self.placeholders = 0
        self._label: str | None = None
        self._in_h3 = False
        self._h3_text: list[str] = []
        self._in_gallery = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.attr_values.extend(a.values())
        if "id" in a:
            self.ids.append(a["id"])
            if a["id"] == "gallery":
                self._in_gallery = True
            elif a["id"] == "flagged":
                self._in_gallery = False
        if "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a:
            self.srcs.append(a["src"])
        if tag == "h3" and self._in_gallery:
            self._in_h3, self._h3_text = True, []
        if tag == "figure" and self._in_gallery and self._label is not None:
            self.figures[self._label] = self.figures.get(self._label, 0) + 1
        if a.get("class") == "ph":
            self.placeholders += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3" and self._in_h3:
            self._in_h3 = False
            heading = "".join(self._h3_text)
            assert heading.startswith("\u25a0 "), heading  # the colour swatch, then the label as written
            self._label = heading[2:]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h3:
            self._h3_text.append(data)


def parse(path: str | Path) -> tuple[str, Page]:
    raw = Path(path).read_text(encoding="utf-8")
    page = Page()
    page.feed(raw)
    page.close()
    return raw, page


def assert_self_contained(raw: str, page: Page) -> None:
    """No external URL anywhere: sources are data: URIs, links are in-page anchors, nothing else fetches."""
    assert page.srcs and all(s.startswith("data:image/") for s in page.srcs)
    assert all(h.startswith("#") for h in page.hrefs), [h for h in page.hrefs if not h.startswith("#")]
    assert not {"script", "link", "iframe", "object", "embed", "base", "form"} & set(page.tags)
    stripped = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", raw)
    stripped = stripped.replace("s3://", "")  # shown as text (source-refs), never fetched
    for needle in ("http:", "https:", "ftp:", "file:", "//", "url(", "@import"):
        assert needle not in stripped.lower(), needle
    assert "default-src 'none'" in raw  # the CSP forbids any fetch even if something slipped through


def assert_links_resolve(page: Page) -> None:
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    ids = set(page.ids)
    missing = [h for h in page.hrefs if h[1:] not in ids]
    assert not missing, missing


def make_dataset(tmp: Path, spec: list[tuple[str, tuple[Box, ...]]], *, size: tuple[int, int] = (160, 120),
                 name: str = "train.manifest", write_images: bool = True) -> str:
    """Write images under tmp/images and a detection manifest of them; returns the manifest path."""
    items = []
    classes: dict[str, int] = {}
    for path, boxes in spec:
        if write_images:
            write_image(tmp / "images" / path, *size, color=(30 + 7 * len(items) % 200, 120, 90))
        items.append(ImageItem(path, size[0], size[1], boxes=boxes))
        for b in boxes:
            classes.setdefault(b.label, len(classes))
    ds = Dataset(Task.DETECTION, items, classes)
    return write_manifest(ds, tmp / name, s3_prefix=PREFIX, creation_date_value="2024-01-01T00:00:00").output or ""


def boxes_for(label: str) -> tuple[Box, ...]:
    return (Box(label, 10, 10, 60, 40),)


def test_every_label_present_and_escaped(tmp_path: Path) -> None:
    spec = [(f"{k}/{i}.jpg", boxes_for(lab)) for k, lab in enumerate(NASTY) for i in range(2)]
    spec.append(("mixed.jpg", (Box(NASTY[0], 0, 0, 50, 50), Box(NASTY[2], 60, 20, 40, 40))))
    m = make_dataset(tmp_path, spec)
    out = tmp_path / "r.html"
    result = write_html_report(m, out, images=tmp_path / "images", s3_prefix=PREFIX)
    raw, page = parse(out)
    text = "".join(page.text)
    for lab in NASTY:
        assert lab in text, lab
        assert page.figures.get(lab, 0) >= 2, (lab, page.figures)
    # Unescaped, the nasty labels would open tags; escaped, they appear only as entities.
    assert 'a<b & "c"' not in raw and "<script>" not in raw and "</style><script>" not in raw
    assert "a&lt;b &amp; &quot;c&quot;" in raw and "it&#x27;s" in raw
    assert_self_contained(raw, page)
    assert_links_resolve(page)
    assert result.thumbnails == len(spec) and result.placeholders == 0
    for chart in ("Images per label", "Boxes per label", "Boxes per image", "Box area / image area",
                  "Box aspect (width:height)", "Image size (longest side, px)"):
        assert f"<title>{chart}</title>" in raw, chart
    assert raw.count("<svg") == 6
    assert result.stats.train.images == len(spec)


def test_findings_link_to_existing_anchors(tmp_path: Path) -> None:
    spec = [(f"img{i}.jpg", boxes_for("cat")) for i in range(6)]
    m = make_dataset(tmp_path, spec)

    @dataclass
    class F:  # the validator's Finding shape: attributes, severity as text
        code: str
        severity: str
        line: int | None
        manifest: str | None
        message: str
        source_ref: str | None = None

    findings: list[Any] = [
        F("ERROR_INVALID_BOUNDING_BOX", "error", 1, m, "box <off> the frame & more"),
        {"code": "MK_EXIF_ROTATED", "severity": "warning", "line": 5, "manifest": m, "message": "rotated"},
        {"code": "ERROR_MANIFEST_TOO_FEW_LABELS", "severity": "error", "line": None, "manifest": m,
         "message": "too few labels"},
        {"code": "ERROR_INVALID_JSON_LINE", "severity": "error", "line": 99, "manifest": m, "message": "bad"},
    ]
    out = tmp_path / "r.html"
    result = write_html_report(m, out, images=tmp_path / "images", s3_prefix=PREFIX, per_label=1,
                               findings=findings)
    raw, page = parse(out)
    assert_links_resolve(page)
    assert_self_contained(raw, page)
    for f in findings:
        code = f["code"] if isinstance(f, dict) else f.code
        assert code in raw
    # each finding with a line links to that line's anchor; the unsampled line 5 became a flagged figure
    assert {"#train-L1", "#train-L5", "#train-L99"} <= set(page.hrefs)
    assert "box &lt;off&gt; the frame &amp; more" in raw
    assert result.thumbnails == 2  # one sampled (per_label=1) + line 5 (flagged); line 99 has no item
    assert len(result.findings) == 4


def test_flagged_beyond_the_cap_still_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_mod, "MAX_FLAGGED_THUMBNAILS", 1)
    monkeypatch.setattr(report_mod, "MAX_FINDINGS_LISTED", 3)
    spec = [(f"img{i}.jpg", boxes_for("cat")) for i in range(8)]
    m = make_dataset(tmp_path, spec)
    findings = [{"code": "MK_X", "severity": "warning", "line": n, "manifest": m, "message": f"m{n}"}
                for n in (3, 4, 5, 6, 7)]
    out = tmp_path / "r.html"
    result = write_html_report(m, out, images=tmp_path / "images", s3_prefix=PREFIX, per_label=1,
                               findings=findings)
    raw, page = parse(out)
    assert_links_resolve(page)
    assert result.thumbnails == 2  # the sample of 1 + the 1 flagged thumbnail the cap allows
    assert "2 more findings not listed" in raw
    assert len([h for h in page.hrefs if h.startswith("#train-L")]) == 3


def test_sampling_bounds_gallery_and_file_size(tmp_path: Path) -> None:
    spec = [(f"many/{i}.jpg", boxes_for("many")) for i in range(40)]
    spec += [(f"few/{i}.jpg", boxes_for("few")) for i in range(3)]
    m = make_dataset(tmp_path, spec, size=(640, 480))
    out = tmp_path / "r.html"
    per_label = 5
    result = write_html_report(m, out, images=tmp_path / "images", s3_prefix=PREFIX, per_label=per_label)
    raw, page = parse(out)
    assert page.figures == {"few": 3, "many": per_label}
    assert result.thumbnails == 3 + per_label
    assert "5 of 40 images shown" in raw and "3 of 3 images shown" in raw
    # The documented bound: (labels x manifests x per_label + flagged) thumbnails of at most ~35 KB each.
    for src in page.srcs:
        assert len(src) < 35 * 1024
        img = Image.open(io.BytesIO(__import__("base64").b64decode(src.split(",", 1)[1])))
        assert max(img.size) <= report_mod.THUMBNAIL_SIZE
    assert result.size < (2 * per_label) * 35 * 1024 + 64 * 1024
    # Same seed, same sample, same bytes.
    again = tmp_path / "again.html"
    write_html_report(m, again, images=tmp_path / "images", s3_prefix=PREFIX, per_label=per_label)
    assert again.read_bytes() == out.read_bytes()


def test_train_and_test_galleries_side_by_side(tmp_path: Path) -> None:
    train = make_dataset(tmp_path, [(f"tr{i}.jpg", boxes_for("cat")) for i in range(4)])
    test = make_dataset(tmp_path, [(f"te{i}.jpg", boxes_for("cat")) for i in range(2)] +
                        [("te_dog.jpg", boxes_for("dog"))], name="test.manifest")
    findings = [{"code": "MK_T", "severity": "info", "line": 2, "manifest": test, "message": "in test"},
                {"code": "MK_R", "severity": "info", "line": 2, "manifest": train, "message": "in train"}]
    out = tmp_path / "r.html"
    result = write_html_report(train, out, test=test, images=tmp_path / "images", s3_prefix=PREFIX,
                               findings=findings)
    raw, page = parse(out)
    assert_links_resolve(page)
    assert {"#test-L2", "#train-L2"} <= set(page.hrefs)
    assert "train-L2" in page.ids and "test-L2" in page.ids
    assert result.stats.test is not None and result.stats.test.images == 3
    assert "MK_LABEL_ONLY_IN_TEST" in raw
    assert result.thumbnails == 7


def _bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims a huge size (the data is a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_bad_images_get_placeholders_and_findings(tmp_path: Path) -> None:
    spec = [(f"img{i}.jpg", boxes_for("cat")) for i in range(5)]
    m = make_dataset(tmp_path, spec)
    images = tmp_path / "images"
    (images / "img0.jpg").write_bytes(_bomb_png(40000, 40000))
    (images / "img1.jpg").write_bytes(b"this is not an image at all")
    good = image_bytes(160, 120)
    (images / "img2.jpg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (images / "img3.jpg").unlink()
    out = tmp_path / "r.html"
    result = write_html_report(m, out, images=images, s3_prefix=PREFIX)
    raw, page = parse(out)
    by_line: dict[int | None, set[str]] = {}
    for f in result.findings:
        by_line.setdefault(f.line, set()).add(f.code)
    # The report's own findings (the validator's, on the same lines, come beside them)
    expected = {1: "MK_DECOMPRESSION_BOMB", 2: "MK_IMAGE_UNREADABLE", 3: "MK_IMAGE_UNREADABLE",
                4: "MK_IMAGE_NOT_FOUND"}
    for line, code in expected.items():
        assert code in by_line[line], (line, by_line)
    assert "ERROR_INVALID_IMAGE" in by_line[2]  # the validator ran with the images
    assert 5 not in by_line
    assert result.thumbnails == 1 and result.placeholders == 4 and page.placeholders == 4
    assert_links_resolve(page)
    assert {f"#train-L{n}" for n in (1, 2, 3, 4)} <= set(page.hrefs)


@pytest.mark.parametrize("width,height", [(20000, 20000), (8200, 8200), (70_000, 1000)])
def test_pixel_limit_is_enforced_without_touching_pillow(width: int, height: int) -> None:
    # 8200 x 8200 is over manifestkit's limit but under Pillow's default: our check is what refuses it.
    assert width * height > report_mod.MAX_IMAGE_PIXELS
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ManifestKitError) as info:
        make_thumbnail(_bomb_png(width, height), ImageItem("x.png"))
    assert getattr(info.value, "code", None) == "MK_DECOMPRESSION_BOMB"
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.parametrize("mode,fmt", [("RGBA", "PNG"), ("P", "PNG"), ("L", "PNG"), ("I;16", "PNG"),
                                      ("CMYK", "JPEG"), ("L", "JPEG"), ("LA", "PNG")])
def test_thumbnail_of_every_mode(mode: str, fmt: str) -> None:
    img = Image.new(mode, (600, 300))
    buf = io.BytesIO()
    img.save(buf, fmt)
    jpeg, w, h = make_thumbnail(buf.getvalue(), ImageItem("x", 600, 300, boxes=(Box("k", 300, 150, 200, 100),)))
    out = Image.open(io.BytesIO(jpeg))
    assert out.format == "JPEG" and out.mode == "RGB" and (w, h) == out.size == (256, 128)


def test_boxes_are_drawn_where_they_belong() -> None:
    data = image_bytes(1000, 500, color=(255, 255, 255))
    item = ImageItem("x", 1000, 500, boxes=(Box("only", 500, 250, 400, 200),))
    jpeg, w, h = make_thumbnail(data, item)
    thumb = Image.open(io.BytesIO(jpeg)).convert("RGB")
    s = w / 1000
    # the box's right edge (x = 900) is coloured, the far corner of the image stays white
    edge = thumb.getpixel((int(900 * s) - 1, int(350 * s)))
    assert min(edge) < 200, edge
    assert min(thumb.getpixel((3, h - 3))) > 230


def test_local_images_find_files_without_a_prefix(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "cat" / "1.jpg")
    src = LocalImages(tmp_path / "imgs")
    item = ImageItem("x", source_ref="s3://bucket/some/deep/prefix/cat/1.jpg")
    assert src.locate(item).endswith("1.jpg")
    assert src.discover_prefix([ImageItem("y", source_ref="s3://bucket/elsewhere.jpg"), item]) == \
        "s3://bucket/some/deep/prefix/"
    with pytest.raises(ManifestKitError, match="no file"):
        src.locate(ImageItem("x", source_ref="s3://bucket/some/deep/prefix/cat/../../etc/passwd"))
    with pytest.raises(ManifestKitError, match="not under"):
        LocalImages(tmp_path / "imgs", "s3://other/").locate(item)
    with pytest.raises(ManifestKitError, match="does not exist"):
        LocalImages(tmp_path / "nowhere")


def test_s3_images_via_local_server(tmp_path: Path, s3_client: Any) -> None:  # noqa: F811
    bucket = s3_client.test_bucket
    prefix = f"s3://{bucket}/ds/"
    items = [ImageItem(f"{lab}/{i}.jpg", 160, 120, boxes=boxes_for(lab)) for lab in ("cat", "dog") for i in range(3)]
    ds = Dataset(Task.DETECTION, items, {"cat": 0, "dog": 1})
    m = write_manifest(ds, tmp_path / "s3.manifest", s3_prefix=prefix,
                       creation_date_value="2024-01-01T00:00:00").output or ""
    for it in items[:-1]:  # the last one is missing from the bucket
        s3_client.put_object(Bucket=bucket, Key="ds/" + it.path, Body=image_bytes(160, 120))
    out = tmp_path / "r.html"
    result = write_html_report(m, out, s3=s3_client)
    raw, page = parse(out)
    assert result.thumbnails == 5 and result.placeholders == 1
    # the report says why the preview is missing, beside the validator's verdict on the image
    assert sorted((f.code, f.line) for f in result.findings) == [("ERROR_INVALID_IMAGE", 6),
                                                                 ("MK_IMAGE_NOT_FOUND", 6)]
    assert "Validator verdict: would train" in raw
    assert_self_contained(raw, page)
    assert_links_resolve(page)


def test_cli_report_with_s3(tmp_path: Path, s3_client: Any, s3_endpoint: str,  # noqa: F811
                            monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_client.test_bucket
    items = [ImageItem(f"{i}.jpg", 160, 120, boxes=boxes_for("cat")) for i in range(2)]
    ds = Dataset(Task.DETECTION, items, {"cat": 0})
    m = write_manifest(ds, tmp_path / "s3.manifest", s3_prefix=f"s3://{bucket}/",
                       creation_date_value="2024-01-01T00:00:00").output or ""
    for it in items:
        s3_client.put_object(Bucket=bucket, Key=it.path, Body=image_bytes(160, 120))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["report", m, "--s3", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "2 thumbnails" in r.stderr
    _, page = parse(out)
    assert len(page.srcs) == 2


def test_cli_report_local_and_usage_errors(tmp_path: Path) -> None:
    m = make_dataset(tmp_path, [(f"{i}.jpg", boxes_for("cat")) for i in range(3)])
    out = tmp_path / "r.html"
    runner = CliRunner()
    r = runner.invoke(app, ["report", m, "--images", str(tmp_path / "images"), "--s3-prefix", PREFIX,
                            "-o", str(out), "--per-label", "2"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stderr and out.is_file()
    _, page = parse(out)
    assert page.figures == {"cat": 2}
    for args in (["-o", str(out)], ["--images", str(tmp_path), "--s3", "-o", str(out)],
                 ["--s3", "--s3-prefix", PREFIX, "-o", str(out)], ["--images", str(tmp_path), "-o", str(out),
                                                                   "--per-label", "0"]):
        r = runner.invoke(app, ["report", m, *args])
        assert r.exit_code == 2, (args, r.output)
    r = runner.invoke(app, ["report", str(tmp_path / "none.manifest"), "--images", str(tmp_path), "-o", str(out)])
    assert r.exit_code == 1 and "error:" in r.stderr


def test_library_rejects_bad_arguments(tmp_path: Path) -> None:
    m = make_dataset(tmp_path, [("a.jpg", boxes_for("cat"))])
    with pytest.raises(ManifestKitError, match="--images"):
        manifestkit.write_html_report(m, tmp_path / "r.html")
    with pytest.raises(ManifestKitError, match="per-label"):
        manifestkit.write_html_report(m, tmp_path / "r.html", images=tmp_path, per_label=0)
    assert not (tmp_path / "r.html").exists()


def test_classification_report(tmp_path: Path) -> None:
    items = [ImageItem(f"{lab}/{i}.png", labels=(lab,)) for lab in ("x & y", "z") for i in range(3)]
    for it in items:
        write_image(tmp_path / "images" / it.path, 90, 70)
    ds = Dataset(Task.CLASSIFICATION, items, {"x & y": 0, "z": 1})
    m = write_manifest(ds, tmp_path / "c.manifest", s3_prefix=PREFIX,
                       creation_date_value="2024-01-01T00:00:00").output or ""
    out = tmp_path / "r.html"
    result = write_html_report(m, out, images=tmp_path / "images")  # prefix found from the files
    raw, page = parse(out)
    assert result.thumbnails == 6 and page.figures == {"x & y": 3, "z": 3}
    assert "Boxes per label" not in raw and "Image size" not in raw  # no box, no size in such manifests
    assert raw.count(" 90x70</span>") == 6  # the captions give the real size, read from the images
    assert "Images per label" in raw
    assert_self_contained(raw, page)


def test_exif_rotated_images_are_marked(tmp_path: Path) -> None:
    m = make_dataset(tmp_path, [("up.jpg", boxes_for("cat")), ("turned.jpg", boxes_for("cat"))])
    write_image(tmp_path / "images" / "turned.jpg", 160, 120, orientation=6)
    out = tmp_path / "r.html"
    write_html_report(m, out, images=tmp_path / "images", s3_prefix=PREFIX)
    raw, page = parse(out)
    assert raw.count("EXIF orientation 6: shown as stored") == 1
    assert "MK_EXIF_ROTATED" in raw  # the validator's finding, linked to the image
    assert "#train-L2" in page.hrefs


_label_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda t: t.strip() == t and t.strip() != "")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(_label_text, min_size=1, max_size=3, unique=True))
def test_any_label_text_is_shown_as_written(tmp_path_factory: pytest.TempPathFactory, labels: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("lab")
    m = make_dataset(tmp, [(f"{i}.jpg", boxes_for(lab)) for i, lab in enumerate(labels)], size=(80, 64))
    out = tmp / "r.html"
    write_html_report(m, out, images=tmp / "images", s3_prefix=PREFIX, findings=[])
    raw, page = parse(out)
    assert_links_resolve(page)
    text = "".join(page.text)
    for lab in labels:
        assert lab in text
        assert page.figures.get(lab) == 1, (lab, page.figures)
    assert "<script" not in raw.lower()


def test_s3_failure_that_is_not_per_image_stops_with_aws_error(tmp_path: Path, s3_client: Any) -> None:  # noqa: F811
    items = [ImageItem("a.jpg", 100, 100, boxes=boxes_for("x"))]
    ds = Dataset(Task.DETECTION, items, {"x": 0})
    m = write_manifest(ds, tmp_path / "nb.manifest", s3_prefix=f"s3://{s3_client.test_bucket}-missing/",
                       creation_date_value="2024-01-01T00:00:00").output or ""
    with pytest.raises(manifestkit.AwsError, match="NoSuchBucket"):
        write_html_report(m, tmp_path / "r.html", s3=s3_client)
    assert not (tmp_path / "r.html").exists()
