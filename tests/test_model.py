from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from manifestkit.model import Box, ImageItem, Summary, box_too_small, normalize_box, round_half_up


def test_round_half_up_is_not_bankers() -> None:
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, -0.5, 2.49999)] == [1, 2, 3, 0, 2]


def test_normalize_box_rounds_each_edge() -> None:
    # left 10.4 -> 10, right 10.4 + 20.3 = 30.7 -> 31: width 21, not round(20.3) = 20.
    (l, t, w, h), rounded, clipped = normalize_box(10.4, 5.6, 20.3, 10.0, 100, 100)
    assert (l, t, w, h) == (10, 6, 21, 10)
    assert rounded and not clipped


def test_normalize_box_clips_to_image() -> None:
    (l, t, w, h), rounded, clipped = normalize_box(-5, 90, 20, 20, 100, 100)
    assert (l, t, w, h) == (0, 90, 15, 10)
    assert clipped and not rounded


def test_normalize_box_integer_input_untouched() -> None:
    assert normalize_box(1, 2, 3, 4, 10, 10) == ((1, 2, 3, 4), False, False)


def test_normalize_box_fully_outside_is_empty() -> None:
    (l, t, w, h), _, clipped = normalize_box(200, 10, 30, 30, 100, 100)
    assert clipped and w == 0


def test_box_too_small_rescales_after_1280() -> None:
    # On a 4096 px image s = 1280/4096 = 0.3125: a 3 px edge becomes 0.94 <= 1.
    assert box_too_small(3, 100, 4096, 2000)
    assert not box_too_small(4, 100, 4096, 2000)
    # Images up to 1280 px are not rescaled: 1 px is too small, 2 px is fine.
    assert box_too_small(1, 50, 640, 480)
    assert not box_too_small(2, 2, 640, 480)


@settings(max_examples=200)
@given(st.floats(-500, 1500), st.floats(-500, 1500), st.floats(0, 2000), st.floats(0, 2000),
       st.integers(1, 1200), st.integers(1, 1200))
def test_normalize_box_stays_inside_and_within_a_pixel(x: float, y: float, w: float, h: float, W: int,
                                                       H: int) -> None:
    (l, t, bw, bh), _, clipped = normalize_box(x, y, w, h, W, H)
    assert 0 <= l <= W and 0 <= t <= H and l + bw <= W and t + bh <= H
    assert bw >= 0 and bh >= 0
    if not clipped:
        assert abs(l - x) <= 0.5 and abs((l + bw) - (x + w)) <= 0.5
        assert abs(t - y) <= 0.5 and abs((t + bh) - (y + h)) <= 0.5


def test_summary_counts_and_bounds_examples() -> None:
    s = Summary(max_examples=2)
    for i in range(5):
        s.note("MK_X", "something", f"item {i}")
    s.count_item(ImageItem("a.jpg", 10, 10, labels=("cat",), boxes=(Box("dog", 0, 0, 1, 1),)))
    d = s.to_dict()
    assert d["notes"] == [{"code": "MK_X", "severity": "warning", "message": "something", "count": 5,
                           "examples": ["item 0", "item 1"]}]
    assert d["images"] == 1 and d["boxes"] == 1 and d["labels"] == {"cat": 1, "dog": 1}


def test_all_labels_keeps_first_seen_order() -> None:
    item = ImageItem("a", labels=("b", "a"), boxes=(Box("c", 0, 0, 1, 1), Box("a", 0, 0, 1, 1)))
    assert item.all_labels == ("b", "a", "c")


def test_batched_progress_reports_every_n_and_the_rest() -> None:
    from manifestkit.model import Batched

    calls: list[int] = []
    tick = Batched(calls.append, every=3)
    for _ in range(7):
        tick()
    tick.flush()
    tick.flush()
    assert calls == [3, 3, 1]
    Batched(None)()  # no callback: nothing to do, no error
