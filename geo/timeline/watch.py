"""Which time each elementary piece of border is watched, and its figures.

The border is cut into elementary pieces (:func:`elementary_pieces`) at every point where
the set of static sensors watching it changes, at segment and sector ends and, where tracks
move, on a fine chainage grid (their coverage varies continuously along the border). Each
piece gets the union of the time intervals of every source watching it
(:func:`static_intervals`: exact, a static sensor watches the whole piece or none of it;
:func:`track_intervals`: exact in time at the piece's midpoint), and from that union its
figures (:func:`piece_figures`): watched time, longest unwatched interval (clipped at the
window's ends, no wrap-around) and mean revisit (the mean length of its unwatched intervals).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from geo.coverage import intervals as iv
from geo.coverage.border import Border
from geo.coverage.footprints import ragged
from geo.timeline.kernel import grid_index, merge_sorted, simplify_fixes, track_point_intervals
from geo.timeline.tracks import PreparedTracks

__all__ = [
    "Figures",
    "Pieces",
    "Watched",
    "elementary_pieces",
    "merge_watched",
    "piece_figures",
    "static_intervals",
    "track_intervals",
]

#: Threads running the kernel (it releases the GIL).
THREADS = max(1, min(2, os.cpu_count() or 1))

#: Fixes within this distance (m) of straight, uniform motion merge into one segment.
SIMPLIFY_TOL_M = 0.5

#: At most this many segments merge into one (bounds the work and the segment's box).
SIMPLIFY_MAX_RUN = 64

#: Unwatched intervals shorter than this (s) are float rounding, not gaps.
GAP_TOL_S = 1e-6


@dataclass(frozen=True, eq=False)
class Pieces:
    """Elementary pieces of border: global chainage ``start``, ``end`` (m), midpoint (x, y)."""

    start: NDArray[np.float64]
    end: NDArray[np.float64]
    mid_x: NDArray[np.float64]
    mid_y: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def length_m(self) -> NDArray[np.float64]:
        """Length of each piece (m)."""
        return self.end - self.start


@dataclass(frozen=True, eq=False)
class Watched:
    """Merged watched intervals per piece: ``piece`` (sorted), ``start``, ``end`` (s)."""

    piece: NDArray[np.int64]
    start: NDArray[np.float64]
    end: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Figures:
    """Per piece: watched time, longest unwatched interval, mean unwatched interval (s)."""

    watched_s: NDArray[np.float64]
    max_gap_s: NDArray[np.float64]
    mean_gap_s: NDArray[np.float64]


def elementary_pieces(border: Border, breaks: NDArray[np.float64], *, step_m: float) -> Pieces:
    """Pieces between the sorted breakpoints (segment ends, ``breaks`` and a grid).

    ``step_m`` > 0 adds a grid of that spacing along every segment (for tracks); 0 none.
    """
    seg_s, seg_e = border.spans
    pts = [seg_s, seg_e, np.asarray(breaks, dtype=float)]
    if step_m > 0:
        for s, e in zip(seg_s, seg_e, strict=True):
            n = max(int(np.ceil((e - s) / step_m)), 1)
            pts.append(np.linspace(s, e, n + 1))
    cuts = np.unique(np.concatenate(pts))
    start, end = cuts[:-1], cuts[1:]
    mid = (start + end) / 2
    seg = np.searchsorted(seg_s, mid, side="right") - 1
    keep = (seg >= 0) & (mid < seg_e[np.clip(seg, 0, None)]) & (end > start)
    start, end, mid = start[keep], end[keep], mid[keep]
    xy = border.point_at(mid) if mid.size else np.empty((0, 2))
    return Pieces(start, end, xy[:, 0], xy[:, 1])


def static_intervals(
    pieces: Pieces,
    owner: NDArray[np.int64],
    chain: iv.Intervals,
    windows: list[iv.Intervals],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(piece, start, end)`` for every static sensor's border pieces and time windows.

    ``owner`` and ``chain`` are the sensors' border pieces (:func:`geo.coverage.flat.
    border_intervals`), whose ends are breakpoints of ``pieces``.
    """
    if chain[0].size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    i0 = np.searchsorted(pieces.start, chain[0], side="left")
    i1 = np.searchsorted(pieces.end, chain[1], side="right")
    n_cells = np.maximum(i1 - i0, 0)
    src, k = ragged(n_cells.astype(np.int64))
    cell = i0[src] + k
    sensor = owner[src]
    n_win = np.array([w[0].size for w in windows], dtype=np.int64)
    win_first = np.concatenate([[0], np.cumsum(n_win)]).astype(np.int64)
    win_s = np.concatenate([w[0] for w in windows] + [np.empty(0)])
    win_e = np.concatenate([w[1] for w in windows] + [np.empty(0)])
    if sensor.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    pair, j = ragged(n_win[sensor])
    idx = win_first[sensor[pair]] + j
    return cell[pair].astype(np.int64), win_s[idx], win_e[idx]


def track_intervals(
    pieces: Pieces, tracks: PreparedTracks, *, simplify: bool = True
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(piece, start, end)`` when each track watches each piece's midpoint (exact in time).

    With ``simplify``, straight uniform runs of fixes are one segment (:func:`simplified`).
    """
    if len(tracks) < 2 or len(pieces) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    if simplify:
        tracks = simplified(tracks)
    # Buckets a quarter of a typical range wide: few buckets and few points per segment.
    size = float(np.median(tracks.r)) / 4 if tracks.r.size else 250.0
    g = grid_index(pieces.mid_x, pieces.mid_y, max(size, 100.0))
    n_seg = len(tracks) - 1
    n_chunks = max(1, min(2 * THREADS, n_seg // 10_000))
    cuts = np.linspace(0, n_seg, n_chunks + 1).astype(int)

    def run(a: int, b: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        return track_point_intervals(
            pieces.mid_x,
            pieces.mid_y,
            g.x0,
            g.y0,
            g.size,
            g.nx,
            g.ny,
            g.start,
            g.items,
            tracks.t,
            tracks.x,
            tracks.y,
            tracks.r,
            tracks.half_fov,
            tracks.hx,
            tracks.hy,
            tracks.seg_ok,
            tracks.track,
            a,
            b,
        )

    if n_chunks == 1:
        return run(0, n_seg)
    # Chunks cut a track's intervals where they meet; merge_watched joins them again.
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        parts = list(pool.map(run, cuts[:-1], cuts[1:]))
    return (
        np.concatenate([p for p, _, _ in parts]),
        np.concatenate([s for _, s, _ in parts]),
        np.concatenate([e for _, _, e in parts]),
    )


def simplified(tracks: PreparedTracks) -> PreparedTracks:
    """The tracks with straight, uniform runs of fixes as single segments (for the kernel).

    The observer's interpolated position moves by at most :data:`SIMPLIFY_TOL_M`, so a
    watched interval's ends move by that distance over the observer's speed towards or away
    from the point (hundredths of a second for a drone crossing a point's disk edge; more
    only where its path grazes the edge, a band of border that narrow).
    """
    keep = simplify_fixes(
        tracks.t,
        tracks.x,
        tracks.y,
        tracks.r,
        tracks.half_fov,
        tracks.seg_ok,
        SIMPLIFY_TOL_M,
        SIMPLIFY_MAX_RUN,
    )
    if keep.all():
        return tracks
    return replace(
        tracks,
        track=tracks.track[keep],
        t=tracks.t[keep],
        x=tracks.x[keep],
        y=tracks.y[keep],
        lon=tracks.lon[keep],
        lat=tracks.lat[keep],
        r=tracks.r[keep],
        range_m=tracks.range_m[keep],
        height_m=tracks.height_m[keep],
        half_fov=tracks.half_fov[keep],
        hx=tracks.hx[keep],
        hy=tracks.hy[keep],
        seg_ok=tracks.seg_ok[keep],
    )


def merge_watched(
    parts: list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]],
    length_s: float,
) -> Watched:
    """The union per piece of every source's intervals, clipped to ``[0, length_s]``."""
    piece = np.concatenate([p for p, _, _ in parts] + [np.empty(0, dtype=np.int64)])
    s = np.clip(np.concatenate([s for _, s, _ in parts] + [np.empty(0)]), 0.0, length_s)
    e = np.clip(np.concatenate([e for _, _, e in parts] + [np.empty(0)]), 0.0, length_s)
    # Sorted by piece, then start (two stable sorts: exact), then merged in one pass.
    order = np.argsort(s, kind="stable")
    order = order[np.argsort(piece[order], kind="stable")]
    own, ms, me = merge_sorted(piece[order], s[order], e[order])
    return Watched(own, ms, me)


def piece_figures(watched: Watched, n_pieces: int, length_s: float) -> Figures:
    """Watched time, longest and mean unwatched interval of every piece (see module notes)."""
    o, s, e = watched.piece, watched.start, watched.end
    watched_s = np.bincount(o, weights=e - s, minlength=n_pieces).astype(float)
    max_gap = np.full(n_pieces, length_s)
    n_gaps = np.ones(n_pieces)
    if o.size:
        first = np.r_[True, o[1:] != o[:-1]]
        last = np.r_[o[1:] != o[:-1], True]
        before = s - np.where(first, 0.0, np.r_[0.0, e[:-1]])
        after = length_s - e[last]
        starts = np.flatnonzero(first)
        has = o[starts]
        max_gap[has] = np.maximum(np.maximum.reduceat(before, starts), after)
        n_gaps[has] = np.add.reduceat((before > GAP_TOL_S).astype(float), starts) + (
            after > GAP_TOL_S
        )
    unwatched = np.maximum(length_s - watched_s, 0.0)
    mean_gap = np.where(n_gaps > 0, unwatched / np.maximum(n_gaps, 1), 0.0)
    max_gap = np.where(max_gap > GAP_TOL_S, max_gap, 0.0)
    return Figures(watched_s=watched_s, max_gap_s=max_gap, mean_gap_s=mean_gap)
