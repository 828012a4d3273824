"""Sets of intervals on the border's chainage axis, vectorised with numpy.

Coverage along the border is a set of ``[start, end]`` intervals in metres of geodesic
chainage. Every along-border figure (covered, gaps, overlap, redundancy, sectors, contested)
is one of a few operations on such sets: union, "covered at least k times", intersection and
complement. Sets are pairs of float arrays ``(starts, ends)``; results are merged (sorted,
disjoint, non-empty).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

Intervals = tuple[NDArray[np.float64], NDArray[np.float64]]

_EMPTY: Intervals = (np.empty(0), np.empty(0))


def at_least(starts: ArrayLike, ends: ArrayLike, k: int = 1) -> Intervals:
    """Merged intervals where at least ``k`` of the given intervals overlap.

    Parameters
    ----------
    starts, ends
        Interval bounds; intervals with ``end <= start`` are ignored.
    k
        Minimum depth (>= 1). ``k=1`` is the union.

    Returns
    -------
    (starts, ends)
        Sorted, disjoint intervals of positive length.

    Examples
    --------
    >>> at_least([0, 5, 8], [6, 10, 9], k=2)
    (array([5., 8.]), array([6., 9.]))
    """
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    s = np.asarray(starts, dtype=float).ravel()
    e = np.asarray(ends, dtype=float).ravel()
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size < k or s.size == 0:
        return _EMPTY
    x = np.concatenate([s, e])
    d = np.concatenate([np.ones(s.size, dtype=np.int64), -np.ones(e.size, dtype=np.int64)])
    # At equal x, openings first: touching intervals merge and no zero-length dip appears.
    order = np.lexsort((-d, x))
    x, d = x[order], d[order]
    depth = np.cumsum(d)
    inside = depth[:-1] >= k
    if not inside.any():
        return _EMPTY
    edges = np.diff(np.concatenate([[False], inside, [False]]).astype(np.int8))
    run_start = np.flatnonzero(edges == 1)
    run_end = np.flatnonzero(edges == -1)  # exclusive index into pieces
    out_s, out_e = x[run_start], x[run_end]
    keep = out_e > out_s
    return out_s[keep], out_e[keep]


def union(*sets: Intervals) -> Intervals:
    """Union of interval sets."""
    if not sets:
        return _EMPTY
    return at_least(np.concatenate([s for s, _ in sets]), np.concatenate([e for _, e in sets]))


def at_least_of(sets: Iterable[Intervals], k: int = 2) -> Intervals:
    """Merged intervals where at least ``k`` of the given interval sets overlap.

    Each set should be merged first (see :func:`union`): depth counts intervals, so two
    overlapping intervals of one set count twice.

    Examples
    --------
    >>> a = (np.array([0.0]), np.array([5.0]))
    >>> b = (np.array([3.0]), np.array([9.0]))
    >>> at_least_of([a, b], k=2)
    (array([3.]), array([5.]))
    """
    sets = list(sets)
    return at_least(
        np.concatenate([s for s, _ in sets] or [np.empty(0)]),
        np.concatenate([e for _, e in sets] or [np.empty(0)]),
        k=k,
    )


def select(a: Intervals, owner: NDArray[np.int64], keep_owner: NDArray[np.bool_]) -> Intervals:
    """The intervals of ``a`` whose owner (``owner[i]`` for interval ``i``) is kept.

    Examples
    --------
    >>> a = (np.array([0.0, 2.0]), np.array([1.0, 3.0]))
    >>> select(a, np.array([0, 1]), np.array([False, True]))
    (array([2.]), array([3.]))
    """
    keep = keep_owner[owner]
    return a[0][keep], a[1][keep]


def union_by(owner: ArrayLike, a: Intervals) -> tuple[NDArray[np.int64], Intervals]:
    """Union of the intervals of each owner, owners kept apart.

    Parameters
    ----------
    owner
        Owner of each interval (integers).
    a
        The intervals; those with ``end <= start`` are ignored.

    Returns
    -------
    owner, (starts, ends)
        Each owner's merged intervals (disjoint, of positive length; touching ones merge, as
        in :func:`union`), sorted by owner, then start. Intervals of different owners are
        never merged.

    Examples
    --------
    >>> union_by([0, 1, 0], ([0, 2, 3], [4, 5, 6]))
    (array([0, 1]), (array([0., 2.]), array([6., 5.])))
    """
    o = np.asarray(owner, dtype=np.int64).ravel()
    s = np.asarray(a[0], dtype=float).ravel()
    e = np.asarray(a[1], dtype=float).ravel()
    keep = e > s
    o, s, e = o[keep], s[keep], e[keep]
    if s.size == 0:
        return np.empty(0, dtype=np.int64), _EMPTY
    order = np.lexsort((s, o))
    o, s, e = o[order], s[order], e[order]
    # Running maximum of the ends within each owner, exactly: on the ranks of the ends,
    # offset by the owner's place so that no maximum crosses from one owner into the next.
    ends, rank = np.unique(e, return_inverse=True)
    group = np.concatenate([[0], np.cumsum(o[1:] != o[:-1])])
    reach = ends[np.maximum.accumulate(group * ends.size + rank) - group * ends.size]
    first = np.concatenate([[True], (o[1:] != o[:-1]) | (s[1:] > reach[:-1])])
    idx = np.flatnonzero(first)
    return o[idx], (s[idx], np.maximum.reduceat(e, idx))


def intersect(a: Intervals, b: Intervals) -> Intervals:
    """Intersection of two interval sets."""
    a, b = union(a), union(b)
    return at_least(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]), k=2)


def subtract(a: Intervals, b: Intervals) -> Intervals:
    """Points of ``a`` that are not in ``b``."""
    a, b = union(a), union(b)
    if a[0].size == 0:
        return _EMPTY
    lo = min(a[0].min(), b[0].min() if b[0].size else np.inf)
    hi = max(a[1].max(), b[1].max() if b[1].size else -np.inf)
    not_b = complement(b, lo - 1.0, hi + 1.0)
    return intersect(a, not_b)


def complement(a: Intervals, lo: float, hi: float) -> Intervals:
    """Parts of ``[lo, hi]`` not in ``a``."""
    s, e = union(a)
    s, e = np.clip(s, lo, hi), np.clip(e, lo, hi)
    starts = np.concatenate([[lo], e])
    ends = np.concatenate([s, [hi]])
    keep = ends > starts
    return starts[keep], ends[keep]


def length(a: Intervals) -> float:
    """Total length of an interval set (overlaps counted once)."""
    s, e = union(a)
    return float((e - s).sum())


def overlap_lengths(a: Intervals, b: Intervals) -> NDArray[np.float64]:
    """For each interval of ``a``, the length of it that ``b`` covers.

    ``b`` is merged first; ``a`` is taken as given (its intervals may overlap each other;
    one with ``end <= start`` holds nothing, so its overlap is 0).
    """
    a_s = np.asarray(a[0], dtype=float)
    a_e = np.asarray(a[1], dtype=float)
    b_s, b_e = union(b)
    if a_s.size == 0 or b_s.size == 0:
        return np.zeros(a_s.size)
    # Cumulative covered length of b up to x, evaluated at each bound of a.
    cum = np.concatenate([[0.0], np.cumsum(b_e - b_s)])

    def covered_upto(x: NDArray[np.float64]) -> NDArray[np.float64]:
        i = np.searchsorted(b_s, x, side="right")  # intervals starting at or before x
        full = cum[np.maximum(i - 1, 0)]
        part = np.where(i > 0, np.clip(x - b_s[np.maximum(i - 1, 0)], 0, None), 0.0)
        part = np.minimum(part, (b_e - b_s)[np.maximum(i - 1, 0)])
        return np.where(i > 0, full + part, 0.0)

    # An inverted interval (end < start) would come out negative: it covers nothing.
    return np.maximum(covered_upto(a_e) - covered_upto(a_s), 0.0)
