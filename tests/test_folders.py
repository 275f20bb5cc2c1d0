"""read_folders: the folder-per-label policies, clutter, broken input, links, determinism, real fixtures."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CONFORMANCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging import image_bytes, write_image

from manifestkit.convert import convert_folders
from manifestkit.errors import SourceError
from manifestkit.manifest import read_manifest, write_manifest
from manifestkit.model import Task
from manifestkit.sources import folders as folders_mod
from manifestkit.sources.folders import read_folders

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
IMAGENET = Path(CONFORMANCE) / "datumaro" / "tests" / "assets" / "imagenet_dataset"
IMAGENET_SUBSETS = Path(CONFORMANCE) / "datumaro" / "tests" / "assets" / "imagenet_subsets_dataset"
DATE = "2024-05-01T12:00:00"
JPEG = image_bytes(80, 64, "JPEG")


def _paths(ds: object) -> list[str]:
    return [it.path for it in ds]  # type: ignore[attr-defined]


def _note(ds: object, code: str) -> tuple[int, list[str], str]:
    n = ds.summary.notes[code]  # type: ignore[attr-defined]
    return n.count, n.examples, n.severity


# ------------------------------------------------------------------------------------------ layout


def test_labels_classes_and_image_facts(tmp_path: Path) -> None:
    write_image(tmp_path / "dog" / "b.jpg", 120, 90)
    write_image(tmp_path / "dog" / "a.png", 64, 65, mode="RGBA", color=(1, 2, 3))
    write_image(tmp_path / "cat" / "z.jpg", 100, 70, mode="L")
    ds = read_folders(tmp_path)
    assert ds.task is Task.CLASSIFICATION
    assert ds.classes == {"cat": 0, "dog": 1}
    assert ds.root == str(tmp_path)
    items = list(ds)
    assert [(i.path, i.labels, i.width, i.height, i.format, i.depth) for i in items] == [
        ("cat/z.jpg", ("cat",), 100, 70, "JPEG", 1),
        ("dog/a.png", ("dog",), 64, 65, "PNG", 4),
        ("dog/b.jpg", ("dog",), 120, 90, "JPEG", 3),
    ]
    assert ds.summary.notes == {}


def test_nested_folders_roll_up_to_the_first_level(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "top.jpg")
    write_image(tmp_path / "cat" / "indoor" / "sofa" / "deep.jpg")
    write_image(tmp_path / "cat" / "indoor" / "x.jpg")
    write_image(tmp_path / "dog" / "outdoor" / "y.jpg")
    ds = read_folders(tmp_path)
    assert ds.classes == {"cat": 0, "dog": 1}
    assert [(i.path, i.labels[0]) for i in ds] == [
        ("cat/indoor/sofa/deep.jpg", "cat"), ("cat/indoor/x.jpg", "cat"), ("cat/top.jpg", "cat"),
        ("dog/outdoor/y.jpg", "dog"),
    ]


def test_root_images_have_no_label_and_are_reported(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    write_image(tmp_path / "stray.jpg")
    write_image(tmp_path / "stray2.png")
    ds = read_folders(tmp_path)
    assert _paths(ds) == ["cat/a.jpg"]
    assert _note(ds, "MK_UNLABELLED_IMAGE") == (2, ["stray.jpg", "stray2.png"], "warning")


def test_non_ascii_and_space_labels(tmp_path: Path) -> None:
    for label in ("crème brûlée", "red car", "日本 の 猫", " leading space"):
        write_image(tmp_path / label / "img 1.jpg")
    ds = read_folders(tmp_path)
    assert ds.classes == {" leading space": 0, "crème brûlée": 1, "red car": 2, "日本 の 猫": 3}
    assert _paths(ds) == [" leading space/img 1.jpg", "crème brûlée/img 1.jpg", "red car/img 1.jpg",
                          "日本 の 猫/img 1.jpg"]


def test_empty_label_folders_are_not_classes(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    (tmp_path / "dog").mkdir()
    (tmp_path / "bird" / "nested").mkdir(parents=True)
    assert read_folders(tmp_path).classes == {"cat": 0}


def test_label_length_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Most file systems cap names at 255 bytes, so a longer label cannot be made on disk: lower the limit.
    monkeypatch.setattr(folders_mod, "MAX_LABEL_LENGTH", 5)
    write_image(tmp_path / "cat" / "a.jpg")
    write_image(tmp_path / "elephant" / "a.jpg")
    with pytest.raises(SourceError, match="at most 5 characters") as exc:
        read_folders(tmp_path)
    assert exc.value.path == str(tmp_path / "elephant")


def test_progress_counts_every_file_examined(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / "cat").mkdir(exist_ok=True)
        (tmp_path / "cat" / f"{i:03d}.jpg").write_bytes(JPEG)
    (tmp_path / "cat" / "notes.txt").write_text("x")
    calls: list[int] = []
    ds = read_folders(tmp_path, progress=calls.append)
    assert sum(calls) == 301 and len(calls) == 2
    assert len(_paths(ds)) == 300


def test_inputs_are_not_modified(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    (tmp_path / "cat" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    read_folders(tmp_path, skip_invalid=True)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    assert before == after


# ----------------------------------------------------------------------------------------- clutter


def test_each_kind_of_clutter_is_skipped_and_counted(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0" * 64)
    (tmp_path / "cat" / "._a.jpg").write_bytes(b"\0\x05\x16\x07" + b"\0" * 60)  # AppleDouble
    write_image(tmp_path / ".thumbnails" / "cat" / "t.jpg")  # a hidden folder is not a label
    write_image(tmp_path / "cat" / ".cache" / "c.jpg")
    (tmp_path / "cat" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 60)
    (tmp_path / "cat" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    write_image(tmp_path / "__MACOSX" / "cat" / "a.jpg")  # zip archive debris, not a label
    (tmp_path / "cat" / "README.txt").write_text("cats\n")
    (tmp_path / "cat" / "labels.csv").write_text("a.jpg,cat\n")
    (tmp_path / "notes.md").write_text("# notes\n")
    ds = read_folders(tmp_path)
    assert _paths(ds) == ["cat/a.jpg"]
    assert ds.classes == {"cat": 0}
    assert _note(ds, "MK_SKIPPED_HIDDEN") == (4, [".thumbnails", "cat/.DS_Store", "cat/._a.jpg", "cat/.cache"],
                                             "info")
    assert _note(ds, "MK_SKIPPED_SYSTEM_FILE") == (3, ["__MACOSX", "cat/Thumbs.db", "cat/desktop.ini"], "info")
    assert _note(ds, "MK_SKIPPED_NOT_IMAGE") == (3, ["cat/README.txt", "cat/labels.csv", "notes.md"], "info")


def test_zero_byte_image_is_skipped_and_counted(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    (tmp_path / "cat" / "empty.jpg").write_bytes(b"")
    (tmp_path / "cat" / "empty_note").write_bytes(b"")
    ds = read_folders(tmp_path)
    assert _paths(ds) == ["cat/a.jpg"]
    assert _note(ds, "MK_EMPTY_FILE") == (1, ["cat/empty.jpg"], "warning")
    assert _note(ds, "MK_SKIPPED_NOT_IMAGE") == (1, ["cat/empty_note"], "info")


@pytest.mark.parametrize(("name", "fmt"), [("a.gif", "GIF"), ("a.bmp", "BMP"), ("a.webp", "WEBP"),
                                           ("a.tiff", "TIFF"), ("disguised.jpg", "GIF")])
def test_unsupported_formats_are_skipped_with_their_format(tmp_path: Path, name: str, fmt: str) -> None:
    write_image(tmp_path / "cat" / "ok.jpg")
    write_image(tmp_path / "cat" / name, 100, 100, fmt=fmt)
    ds = read_folders(tmp_path)
    assert _paths(ds) == ["cat/ok.jpg"]
    count, examples, severity = _note(ds, "MK_UNSUPPORTED_FORMAT")
    assert (count, examples, severity) == (1, [f"cat/{name} ({fmt})"], "warning")
    assert "JPEG and PNG only" in ds.summary.notes["MK_UNSUPPORTED_FORMAT"].message


def test_type_comes_from_content_not_extension(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "really_a_jpeg.png", fmt="JPEG")
    write_image(tmp_path / "cat" / "no_extension", fmt="PNG")
    write_image(tmp_path / "cat" / "UPPER.JPG")
    ds = read_folders(tmp_path)
    assert [(i.path, i.format) for i in ds] == [("cat/UPPER.JPG", "JPEG"), ("cat/no_extension", "PNG"),
                                                ("cat/really_a_jpeg.png", "JPEG")]
    assert _note(ds, "MK_EXTENSION_MISMATCH") == (2, ["cat/no_extension (PNG)", "cat/really_a_jpeg.png (JPEG)"],
                                                 "info")


def test_exif_rotated_and_truncated_images_are_kept_with_a_warning(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "rot.jpg", 120, 80, orientation=6)
    write_image(tmp_path / "cat" / "mirror.jpg", 120, 80, orientation=2)
    data = image_bytes(200, 150, "JPEG")
    (tmp_path / "cat" / "cut.jpg").write_bytes(data[: len(data) - 2])
    ds = read_folders(tmp_path)
    by_path = {i.path: i for i in ds}
    assert (by_path["cat/rot.jpg"].width, by_path["cat/rot.jpg"].height, by_path["cat/rot.jpg"].orientation) == \
        (120, 80, 6)
    assert _note(ds, "MK_EXIF_ROTATED") == (1, ["cat/rot.jpg"], "warning")
    assert _note(ds, "MK_TRUNCATED_IMAGE") == (1, ["cat/cut.jpg"], "warning")
    assert by_path["cat/mirror.jpg"].orientation == 2


# ------------------------------------------------------------------------------------------ corrupt


def _corrupt_tree(root: Path) -> None:
    write_image(root / "cat" / "good.jpg")
    write_image(root / "dog" / "good.png")
    (root / "cat" / "bad1.jpg").write_bytes(b"this is not a jpeg at all")
    (root / "dog" / "sub" / "bad2.png").parent.mkdir(parents=True)
    (root / "dog" / "sub" / "bad2.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "dog" / "bad3.jpeg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")


def test_corrupt_images_fail_with_a_list_of_all_of_them(tmp_path: Path) -> None:
    _corrupt_tree(tmp_path)
    with pytest.raises(SourceError) as exc:
        read_folders(tmp_path)
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path}: 3 file(s) cannot be used")
    assert "--skip-invalid" in msg
    lines = msg.splitlines()[1:]
    assert [ln.split(":")[0].strip() for ln in lines] == ["cat/bad1.jpg", "dog/bad3.jpeg", "dog/sub/bad2.png"]
    assert "not an image" in lines[0] and "PNG" in lines[2] and "JPEG" in lines[1]


def test_skip_invalid_leaves_corrupt_images_out_and_counts_them(tmp_path: Path) -> None:
    _corrupt_tree(tmp_path)
    ds = read_folders(tmp_path, skip_invalid=True)
    assert _paths(ds) == ["cat/good.jpg", "dog/good.png"]
    count, examples, severity = _note(ds, "MK_CORRUPT_IMAGE")
    assert (count, severity) == (3, "error")
    assert [e.split(" (")[0] for e in examples] == ["cat/bad1.jpg", "dog/bad3.jpeg", "dog/sub/bad2.png"]


def test_nothing_labelled_is_an_error(tmp_path: Path) -> None:
    write_image(tmp_path / "root.jpg")
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "README.txt").write_text("x")
    with pytest.raises(SourceError, match=r"no labelled JPEG or PNG image found.*2 file\(s\) were skipped "
                                          r"\(1 MK_SKIPPED_NOT_IMAGE, 1 MK_UNLABELLED_IMAGE\)"):
        read_folders(tmp_path)


def test_missing_root_and_file_root(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder not found"):
        read_folders(tmp_path / "nope")
    f = write_image(tmp_path / "a.jpg")
    with pytest.raises(SourceError, match="not a folder"):
        read_folders(f)


def test_non_utf8_file_names(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "ok.jpg")
    raw = os.fsencode(tmp_path / "cat") + b"/caf\xe9.jpg"
    with open(raw, "wb") as fp:
        fp.write(JPEG)
    with open(os.fsencode(tmp_path / "cat") + b"/.hidden\xff", "wb") as fp:
        fp.write(b"x")
    with pytest.raises(SourceError, match=r"cat/caf\ufffd.jpg: the name is not valid UTF-8"):
        read_folders(tmp_path)
    ds = read_folders(tmp_path, skip_invalid=True)
    assert _paths(ds) == ["cat/ok.jpg"]
    assert _note(ds, "MK_UNENCODABLE_NAME")[0] == 1
    assert _note(ds, "MK_SKIPPED_HIDDEN")[1] == ["cat/.hidden\ufffd"]


# ----------------------------------------------------------------------------- unreadable and links


def test_unreadable_folder_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, which ignores chmod 000: simulate the refusal at os.scandir.
    write_image(tmp_path / "cat" / "a.jpg")
    write_image(tmp_path / "dog" / "private" / "b.jpg")
    locked = str(tmp_path / "dog" / "private")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(SourceError, match="permission denied") as exc:
        read_folders(tmp_path)
    assert exc.value.path == locked
    # skip_invalid does not hide a folder that could not be read: the labels would silently shrink.
    with pytest.raises(SourceError, match="permission denied"):
        read_folders(tmp_path, skip_invalid=True)


def test_unreadable_folder_for_real_when_not_root(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    locked = tmp_path / "dog"
    write_image(locked / "b.jpg")
    locked.chmod(0)
    try:
        if os.geteuid() == 0:
            # root reads anyway: the folder is converted like any other.
            assert read_folders(tmp_path).classes == {"cat": 0, "dog": 1}
        else:
            with pytest.raises(SourceError, match="permission denied"):
                read_folders(tmp_path)
    finally:
        locked.chmod(0o755)


def test_symlink_loop_is_an_error_naming_the_link(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    (tmp_path / "cat" / "sub").mkdir()
    os.symlink("../../cat", tmp_path / "cat" / "sub" / "again")
    with pytest.raises(SourceError, match="symbolic link loop") as exc:
        read_folders(tmp_path)
    assert exc.value.path == str(tmp_path / "cat" / "sub" / "again")


def test_symlink_to_the_root_is_a_loop(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    os.symlink(tmp_path, tmp_path / "cat" / "root")
    with pytest.raises(SourceError, match="symbolic link loop"):
        read_folders(tmp_path)


def test_links_inside_the_root_are_followed_and_keep_their_own_path(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.jpg")
    write_image(tmp_path / "shared" / "s.jpg")
    os.symlink("../shared/s.jpg", tmp_path / "cat" / "linked.jpg")
    os.symlink("cat", tmp_path / "kitty")  # a label folder that is a link
    ds = read_folders(tmp_path)
    assert ds.classes == {"cat": 0, "kitty": 1, "shared": 2}
    assert _paths(ds) == ["cat/a.jpg", "cat/linked.jpg", "kitty/a.jpg", "kitty/linked.jpg", "shared/s.jpg"]


def test_a_linked_root_works(tmp_path: Path) -> None:
    write_image(tmp_path / "data" / "cat" / "a.jpg")
    os.symlink(tmp_path / "data", tmp_path / "current")
    assert _paths(read_folders(tmp_path / "current")) == ["cat/a.jpg"]


def test_links_leaving_the_root_or_broken_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_image(root / "cat" / "a.jpg")
    outside = write_image(tmp_path / "elsewhere" / "o.jpg")
    os.symlink(outside, root / "cat" / "out.jpg")
    os.symlink(tmp_path / "elsewhere", root / "dog")
    os.symlink("missing.jpg", root / "cat" / "broken.jpg")
    with pytest.raises(SourceError) as exc:
        read_folders(root)
    msg = str(exc.value)
    assert "3 file(s) cannot be used" in msg
    assert "cat/broken.jpg: broken symbolic link" in msg
    assert f"cat/out.jpg: symbolic link to {outside}, outside the dataset folder" in msg
    assert f"dog: symbolic link to {tmp_path / 'elsewhere'}, outside" in msg
    ds = read_folders(root, skip_invalid=True)
    assert _paths(ds) == ["cat/a.jpg"]
    assert _note(ds, "MK_LINK_OUTSIDE_ROOT")[0] == 2
    assert _note(ds, "MK_BROKEN_LINK")[0] == 1


# ----------------------------------------------------------------------- manifests and determinism


def test_convert_folders_writes_one_line_per_labelled_image(tmp_path: Path) -> None:
    write_image(tmp_path / "in" / "b" / "x.jpg")
    write_image(tmp_path / "in" / "a" / "y.png")
    write_image(tmp_path / "in" / "root.jpg")
    summary = convert_folders(tmp_path / "in", tmp_path / "out", s3_prefix="s3://my-bucket/data",
                              creation_date=DATE)
    assert summary.output == str(tmp_path / "out.manifest")
    assert (summary.images, summary.labels) == (2, {"a": 1, "b": 1})
    back = read_manifest(tmp_path / "out.manifest")
    assert [(i.source_ref, i.labels) for i in back] == [("s3://my-bucket/data/a/y.png", ("a",)),
                                                       ("s3://my-bucket/data/b/x.jpg", ("b",))]
    text = (tmp_path / "out.manifest").read_text(encoding="utf-8")
    assert '"label":0' in text and '"label":1' in text and "2024-05-01T12:00:00.000000" in text


_SYSTEM = {"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "@eadir", "$recycle.bin",
           "system volume information"}
_label = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\"), min_size=1,
                 max_size=12).filter(lambda s: not s.startswith(".") and s.lower() not in _SYSTEM
                                     and len(s.encode("utf-8")) <= 200)
_tree = st.dictionaries(_label, st.lists(st.tuples(st.booleans(), st.sampled_from(["JPEG", "PNG"])),
                                         min_size=1, max_size=3), min_size=1, max_size=5)
_PNG = image_bytes(64, 64, "PNG")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_tree)
def test_random_label_trees_round_trip(tree: dict[str, list[tuple[bool, str]]],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "data")
        expected: dict[str, str] = {}
        for label, images in tree.items():
            for i, (nested, fmt) in enumerate(images):
                rel = f"{label}/deeper/{i}.{fmt.lower()}" if nested else f"{label}/{i}.{fmt.lower()}"
                p = root / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(JPEG if fmt == "JPEG" else _PNG)
                expected["s3://my-bucket/p/" + rel] = label
        ds = read_folders(root)
        assert ds.classes == {lab: i for i, lab in enumerate(sorted(tree))}
        out1, out2, out3 = (Path(tmp, f"m{i}.manifest") for i in range(3))
        write_manifest(ds, out1, s3_prefix="s3://my-bucket/p/", creation_date_value=DATE)
        back = {it.source_ref: it.labels for it in read_manifest(out1)}
        assert back == {ref: (label,) for ref, label in expected.items()}
        # Same tree, same date -> byte-identical, whether the date is given or comes from SOURCE_DATE_EPOCH.
        write_manifest(read_folders(root), out2, s3_prefix="s3://my-bucket/p/", creation_date_value=DATE)
        assert out1.read_bytes() == out2.read_bytes()
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1714564800")  # 2024-05-01T12:00:00Z
        write_manifest(read_folders(root), out3, s3_prefix="s3://my-bucket/p/")
        monkeypatch.delenv("SOURCE_DATE_EPOCH")
        assert out1.read_bytes() == out3.read_bytes()


# ------------------------------------------------------------------------------------- conformance


def test_datumaro_imagenet_dataset() -> None:
    ds = read_folders(IMAGENET)
    assert ds.classes == {"label_0": 0, "label_1": 1}
    assert [(i.path, i.labels, i.format) for i in ds] == [
        ("label_0/label_0_1.jpg", ("label_0",), "JPEG"),
        ("label_1/label_1_1.jpg", ("label_1",), "JPEG"),
        ("label_1/label_1_1/label_1_1.jpg", ("label_1",), "JPEG"),
    ]
    # The fixture's images are tiny (below Rekognition's 64 px): reading still works, validation flags them.
    assert all(i.width is not None and i.width < 64 for i in ds)
    assert _note(ds, "MK_UNLABELLED_IMAGE") == (1, ["label_0_2.jpg"], "warning")


def test_datumaro_imagenet_subsets_dataset(tmp_path: Path) -> None:
    # Pointing at the split folder converts that split; pointing at the top makes the splits the labels.
    for split in ("train", "val", "test"):
        ds = read_folders(IMAGENET_SUBSETS / split)
        assert ds.classes == {"label_0": 0, "label_1": 1}
        assert len(_paths(ds)) == 3
    whole = read_folders(IMAGENET_SUBSETS)
    assert whole.classes == {"test": 0, "train": 1, "val": 2}
    assert _paths(whole)[:4] == ["test/label_0/label_0_1.jpg", "test/label_0_2.jpg", "test/label_1/label_1_1.jpg",
                                 "test/label_1/label_1_1/label_1_1.jpg"]
    summary = convert_folders(IMAGENET_SUBSETS / "train", tmp_path / "train", s3_prefix="s3://my-bucket/train/",
                              creation_date=DATE)
    assert summary.images == 3


# ------------------------------------------------------------------------------------- sample_data


def test_make_sample_data_reproduces_the_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_data.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*") if p.is_file()
                       and p.relative_to(SAMPLE).parts[0] in ("folders", "coco"))
    assert made == committed
    assert len(made) > 50
    different = [rel for rel in made if not filecmp.cmp(tmp_path / rel, SAMPLE / rel, shallow=False)]
    assert different == []
    assert sum((SAMPLE / rel).stat().st_size for rel in made) < 1024 * 1024


def test_committed_sample_folders_convert(tmp_path: Path) -> None:
    summary = convert_folders(SAMPLE / "folders", tmp_path / "folders", s3_prefix="s3://my-bucket/folders/",
                              creation_date=DATE)
    assert summary.labels == {"circle": 10, "square": 10, "triangle": 10}
    assert summary.notes["MK_UNLABELLED_IMAGE"].examples == ["unsorted.jpg"]
    assert summary.notes["MK_SKIPPED_NOT_IMAGE"].examples == ["README.txt"]
    items = list(read_folders(SAMPLE / "folders"))
    assert "square/outlined/square_09.jpg" in [i.path for i in items]
    assert {i.format for i in items} == {"JPEG", "PNG"}
    # Valid for Rekognition: 64..4096 px per side.
    assert all(64 <= i.width <= 4096 and 64 <= i.height <= 4096 for i in items)  # type: ignore[operator]
