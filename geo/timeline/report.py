"""The timeline report's sections, from the pieces and their figures.

A contract: keys are only ever added (see ``docs/timeline.md``).

- ``border``: the time-average share watched, the border always and never watched, and
  the border exposed (longest unwatched interval longer than the crossing time);
- ``stretches``: runs of exposed pieces, worst first;
- ``by_hour``: the watched share per UTC hour of day, exact (each watched interval is cut at
  the hour boundaries);
- ``partners``: per partner, the same over the border in its sectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo.coverage import intervals as iv
from geo.coverage.report import km, pct
from geo.coverage.scene import Scene
from geo.timeline.watch import GAP_TOL_S, Figures, Pieces, Watched
from geo.timeline.windows import Window

__all__ = ["border_section", "by_hour", "partner_section", "stretches"]

_DAY_S = 86_400.0
_HOUR_S = 3_600.0


def _minutes(s: float) -> float:
    return round(float(s) / 60.0, 3)


def border_section(
    pieces: Pieces, fig: Figures, window: Window, crossing_s: float
) -> dict[str, Any]:
    """The ``border`` section: length, watched share, always/never watched and exposed km."""
    length = pieces.length_m
    total = float(length.sum())
    t = window.length_s
    return {
        "length_km": km(total),
        "watched_pct": pct(float((length * fig.watched_s).sum()), total * t),
        "always_watched_km": km(length[fig.max_gap_s <= GAP_TOL_S].sum()),
        "never_watched_km": km(length[fig.watched_s <= GAP_TOL_S].sum()),
        "exposed_km": km(length[fig.max_gap_s > crossing_s].sum()),
    }


def stretches(
    scene: Scene, pieces: Pieces, fig: Figures, window: Window, crossing_s: float
) -> list[dict[str, Any]]:
    """The exposed stretches (runs of touching exposed pieces), worst first.

    Worst: longest unwatched interval first, then the longer stretch.
    """
    exposed = fig.max_gap_s > crossing_s
    idx = np.flatnonzero(exposed)
    if idx.size == 0:
        return []
    joined = (np.diff(idx) == 1) & (pieces.start[idx[1:]] == pieces.end[idx[:-1]])
    first = np.r_[True, ~joined]
    run_start = idx[first]
    run_end = idx[np.r_[~joined, True]]
    border, sectors = scene.border, scene.sectors
    length = pieces.length_m
    rows = []
    for a, b in zip(run_start, run_end, strict=True):
        sl = slice(int(a), int(b) + 1)
        s, e = float(pieces.start[a]), float(pieces.end[b])
        w = length[sl]
        seg, local = border.locate(np.array([s]))
        hit = [
            j
            for j, held in enumerate(sectors.per_sector)
            if iv.overlap_lengths((np.array([s]), np.array([e])), held)[0] > 1e-6
        ]
        rows.append(
            {
                "segment": int(seg[0]),
                "start_km": km(local[0]),
                "end_km": km(local[0] + (e - s)),
                "length_km": km(e - s),
                "max_unwatched_min": _minutes(fig.max_gap_s[sl].max()),
                "mean_revisit_min": _minutes(float((w * fig.mean_gap_s[sl]).sum() / w.sum())),
                "watched_pct": pct(
                    float((w * fig.watched_s[sl]).sum()), float(w.sum()) * window.length_s
                ),
                "partners": sorted({str(sectors.partner[j]) for j in hit}),
                "sector_ids": [str(sectors.ids[j]) for j in hit],
            }
        )
    rows.sort(key=_worst_first)
    return rows


def _worst_first(row: dict[str, Any]) -> tuple[float, float, int, float]:
    return (
        -float(row["max_unwatched_min"]),
        -float(row["length_km"]),
        int(row["segment"]),
        float(row["start_km"]),
    )


def _hour_measure(t_abs: NDArray[np.float64], hour: int) -> NDArray[np.float64]:
    """Time from the epoch to ``t_abs`` (s) that falls in UTC hour ``hour`` of a day."""
    day = np.floor(t_abs / _DAY_S)
    return day * _HOUR_S + np.clip(t_abs - day * _DAY_S - hour * _HOUR_S, 0.0, _HOUR_S)


def by_hour(pieces: Pieces, watched: Watched, window: Window) -> list[dict[str, Any]]:
    """24 rows ``{hour, watched_pct}``: the border watched in each UTC hour of day.

    ``watched_pct`` is ``None`` for an hour the window does not reach.
    """
    weight = pieces.length_m[watched.piece]
    total = float(pieces.length_m.sum())
    s_abs = window.epoch_s + watched.start
    e_abs = window.epoch_s + watched.end
    w0 = np.array([window.epoch_s])
    w1 = np.array([window.epoch_s + window.length_s])
    rows = []
    for h in range(24):
        span = float((_hour_measure(w1, h) - _hour_measure(w0, h))[0])
        seen = float((weight * (_hour_measure(e_abs, h) - _hour_measure(s_abs, h))).sum())
        rows.append({"hour": h, "watched_pct": pct(seen, total * span) if span > 0 else None})
    return rows


def partner_section(
    scene: Scene,
    partners: list[str],
    pieces: Pieces,
    fig: Figures,
    window: Window,
    crossing_s: float,
) -> dict[str, dict[str, Any]]:
    """Per partner: the border in its sectors, its watched share and its exposed part."""
    out: dict[str, dict[str, Any]] = {}
    cells = (pieces.start, pieces.end)
    for p in partners:
        held = scene.sectors.by_partner.get(p, (np.empty(0), np.empty(0)))
        w = iv.overlap_lengths(cells, held)
        total = float(w.sum())
        out[p] = {
            "sector_km": km(total),
            "watched_pct": pct(float((w * fig.watched_s).sum()), total * window.length_s)
            if total > 0
            else None,
            "exposed_km": km(w[fig.max_gap_s > crossing_s].sum()),
        }
    return out
