"""manifestkit split on big manifests: the first pass read by two processes gives what one process gives."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_split import cls_line, det_line, gt_multilabel_line
from test_split_props import GROUP_RX, manifests

from manifestkit.splitting import line_labels, split

# The module itself: the package's `split` attribute is the function.
split_mod = importlib.import_module("manifestkit.splitting")

_FIELDS = ("n", "lab_start", "lab_flat", "box_flat", "key", "flags", "parent", "unions", "names", "ids", "images",
           "boxes", "invalid", "invalid_examples", "start", "ends")


def _state(lines: split_mod._Lines) -> dict[str, Any]:
    return {f: getattr(lines, f) for f in _FIELDS}


def _sequential(path: str, seed: int, rx: re.Pattern[str] | None) -> split_mod._Lines:
    part = split_mod._Part()
    with open(path, "rb") as fp:
        split_mod._read_part(fp, part, split_mod._key_base(seed), rx, None)
    lines = split_mod._Lines()
    split_mod._merge(lines, part, None)
    return lines


def _in_two(path: str, mid: int, seed: int, rx: re.Pattern[str] | None) -> split_mod._Lines:
    """The two-process first pass with the tail read in this process (the worker runs this same function)."""
    head = split_mod._Part()
    with open(path, "rb") as fp:
        split_mod._read_part(fp, head, split_mod._key_base(seed), rx, None, limit=mid)
    lines = split_mod._Lines()
    split_mod._merge(lines, head, split_mod._read_tail(path, mid, seed, rx))
    return lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.booleans(), st.booleans(), st.integers(0, 2**40), st.data())
def test_two_parts_join_to_the_one_pass_result(lines: list[str], bom: bool, grouped: bool, seed: int,
                                               data: st.DataObject) -> None:
    raw = ("\ufeff" if bom else "") + "".join(line + "\n" for line in lines)
    body = raw.encode()
    ends = [i + 1 for i, b in enumerate(body) if b == 0x0A][:-1]  # line ends before the last line's
    if not ends:
        return
    mid = data.draw(st.sampled_from(ends))
    rx = re.compile(GROUP_RX) if grouped else None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.manifest"
        src.write_bytes(body)
        one = _state(_sequential(str(src), seed, rx))
        two = _state(_in_two(str(src), mid, seed, rx))
    assert two == one
    assert one["n"] == len(lines)


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"") + b"\n"), min_size=1, max_size=30),
       st.data())
def test_chunks_stop_exactly_at_the_limit(lines: list[bytes], data: st.DataObject) -> None:
    body = b"".join(lines)
    ends = [sum(map(len, lines[:k + 1])) for k in range(len(lines))]
    limit = data.draw(st.sampled_from(ends))
    got = b"".join(b"".join(chunk) for chunk in split_mod._chunks(io.BytesIO(body), limit))
    # A byte-order mark is taken off the first line, which is the only change _chunks makes.
    want = body[:limit]
    assert got == (want[3:] if want.startswith(b"\xef\xbb\xbf") else want)


def _big_manifest(path: Path) -> None:
    """A mixed manifest whose halves both have every kind of line; labels first met in the second half."""
    out = ["\ufeff" + cls_line("s3://b/g0/0.jpg", "cat")]
    for k in range(1, 400):
        g = f"g{k % 23}"
        if k % 97 == 0:
            out.append("")
        elif k % 89 == 0:
            out.append("{broken")
        elif k % 3 == 0:
            late = ["late_box"] if k > 250 else []
            out.append(det_line(f"s3://b/{g}/{k}.jpg", "car", "car", "bus", *late))
        elif k % 3 == 1:
            out.append(gt_multilabel_line(f"s3://b/{g}/{k}.jpg", "cat", "late_tag" if k > 300 else "dog"))
        else:
            out.append(cls_line(f"s3://b/{g}/{k % 150}.jpg", "cat" if k % 2 else "dog"))  # some listed twice
    path.write_bytes("\n".join(out).encode())  # and no line end after the last line


def _split_all(src: Path, out: Path) -> tuple[dict[str, Any], str]:
    res = split(src, out / "train", out / "test", test_fraction=0.25, seed=11, group_by=GROUP_RX)
    digest = hashlib.sha256(Path(res.train_path).read_bytes() + b"|" + Path(res.test_path).read_bytes())
    d = res.to_dict()
    for k in ("train", "test"):
        d.pop(k)
    return d, digest.hexdigest()


def test_worker_process_gives_the_same_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.manifest"
    _big_manifest(src)
    want = _split_all(src, tmp_path / "one")
    assert want[0]["invalid_lines"] == 8 and want[0]["lines"] == 400

    monkeypatch.setattr(split_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(split_mod, "_cpus", lambda: 2)
    started: list[Any] = []
    real_start = split_mod._start_tail
    monkeypatch.setattr(split_mod, "_start_tail", lambda *a: started.append(real_start(*a)) or started[-1])

    def not_here(*args: Any) -> Any:
        raise AssertionError("the tail was read in the main process, not by the worker")

    monkeypatch.setattr(split_mod, "_read_tail", not_here)
    assert _split_all(src, tmp_path / "two") == want
    assert started and started[0] is not None and started[0].returncode == 0


@pytest.mark.parametrize(("executable", "worker"), [
    ("/nonexistent/python", None),  # cannot start
    ("/bin/false", None),  # not a Python interpreter: not started
    (sys.executable, "import sys; sys.exit(3)"),  # fails
    (sys.executable, "import sys; sys.stdout.buffer.write(b'not a pickle')"),  # answers nonsense
])
def test_no_worker_falls_back_to_reading_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              executable: str, worker: str | None) -> None:
    src = tmp_path / "in.manifest"
    _big_manifest(src)
    want = _split_all(src, tmp_path / "one")
    monkeypatch.setattr(split_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(split_mod, "_cpus", lambda: 2)
    monkeypatch.setattr(split_mod.sys, "executable", executable)
    if worker is not None:
        monkeypatch.setattr(split_mod, "_WORKER", worker)
    assert _split_all(src, tmp_path / "two") == want


def test_progress_counts_every_line_once_with_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.manifest"
    _big_manifest(src)
    monkeypatch.setattr(split_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(split_mod, "_cpus", lambda: 2)
    seen: list[int] = []
    split(src, tmp_path / "train", tmp_path / "test", progress=seen.append)
    assert sum(seen) == 2 * 400  # first pass and second pass


def test_fast_box_reader_edge_cases() -> None:
    def det(anns: list[dict[str, Any]], cmap: Any) -> bytes:
        return json.dumps({"source-ref": "s3://b/x.jpg", "bb": {"annotations": anns},
                           "bb-metadata": {"type": "groundtruth/object-detection", "class-map": cmap}}).encode()

    box = {"left": 1, "top": 2, "width": 3, "height": 4}
    # Two ids of one name add up; an id missing from the class-map is named by the id.
    assert line_labels(det([{**box, "class_id": 0}, {**box, "class_id": 1}, {**box, "class_id": 1}],
                           {"0": "cat", "1": "cat"})) == ("s3://b/x.jpg", {"cat": 3})
    assert line_labels(det([{**box, "class_id": 0}, {**box, "class_id": 5}], {"0": "cat"})) == (
        "s3://b/x.jpg", {"cat": 1, "5": 1})
    # Ids beyond the usual range, negative or missing are named as parse_line names them.
    assert line_labels(det([{**box, "class_id": 5000}, {**box, "class_id": -1}, box],
                           {"5000": "far", "-1": "neg", "None": "none"})) == (
        "s3://b/x.jpg", {"far": 1, "neg": 1, "none": 1})
    # A class-map naming a class with a number is read as parse_line reads it.
    assert line_labels(det([{**box, "class_id": 0}], {"0": 7})) == ("s3://b/x.jpg", {"7": 1})
    # A box without its geometry makes the line unparseable, as parse_line says.
    assert line_labels(det([{"class_id": 0, "left": 1}], {"0": "cat"})) is None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.booleans(), st.booleans(), st.integers(0, 2**40))
def test_byte_range_copy_writes_what_line_copy_writes(lines: list[str], bom: bool, last_newline: bool,
                                                      seed: int) -> None:
    body = (("\ufeff" if bom else "") + "\n".join(lines) + ("\n" if last_newline else "")).encode()
    outs = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.manifest"
        src.write_bytes(body)
        for min_lines in (0, 10**9):  # always copy runs as byte ranges / always line by line
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(split_mod, "_RUN_COPY_MIN_LINES", min_lines)
                try:
                    res = split(src, Path(tmp) / f"train{min_lines}", Path(tmp) / f"test{min_lines}", seed=seed,
                                group_by=GROUP_RX)
                except split_mod.ManifestError:
                    return  # no image line: nothing to copy
                outs.append((Path(res.train_path).read_bytes(), Path(res.test_path).read_bytes()))
    assert outs[0] == outs[1]
    train, test = outs[0]
    assert sorted((train + test).splitlines()) == sorted(body.removeprefix(b"\xef\xbb\xbf").splitlines())
