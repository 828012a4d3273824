"""The choice as a maximum-coverage problem on elements, reduced before it is solved.

The elements are the *elementary pieces* of the border still to watch: the border the
objective counts (the whole border, or one partner's sectors' border), minus what the
existing sensors already watch, cut at every end of every candidate's intervals, so that each
piece is either wholly watched by a candidate or not at all. A piece weighs its length (m).
With ``weight="detections"`` the elements are the detections in today's gaps instead, each
weighing 1.

Before solving, the instance is reduced without changing its optimum:

1. candidates that watch no element are dropped;
2. candidates that watch the same elements are merged (the first one stands for them);
3. candidates *dominated* by another, i.e. watching a subset of what that one watches, are
   dropped (any plan using one can use the other instead and cover as much). Checked exactly
   for dominating candidates whose elements are consecutive (along the border, a disk or a
   wedge usually is): a sweep in order of first element;
4. elements watched by the same candidates are merged (their weights summed).

The result is a sparse candidate-by-element incidence in CSR form (``ptr``, ``idx``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo.coverage import intervals as iv


@dataclass(frozen=True, eq=False)
class Instance:
    """A reduced maximum-coverage instance.

    Attributes
    ----------
    weight
        Weight of each element (m of border, or detections).
    ptr, idx
        CSR incidence: candidate ``k`` watches elements ``idx[ptr[k]:ptr[k + 1]]`` (sorted).
    candidate
        The original candidate each row stands for.
    stats
        How the reduction went: candidates and elements before and after each step.
    """

    weight: NDArray[np.float64]
    ptr: NDArray[np.int64]
    idx: NDArray[np.int64]
    candidate: NDArray[np.int64]
    stats: dict[str, int]

    @property
    def n_candidates(self) -> int:
        """Candidates left after the reduction."""
        return int(self.candidate.size)

    @property
    def total(self) -> float:
        """The weight of every element (what all candidates together would add)."""
        return float(self.weight.sum())


def border_elements(
    owner: NDArray[np.int64], ivs: iv.Intervals, target: iv.Intervals
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Elementary pieces of ``target`` and which candidate watches which piece.

    Parameters
    ----------
    owner, ivs
        Each candidate's border, merged per candidate (global chainage, m).
    target
        The border still to watch (merged).

    Returns
    -------
    pair_owner, pair_piece, length_m
        (candidate, piece) pairs, sorted by candidate then piece, and each piece's length.

    Examples
    --------
    >>> o, p, w = border_elements(np.array([0, 1]), (np.array([0., 5.]), np.array([10., 20.])),
    ...                           (np.array([2.]), np.array([30.])))
    >>> o.tolist(), p.tolist(), w.tolist()
    ([0, 0, 1, 1], [0, 1, 1, 2], [3.0, 5.0, 10.0])
    """
    t_s, t_e = iv.union(target)
    s, e = np.asarray(ivs[0], dtype=float), np.asarray(ivs[1], dtype=float)
    none = np.empty(0, dtype=np.int64)
    if s.size == 0 or t_s.size == 0:
        return none, none, np.empty(0)
    bp = _sorted_unique(np.concatenate([s, e, t_s, t_e]))
    mid = 0.5 * (bp[:-1] + bp[1:])
    k = np.searchsorted(t_s, mid, side="right") - 1
    in_target = (k >= 0) & (mid < t_e[np.maximum(k, 0)])
    lo, hi = np.searchsorted(bp, s), np.searchsorted(bp, e)
    n = np.maximum(hi - lo, 0)
    which = np.repeat(np.arange(s.size), n)
    piece = lo[which] + np.arange(which.size) - np.repeat(np.cumsum(n) - n, n)
    keep = in_target[piece]
    pair_owner, piece = np.asarray(owner, dtype=np.int64)[which[keep]], piece[keep]
    # Number the pieces used, in chainage order (np.unique is slow here: a hash table).
    used = np.bincount(piece, minlength=bp.size - 1) > 0
    pair_piece = (np.cumsum(used) - 1)[piece]
    order = np.lexsort((pair_piece, pair_owner))
    used_at = np.flatnonzero(used)
    return pair_owner[order], pair_piece[order].astype(np.int64), bp[used_at + 1] - bp[used_at]


def _sorted_unique(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """The distinct values of ``a``, sorted (by sorting: faster than np.unique's hashing)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def reduce_instance(
    pair_owner: NDArray[np.int64],
    pair_element: NDArray[np.int64],
    weight: NDArray[np.float64],
) -> Instance:
    """The reduced instance of (candidate, element) pairs (see the module notes).

    ``pair_owner``, ``pair_element``: unique pairs sorted by candidate then element.
    """
    weight = np.asarray(weight, dtype=float)
    stats = {"candidates_watching": int(np.unique(pair_owner).size), "elements": int(weight.size)}
    cand, ptr = _csr(pair_owner)
    idx = np.asarray(pair_element, dtype=np.int64)
    keep = _first_of_identical(ptr, idx)
    cand, ptr, idx = _take_rows(cand, ptr, idx, keep)
    stats["after_merging_identical"] = int(cand.size)
    keep = ~_dominated(ptr, idx)
    cand, ptr, idx = _take_rows(cand, ptr, idx, keep)
    stats["after_dropping_dominated"] = int(cand.size)
    ptr, idx, weight = _merge_elements(ptr, idx, weight)
    stats["elements_merged"] = int(weight.size)
    return Instance(weight=weight, ptr=ptr, idx=idx, candidate=cand, stats=stats)


def _csr(owner: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The distinct owners (sorted input) and the row pointers of their runs."""
    owner = np.asarray(owner, dtype=np.int64)
    if owner.size == 0:
        return np.empty(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return owner[first], np.r_[first, owner.size].astype(np.int64)


def _take_rows(
    cand: NDArray[np.int64], ptr: NDArray[np.int64], idx: NDArray[np.int64], keep: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    counts = np.diff(ptr)
    rows = np.repeat(keep, counts)
    new_ptr = np.r_[0, np.cumsum(counts[keep])].astype(np.int64)
    return cand[keep], new_ptr, idx[rows]


def _first_of_identical(ptr: NDArray[np.int64], idx: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which rows are the first with their set of elements."""
    seen: set[bytes] = set()
    keep = np.zeros(ptr.size - 1, dtype=bool)
    for k in range(ptr.size - 1):
        key = idx[ptr[k] : ptr[k + 1]].tobytes()
        if key not in seen:
            seen.add(key)
            keep[k] = True
    return keep


def _dominated(ptr: NDArray[np.int64], idx: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Rows whose elements all lie in another row's consecutive run of elements.

    Rows must be distinct sets. A row with elements ``lo..hi`` (every one of them) contains
    every row whose elements lie between ``lo`` and ``hi``. In order of ``lo`` (ties: larger
    ``hi`` first), a row is dominated when an earlier consecutive row reaches its ``hi``.
    """
    n = ptr.size - 1
    if n == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = idx[ptr[:-1]], idx[ptr[1:] - 1]
    consecutive = hi - lo + 1 == np.diff(ptr)
    order = np.lexsort((-hi, lo))
    reach = np.where(consecutive[order], hi[order], -1)
    before = np.r_[-1, np.maximum.accumulate(reach)[:-1]]
    out = np.zeros(n, dtype=bool)
    out[order] = before >= hi[order]
    return out


def _merge_elements(
    ptr: NDArray[np.int64], idx: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Merge elements watched by the same rows; drop elements no row watches.

    Returns the new row pointers, the rows' new element numbers (each row's sorted, merged
    elements once) and the merged weights.
    """
    if idx.size == 0:
        return np.zeros(ptr.size, dtype=np.int64), idx, np.empty(0)
    row = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    order = np.lexsort((row, idx))
    el_sorted, row_sorted = idx[order], row[order]
    first = np.flatnonzero(np.r_[True, el_sorted[1:] != el_sorted[:-1]])
    bounds = np.r_[first, el_sorted.size]
    group: dict[bytes, int] = {}
    new_of = np.full(weight.size, -1, dtype=np.int64)
    for a, b in itertools.pairwise(bounds):
        new_of[el_sorted[a]] = group.setdefault(row_sorted[a:b].tobytes(), len(group))
    merged = np.bincount(new_of[new_of >= 0], weights=weight[new_of >= 0], minlength=len(group))
    new_idx = new_of[idx]
    # Each row's elements, renumbered, sorted again; merged elements appear once.
    key = np.sort(row * len(group) + new_idx)
    key = key[np.r_[True, key[1:] != key[:-1]]]
    counts = np.bincount(key // max(len(group), 1), minlength=ptr.size - 1)
    new_ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return new_ptr, (key % max(len(group), 1)).astype(np.int64), merged.astype(np.float64)


__all__ = ["Instance", "border_elements", "reduce_instance"]
