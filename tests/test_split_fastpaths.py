"""manifestkit split: the inlined stratification round and the unit counts give what the plain per-unit
methods give (the methods are the reference: repair and the forced/unlabelled units still use them)."""

from __future__ import annotations

import importlib
import re
import tempfile
from collections import Counter
from fractions import Fraction
from itertools import compress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_split import cls_line, det_line
from test_split_props import GROUP_RX, fractions, manifests, seeds

split_mod = importlib.import_module("manifestkit.splitting")

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _splitter(lines: list[str], fraction: float, seed: int, group_by: str | None) -> split_mod._Splitter:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.manifest"
        src.write_bytes("".join(line + "\n" for line in lines).encode())
        data = split_mod._Lines()
        split_mod._first_pass(str(src), data, seed, re.compile(group_by) if group_by else None, None)
    sp = split_mod._Splitter(data, Fraction(repr(fraction)), any(data.boxes))
    sp.build_units()
    return sp


def _reference_stratify(sp: split_mod._Splitter) -> None:
    """Iterative stratification one unit at a time through choose() and assign()."""
    L, s = sp.L, sp.s
    part = s.part
    for r in sp.forced:
        if part[r] == split_mod._NONE:
            sp.assign(r, split_mod._TRAIN)
    rank = {lid: k for k, lid in enumerate(sorted(range(len(L.names)), key=L.names.__getitem__))}
    img_train, img_test = s.img
    left = [lid for lid in range(len(L.names)) if L.images[lid] - img_train[lid] - img_test[lid] > 0]
    while left:
        lid = min(left, key=lambda x: (L.images[x] - img_train[x] - img_test[x], rank[x]))
        for r in sp.label_units[lid]:
            if part[r] != split_mod._NONE:
                continue
            c_img = c_box = 0
            j = r
            while j >= 0:
                labs = list(L.lab_flat[L.lab_start[j]:L.lab_start[j + 1]])
                if lid in labs:
                    c_img += 1
                    c_box += L.box_flat[L.lab_start[j] + labs.index(lid)]
                j = sp.nxt[j]
            sp.assign(r, sp.choose(r, lid, c_img, c_box))
        left = [x for x in left if L.images[x] - img_train[x] - img_test[x] > 0]
    for r in sp.unlabelled:
        if part[r] == split_mod._NONE:
            sp.assign(r, sp.overall_choice(r))


def _state(sp: split_mod._Splitter) -> tuple[bytes, list[list[int]], list[list[int]], list[int]]:
    return bytes(sp.s.part), sp.s.img, sp.s.box, sp.s.lines_in


@SETTINGS
@given(manifests(), st.booleans(), fractions, seeds)
def test_inlined_rounds_place_every_unit_as_choose_and_assign_do(lines: list[str], grouped: bool,
                                                                  fraction: float, seed: int) -> None:
    group_by = GROUP_RX if grouped else None
    fast, ref = _splitter(lines, fraction, seed, group_by), _splitter(lines, fraction, seed, group_by)
    fast.stratify()
    _reference_stratify(ref)
    assert _state(fast) == _state(ref)
    assert split_mod._NONE not in fast.s.part


def _reference_unit_counts(sp: split_mod._Splitter) -> list[int]:
    return [len(set(us)) for us in sp.label_units]


@SETTINGS
@given(manifests(), st.booleans(), seeds)
def test_unit_counts_are_the_distinct_units_per_label(lines: list[str], grouped: bool, seed: int) -> None:
    sp = _splitter(lines, 0.2, seed, GROUP_RX if grouped else None)
    assert sp.unit_count == _reference_unit_counts(sp)


def test_unit_counts_with_few_joined_lines_subtract_repeats_within_a_unit() -> None:
    # 40 images, one listed three times with different boxes: few unions, so the units are walked.
    lines = [det_line(f"s3://b/solo/{k}.jpg", "cat" if k % 2 else "dog", "bird") for k in range(40)]
    lines += [det_line("s3://b/solo/7.jpg", "cat", "cat", "fish"), det_line("s3://b/solo/7.jpg", "dog", "cat")]
    sp = _splitter(lines, 0.2, 3, None)
    assert 4 * sp.L.unions <= sp.L.n  # the walking branch
    names = sp.L.names
    got = {names[lid]: c for lid, c in enumerate(sp.unit_count)}
    assert got == {"cat": 20, "dog": 21, "bird": 40, "fish": 1}
    assert sp.unit_count == _reference_unit_counts(sp)
    # The unit of line 7 holds all three of its lines, chained in line order from its first line.
    chain, j = [], 7
    while j >= 0:
        chain.append(j)
        j = sp.nxt[j]
    assert chain == [7, 40, 41]
    # Every line that is not a root points straight at its root.
    parent = sp.L.parent
    assert list(compress(range(sp.L.n), map(int.__ne__, parent, range(sp.L.n)))) == [40, 41]
    assert parent[40] == parent[41] == 7


def test_unit_counts_with_many_joined_lines() -> None:
    lines = [det_line(f"s3://b/g{k % 5}/{k}.jpg", "cat" if k % 3 else "dog") for k in range(30)]
    sp = _splitter(lines, 0.2, 1, GROUP_RX)
    assert 4 * sp.L.unions > sp.L.n  # the len(set()) branch
    counts = {sp.L.names[lid]: c for lid, c in enumerate(sp.unit_count)}
    assert counts == {"cat": 5, "dog": 5}
    assert Counter(sp.L.parent) == Counter({0: 6, 1: 6, 2: 6, 3: 6, 4: 6})


def test_unit_counts_of_single_label_lines_with_a_duplicate() -> None:
    # One label per line: build_units groups lines by label with one sort; the duplicate joins two lines.
    lines = [cls_line(f"s3://b/solo/{k}.jpg", "cat" if k % 4 else "dog") for k in range(24)]
    lines.append(cls_line("s3://b/solo/5.jpg", "cat"))
    lines.append(cls_line("s3://b/solo/6.jpg", "dog"))
    sp = _splitter(lines, 0.25, 9, None)
    assert sp.L.unions == 2 and 4 * sp.L.unions <= sp.L.n
    counts = {sp.L.names[lid]: c for lid, c in enumerate(sp.unit_count)}
    assert counts == {"cat": 18, "dog": 7}
    assert sp.unit_count == _reference_unit_counts(sp)
