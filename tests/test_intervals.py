"""geo.coverage.intervals against a brute-force reference.

Random intervals have integer bounds in [0, 1000]; every set they produce has integer bounds
too, so membership at the half-integers 0.5, 1.5, ... decides the whole set, and a set's
length is the number of half-integers it holds. The reference counts, at each half-integer,
how many input intervals hold it: no sorting, no merging, nothing shared with the code under
test. (hypothesis is not installed in the project venv, hence a seeded numpy loop.)
"""

from __future__ import annotations

import numpy as np
import pytest

from geo.coverage import intervals as iv

N_CASES = 300
LO, HI = 0, 1000
#: Half-integers covering [LO - 60, HI + 60]: every bound any case can produce.
PTS = np.arange(LO - 60, HI + 60) + 0.5


def _random_intervals(rng: np.random.Generator, *, lo: int = LO, hi: int = HI) -> iv.Intervals:
    """0-40 intervals with integer bounds: some long, some short, some touching, some empty."""
    n = int(rng.integers(0, 41))
    starts = rng.integers(lo, hi + 1, n).astype(float)
    kind = rng.random(n)
    lengths = np.where(
        kind < 0.5,
        rng.integers(1, 30, n),  # short: many disjoint pieces
        np.where(
            kind < 0.8, rng.integers(30, 400, n), rng.integers(-5, 1, n)
        ),  # long; empty/inverted
    )
    ends = np.minimum(starts + lengths, hi).astype(float)
    if n >= 2 and rng.random() < 0.5:  # make two intervals touch exactly
        ends[0] = starts[1]
    return starts, ends


def _depth(a: iv.Intervals, pts: np.ndarray = PTS) -> np.ndarray:
    """How many intervals of ``a`` hold each point (intervals with end <= start hold none)."""
    s = np.asarray(a[0], dtype=float)
    e = np.asarray(a[1], dtype=float)
    return ((pts[:, None] > s[None, :]) & (pts[:, None] < e[None, :])).sum(axis=1)


def _inside(a: iv.Intervals, pts: np.ndarray = PTS) -> np.ndarray:
    return _depth(a, pts) > 0


def _assert_merged(res: iv.Intervals, where: str) -> None:
    """Sorted, disjoint (not even touching), positive length, integer bounds, float arrays."""
    s, e = res
    for bounds in (s, e):
        assert isinstance(bounds, np.ndarray), where
        assert bounds.dtype == np.float64, where
        assert bounds.ndim == 1, where
        assert np.array_equal(bounds, np.round(bounds)), where
    assert s.shape == e.shape, where
    assert np.all(e > s), f"{where}: empty piece in {res}"
    assert np.all(s[1:] > e[:-1]), f"{where}: pieces overlap, touch or are unsorted: {res}"


def _cases(seed: int):
    rng = np.random.default_rng(seed)
    for i in range(N_CASES):
        yield f"seed {seed} case {i}", rng


# ---- at_least / union ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_at_least_matches_depth_count(k: int) -> None:
    for where, rng in _cases(100 + k):
        a = _random_intervals(rng)
        res = iv.at_least(*a, k=k)
        _assert_merged(res, where)
        np.testing.assert_array_equal(_inside(res), _depth(a) >= k, err_msg=where)


def test_union_of_several_sets() -> None:
    for where, rng in _cases(1):
        sets = [_random_intervals(rng) for _ in range(int(rng.integers(1, 5)))]
        res = iv.union(*sets)
        _assert_merged(res, where)
        expected = np.zeros(PTS.size, dtype=bool)
        for a in sets:
            expected |= _inside(a)
        np.testing.assert_array_equal(_inside(res), expected, err_msg=where)


def test_union_by_keeps_owners_apart() -> None:
    for where, rng in _cases(9):
        a = _random_intervals(rng)
        owner = rng.integers(0, 4, a[0].size) * 7  # sparse owner numbers
        res_owner, res = iv.union_by(owner, a)
        assert res_owner.dtype == np.int64, where
        assert np.all(np.diff(res_owner) >= 0), where
        assert sorted(set(res_owner.tolist())) == sorted(set(owner[a[1] > a[0]].tolist())), where
        for o in np.unique(owner):
            mine = res_owner == o
            _assert_merged((res[0][mine], res[1][mine]), f"{where} owner {o}")
            expected = _inside((a[0][owner == o], a[1][owner == o]))
            np.testing.assert_array_equal(
                _inside((res[0][mine], res[1][mine])), expected, err_msg=where
            )


def test_union_by_float_bounds_match_union_per_owner() -> None:
    rng = np.random.default_rng(10)
    s = rng.uniform(-1e4, 1e4, 500)
    a = (s, s + rng.exponential(800.0, s.size))
    owner = rng.integers(0, 30, s.size)
    res_owner, res = iv.union_by(owner, a)
    for o in range(30):
        ref = iv.union((a[0][owner == o], a[1][owner == o]))
        np.testing.assert_array_equal(res[0][res_owner == o], ref[0])  # exact: no arithmetic
        np.testing.assert_array_equal(res[1][res_owner == o], ref[1])


def test_touching_intervals_merge_into_one() -> None:
    s, e = iv.union((np.array([5.0, 0.0, 10.0]), np.array([10.0, 5.0, 12.0])))
    np.testing.assert_array_equal(s, [0.0])
    np.testing.assert_array_equal(e, [12.0])


def test_intervals_meeting_at_a_point_have_no_depth_two() -> None:
    s, e = iv.at_least([0, 5], [5, 10], k=2)
    assert s.size == 0
    assert e.size == 0


@pytest.mark.parametrize("k", [0, -1])
def test_at_least_rejects_depth_below_one(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        iv.at_least([0, 1], [5, 6], k=k)


def test_empty_inputs() -> None:
    for res in (
        iv.union(),
        iv.union((np.empty(0), np.empty(0))),
        iv.at_least([], []),
        iv.at_least([0, 1], [1, 2], k=3),
        iv.at_least([3, 4], [3, 2]),  # only empty / inverted intervals
        iv.intersect(([0.0], [10.0]), (np.empty(0), np.empty(0))),
        iv.subtract((np.empty(0), np.empty(0)), ([0.0], [10.0])),
        iv.subtract(([2.0], [5.0]), ([0.0], [10.0])),
    ):
        assert res[0].size == 0
        assert res[1].size == 0
    assert iv.length((np.empty(0), np.empty(0))) == 0.0
    np.testing.assert_array_equal(
        iv.complement((np.empty(0), np.empty(0)), 2.0, 7.0), ([2.0], [7.0])
    )
    np.testing.assert_array_equal(
        iv.subtract(([2.0], [5.0]), (np.empty(0), np.empty(0))), ([2.0], [5.0])
    )
    assert iv.overlap_lengths(
        (np.array([0.0, 1.0]), np.array([1.0, 3.0])), (np.empty(0), np.empty(0))
    ).tolist() == [0, 0]


# ---- intersect / subtract / complement ------------------------------------------------------


def test_intersect_matches_brute_force() -> None:
    for where, rng in _cases(2):
        a, b = _random_intervals(rng), _random_intervals(rng)
        res = iv.intersect(a, b)
        _assert_merged(res, where)
        np.testing.assert_array_equal(_inside(res), _inside(a) & _inside(b), err_msg=where)


def test_subtract_matches_brute_force() -> None:
    for where, rng in _cases(3):
        a, b = _random_intervals(rng), _random_intervals(rng, lo=LO - 50, hi=HI + 50)
        res = iv.subtract(a, b)
        _assert_merged(res, where)
        np.testing.assert_array_equal(_inside(res), _inside(a) & ~_inside(b), err_msg=where)


def test_complement_matches_brute_force() -> None:
    for where, rng in _cases(4):
        # intervals may reach beyond [lo, hi] on either side, or lie wholly outside it
        a = _random_intervals(rng, lo=LO - 50, hi=HI + 50)
        lo, hi = sorted(rng.integers(LO, HI + 1, 2).astype(float))
        res = iv.complement(a, lo, hi)
        _assert_merged(res, where)
        in_range = (lo < PTS) & (hi > PTS)
        np.testing.assert_array_equal(_inside(res), in_range & ~_inside(a), err_msg=where)


# ---- length / overlap_lengths ---------------------------------------------------------------


def test_length_counts_overlaps_once() -> None:
    for where, rng in _cases(5):
        a = _random_intervals(rng)
        assert iv.length(a) == float(_inside(a).sum()), where


def test_overlap_lengths_per_interval() -> None:
    for where, rng in _cases(6):
        # a as given: its intervals may overlap each other, be empty (start == end) or
        # inverted (end < start, holding nothing)
        n = int(rng.integers(0, 30))
        a_s = rng.integers(LO, HI + 1, n).astype(float)
        a_e = np.clip(a_s + rng.integers(-20, 200, n), LO, HI).astype(float)
        b = _random_intervals(rng)
        res = iv.overlap_lengths((a_s, a_e), b)
        assert res.shape == (n,), where
        in_b = _inside(b)
        expected = [
            float((in_b & (s < PTS) & (e > PTS)).sum()) for s, e in zip(a_s, a_e, strict=True)
        ]
        np.testing.assert_allclose(res, expected, rtol=0, atol=1e-9, err_msg=where)


def test_float_bounds_against_python_sweep() -> None:
    """Non-integer bounds: union length against a plain sort-and-merge in Python."""
    rng = np.random.default_rng(7)
    for i in range(N_CASES):
        n = int(rng.integers(1, 30))
        s = rng.uniform(-1e4, 1e4, n)
        e = s + rng.exponential(500.0, n)
        merged: list[list[float]] = []
        for lo, hi in sorted(zip(s.tolist(), e.tolist(), strict=True)):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        res = iv.union((s, e))
        np.testing.assert_allclose(
            np.column_stack(res), np.array(merged), rtol=0, atol=1e-9, err_msg=f"case {i}"
        )
        assert iv.length((s, e)) == pytest.approx(sum(hi - lo for lo, hi in merged), abs=1e-6)


def test_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(8)
    a = (rng.uniform(0, 100, 20), rng.uniform(0, 100, 20))
    b = (rng.uniform(0, 100, 20), rng.uniform(0, 100, 20))
    before = [x.copy() for x in (*a, *b)]
    iv.at_least(*a, k=2)
    iv.union(a, b)
    iv.intersect(a, b)
    iv.subtract(a, b)
    iv.complement(a, 10.0, 90.0)
    iv.length(a)
    iv.overlap_lengths(a, b)
    iv.union_by(np.arange(20) % 3, a)
    for x, y in zip((*a, *b), before, strict=True):
        np.testing.assert_array_equal(x, y)
