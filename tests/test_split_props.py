"""Properties of manifestkit split, checked on generated manifests (hypothesis)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_split import cls_line, det_line, gt_multilabel_line

from manifestkit.errors import ManifestKitError
from manifestkit.manifest import parse_line
from manifestkit.splitting import line_labels, split

LABELS = ["ant", "bee", "cat", "dog", "eel", "fox"]
GROUP_RX = r"/(g\d+)/"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def manifests(draw: Any, *, single_label: bool = False, grouped: bool = True) -> list[str]:
    """Lines of a manifest: images in groups (g0, g1, ...) or alone, some duplicated, some odd lines.

    There is always at least one image line (a manifest without one is an error, tested on its own).
    """
    n_images = draw(st.integers(1, 40))
    lines: list[str] = []
    for k in range(n_images):
        group = draw(st.integers(0, 6)) if grouped and draw(st.booleans()) else None
        ref = f"s3://mk-data/{'g%d' % group if group is not None else 'solo'}/{k}.jpg"
        if single_label:
            # One label per unit too: a group's images share its label (mixed groups are multi-label units).
            label = LABELS[group % len(LABELS)] if group is not None else draw(st.sampled_from(LABELS))
            lines.append(cls_line(ref, label))
            continue
        kind = draw(st.sampled_from(["cls", "multi", "gt", "det", "none"]))
        labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3, unique=True))
        if kind == "cls":
            lines.append(cls_line(ref, labels[0]))
        elif kind == "multi":
            lines.append(cls_line(ref, *labels))
        elif kind == "gt":
            lines.append(gt_multilabel_line(ref, *labels))
        elif kind == "det":
            boxes = draw(st.lists(st.sampled_from(labels), min_size=1, max_size=6))
            lines.append(det_line(ref, *boxes))
        else:
            lines.append(json.dumps({"source-ref": ref}))
    if not single_label and lines:
        # The same image listed twice, and lines Rekognition would count as invalid.
        for _ in range(draw(st.integers(0, 2))):
            lines.insert(draw(st.integers(0, len(lines))), lines[draw(st.integers(0, len(lines) - 1))])
        for odd in draw(st.lists(st.sampled_from(["", "{oops", "[1]", '{"a": 1}']), max_size=2)):
            lines.insert(draw(st.integers(0, len(lines))), odd)
    return lines


fractions = st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.5, 0.8])
seeds = st.integers(0, 2**40)


def do_split(lines: list[str], fraction: float, seed: int, group_by: str | None = GROUP_RX) -> tuple[
        Any, list[bytes], list[bytes], list[bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.manifest"
        src.write_bytes("".join(line + "\n" for line in lines).encode())
        res = split(src, Path(tmp) / "train", Path(tmp) / "test", test_fraction=fraction, seed=seed,
                    group_by=group_by)
        train = Path(res.train_path).read_bytes().splitlines(keepends=True)
        test = Path(res.test_path).read_bytes().splitlines(keepends=True)
    return res, [(line + "\n").encode() for line in lines], train, test


def unit_of(lines: list[bytes], group_by: str | None) -> dict[bytes, str]:
    """The unit a parseable line belongs to: its --group-by group, else its source-ref."""
    out = {}
    for raw in lines:
        got = line_labels(raw)
        if got is None:
            continue
        m = re.search(group_by, got[0]) if group_by else None
        out[raw] = "group:" + m.group(1) if m else "ref:" + got[0]
    return out


def label_units(lines: list[bytes], group_by: str | None) -> dict[str, set[str]]:
    units: dict[str, set[str]] = defaultdict(set)
    for raw, unit in unit_of(lines, group_by).items():
        for label in line_labels(raw)[1]:  # type: ignore[index]
            units[label].add(unit)
    return units


def images_per_label(lines: list[bytes]) -> Counter[str]:
    c: Counter[str] = Counter()
    for raw in lines:
        got = line_labels(raw)
        if got is not None:
            c.update(got[1].keys())
    return c


def boxes_per_label(lines: list[bytes]) -> Counter[str]:
    c: Counter[str] = Counter()
    for raw in lines:
        got = line_labels(raw)
        if got is not None:
            c.update(got[1])
    return c


# ------------------------------------------------------------------------------------------ properties


@SETTINGS
@given(manifests(), fractions, seeds)
def test_partition_in_order(lines: list[str], fraction: float, seed: int) -> None:
    res, inputs, train, test = do_split(lines, fraction, seed)
    assert Counter(train) + Counter(test) == Counter(inputs)
    # Each part keeps the input order: walking the input, every line is the next one of its part.
    it_train, it_test = iter(train), iter(test)
    nxt_train, nxt_test = next(it_train, None), next(it_test, None)
    for raw in inputs:
        if raw == nxt_train:
            nxt_train = next(it_train, None)
        else:
            assert raw == nxt_test
            nxt_test = next(it_test, None)
    assert (res.train_lines, res.test_lines) == (len(train), len(test))
    # Blank and unparseable lines are all in train.
    for raw in inputs:
        if line_labels(raw) is None and not raw.startswith(b'{"source-ref"'):
            assert raw in train


@SETTINGS
@given(manifests(), fractions, seeds)
def test_no_image_or_group_in_both_parts(lines: list[str], fraction: float, seed: int) -> None:
    res, inputs, train, test = do_split(lines, fraction, seed)
    units_train = set(unit_of(train, GROUP_RX).values())
    units_test = set(unit_of(test, GROUP_RX).values())
    assert not units_train & units_test
    refs_train = {json.loads(x)["source-ref"] for x in train if x.startswith(b'{"source-ref"')}
    refs_test = {json.loads(x)["source-ref"] for x in test if x.startswith(b'{"source-ref"')}
    assert not refs_train & refs_test


@SETTINGS
@given(manifests(), fractions, seeds)
def test_label_coverage_and_overlap(lines: list[str], fraction: float, seed: int) -> None:
    res, inputs, train, test = do_split(lines, fraction, seed)
    units = label_units(inputs, GROUP_RX)
    tr, te = images_per_label(train), images_per_label(test)
    warned = {(w.code, w.label) for w in res.warnings}
    for label, us in units.items():
        if len(us) == 1:
            # A label with one image (or one group) goes to train, and says so.
            assert tr[label] >= 1 and te[label] == 0
            assert ("MK_SPLIT_ONE_IMAGE", label) in warned or ("MK_SPLIT_ONE_GROUP", label) in warned
        else:
            assert te[label] >= 1 or ("MK_SPLIT_LABEL_NOT_IN_TEST", label) in warned
        assert tr[label] >= 1, label  # every label is in train, always
    # The table is what the files hold.
    boxes_tr, boxes_te = boxes_per_label(train), boxes_per_label(test)
    for row in res.labels:
        assert (row.train_images, row.test_images) == (tr[row.label], te[row.label])
        assert (row.train_boxes, row.test_boxes) == (boxes_tr[row.label], boxes_te[row.label])
        assert row.groups == len(units[row.label])
    in_train = [lab for lab in tr if tr[lab]]
    overlap = Fraction(sum(1 for lab in in_train if te[lab]), len(in_train)) if in_train else Fraction(1)
    assert res.label_overlap == float(overlap)
    assert (overlap >= Fraction(1, 2)) == res.overlap_ok
    if overlap < Fraction(1, 2):
        assert any(w.code == "ERROR_INSUFFICIENT_LABEL_OVERLAP" for w in res.warnings)


@SETTINGS
@given(manifests(single_label=True), fractions, seeds)
def test_single_label_every_label_in_both_parts_and_near_target(lines: list[str], fraction: float,
                                                                  seed: int) -> None:
    res, inputs, train, test = do_split(lines, fraction, seed)
    units = label_units(inputs, GROUP_RX)
    unit_sizes: dict[str, Counter[str]] = defaultdict(Counter)
    for raw, unit in unit_of(inputs, GROUP_RX).items():
        unit_sizes[line_labels(raw)[1].popitem()[0]][unit] += 1  # type: ignore[index]
    tr, te = images_per_label(train), images_per_label(test)
    for label, us in units.items():
        if len(us) >= 2:
            assert tr[label] >= 1 and te[label] >= 1
        biggest = max(unit_sizes[label].values())
        n = tr[label] + te[label]
        if len(us) >= 2:
            # Within one group of the target share (the repair pass may move one group).
            assert abs(te[label] - fraction * n) <= biggest, (label, te[label], n, biggest)


@settings(max_examples=25, deadline=None)
@given(manifests(), fractions, seeds)
def test_same_seed_same_bytes(lines: list[str], fraction: float, seed: int) -> None:
    _, _, train1, test1 = do_split(lines, fraction, seed)
    _, _, train2, test2 = do_split(lines, fraction, seed)
    assert (train1, test1) == (train2, test2)


_CHILD = ("import sys; from manifestkit.splitting import split; "
          "split(sys.argv[1], sys.argv[2], sys.argv[3], test_fraction=float(sys.argv[4]), seed=int(sys.argv[5]), "
          "group_by=sys.argv[6])")


@settings(max_examples=4, deadline=None)
@given(manifests(), fractions, seeds, st.integers(0, 2**32 - 1))
def test_same_bytes_in_another_process_with_another_hash_seed(lines: list[str], fraction: float, seed: int,
                                                              hashseed: int) -> None:
    """str hashing (PYTHONHASHSEED) and set order must not reach the output: compare across processes."""
    _, _, train, test = do_split(lines, fraction, seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.manifest"
        src.write_bytes("".join(line + "\n" for line in lines).encode())
        env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
        subprocess.run([sys.executable, "-c", _CHILD, str(src), f"{tmp}/tr", f"{tmp}/te", repr(fraction), str(seed),
                        GROUP_RX], check=True, env=env)
        assert Path(f"{tmp}/tr.manifest").read_bytes().splitlines(keepends=True) == train
        assert Path(f"{tmp}/te.manifest").read_bytes().splitlines(keepends=True) == test


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_group_integrity_with_any_capture(data: st.DataObject) -> None:
    lines = data.draw(manifests())
    # Group by the image number's last digit: unrelated images grouped together must still stay together.
    rx = r"/\d*(\d)\.jpg$"
    res, inputs, train, test = do_split(lines, data.draw(fractions), data.draw(seeds), group_by=rx)
    digits_train = {m.group(1) for x in train if (m := re.search(rx, x.decode()))}
    digits_test = {m.group(1) for x in test if (m := re.search(rx, x.decode()))}
    assert not digits_train & digits_test


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from([b"A", b"B", b"CC", b"DD", b"E" * 5])),
                min_size=2, max_size=30), fractions, seeds)
def test_identical_files_stay_together(images: list[tuple[str, bytes]], fraction: float, seed: int) -> None:
    """With --images, lines whose files have the same bytes are in one part (sizes collide on purpose)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        lines = []
        for k, (label, content) in enumerate(images):
            (folder / f"{k}.jpg").write_bytes(content)
            lines.append(cls_line(f"s3://mk-data/p/{k}.jpg", label))
        src = Path(tmp) / "in.manifest"
        src.write_bytes("".join(line + "\n" for line in lines).encode())
        res = split(src, Path(tmp) / "train", Path(tmp) / "test", test_fraction=fraction, seed=seed,
                    images=folder, s3_prefix="s3://mk-data/p/")
        test = set(Path(res.test_path).read_bytes().splitlines())
    part_of_content: dict[bytes, set[bool]] = defaultdict(set)
    for line, (_, content) in zip(lines, images):
        part_of_content[content].add(line.encode() in test)
    assert all(len(parts) == 1 for parts in part_of_content.values())
    assert res.groups == len(part_of_content) and res.images_missing == 0


# ------------------------------------------------------------------------- the fast label reader


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.sampled_from(
        ["x", "0", "1", "groundtruth/object-detection", "groundtruth/image-classification",
         "groundtruth/image-classification-multilabel"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "class-name", "class-map", "annotations", "objects", "class_id", "left", "top",
                         "width", "height", "0", "1", "confidence"]), children, max_size=4),
    max_leaves=12)


@st.composite
def odd_lines(draw: Any) -> bytes:
    """Lines near the supported shapes, with any part swapped for something else."""
    base = json.loads(draw(st.sampled_from([
        cls_line("s3://mk-data/a.jpg", "a", "b"), det_line("s3://mk-data/b.jpg", "x", "y", "x"),
        gt_multilabel_line("s3://mk-data/c.jpg", "p", "q")])))
    for _ in range(draw(st.integers(0, 3))):
        path = []
        node: Any = base
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append((node, key))
            node = node[key]
        if path:
            parent, key = path[-1]
            parent[key] = draw(json_values)
    return json.dumps(base).encode()


@settings(max_examples=300, deadline=None)
@given(odd_lines())
def test_line_labels_agree_with_parse_line(raw: bytes) -> None:
    """The typed fast reader gives parse_line's labels and box counts, or None where parse_line fails."""
    try:
        obj = json.loads(raw)
        item = parse_line(obj) if isinstance(obj, dict) else None
    except (ManifestKitError, TypeError, ValueError, KeyError, AttributeError):
        item = None
    got = line_labels(raw)
    if item is None:
        assert got is None
    else:
        boxes = Counter(b.label for b in item.boxes)
        assert got == (item.source_ref, {lab: boxes.get(lab, 0) for lab in item.all_labels})
