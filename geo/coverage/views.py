"""What a commander sees first: headline numbers for the joint view or one partner's view.

Pure functions of an analysis report, so the app, the exports and tests share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from geo.access.releasability import owns, visible_mask
from geo.core.antimeridian import wrap_geometries, wrap_lon

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.coverage.analysis import Analysis

JOINT = "Joint view"


#: Headline fields a partner view takes from ``report["partners"][p]`` (new report keys: a
#: report made before them has none, and the view then shows the border's figure, named joint).
_PARTNER_KEYS = {"overlap_km": "sector_overlap_km", "contested_km": "contested_km"}


@dataclass(frozen=True)
class Headline:
    """Headline numbers of one view.

    In the joint view every figure is the border's. In a partner's view every figure is of
    that partner's sectors, except those named in :attr:`joint`: those are the border's
    (joint) figures and must be labelled so.

    Attributes
    ----------
    scope
        What the numbers cover: ``"border"`` (joint view) or ``"sectors of P"``.
    coverage_pct, covered_km, length_km
        Coverage of the scope (%, km, km).
    gap_km
        Uncovered length in the scope (km).
    gaps
        Gaps (report entries) in the scope, longest first (ties: by segment, then
        ``start_km``): the gap ranked ``i`` (``"G<i>"`` on the map, in the table and the PDF)
        is ``gaps[i - 1]``. Ranks are per view: a partner's G1 is the longest gap through
        its sectors. A gap is listed whole, also where it runs on beyond the scope.
    overlap_km
        Border length in the scope covered by sensors of two or more partners (km; in a
        partner's view ``partners.<P>.sector_overlap_km``).
    unassigned_km
        Border length in no sector (km). Always the border's figure: border in no sector
        belongs to no partner, so in a partner's view it is named in :attr:`joint`.
    contested_km
        Border length in the scope that lies in sectors of two or more partners (km; in a
        partner's view ``partners.<P>.contested_km``: its sectors' border that another
        partner's sectors hold too).
    detections, detections_in_gaps
        Detections in the scope and, of those, in blind parts of the corridor.
    partner
        The partner of the view, or ``None`` for the joint view.
    joint
        Names of the fields that are border-wide (joint) figures although the view is a
        partner's; the page labels them as joint. Empty in the joint view, whose scope is
        the border itself.
    """

    scope: str
    coverage_pct: float
    covered_km: float
    length_km: float
    gap_km: float
    gaps: list[dict[str, Any]]
    overlap_km: float
    unassigned_km: float
    contested_km: float
    detections: int
    detections_in_gaps: int
    partner: str | None = None
    joint: frozenset[str] = frozenset()

    @property
    def longest(self) -> dict[str, Any] | None:
        """The longest gap in the scope (rank G1), or ``None``."""
        return self.gaps[0] if self.gaps else None

    def scope_of(self, name: str) -> str:
        """What the field ``name`` covers: ``"border"`` when it is joint, else :attr:`scope`.

        Examples
        --------
        >>> h = Headline("sectors of A", 50.0, 5.0, 10.0, 5.0, [], 1.0, 2.0, 0.5, 0, 0,
        ...              partner="A", joint=frozenset({"unassigned_km"}))
        >>> h.scope_of("unassigned_km"), h.scope_of("overlap_km")
        ('border', 'sectors of A')
        """
        if name not in {f.name for f in fields(self)}:
            raise ValueError(f"unknown headline field {name!r}")
        return "border" if name in self.joint else self.scope


def _is_joint(partner: str | None) -> bool:
    return partner is None or partner == JOINT


def _gap_order(length_km: ArrayLike, segment: ArrayLike, start_km: ArrayLike) -> NDArray[np.intp]:
    """Indices that put gaps longest first; ties by segment, then ``start_km``."""
    return np.lexsort(
        (
            np.asarray(start_km, dtype=float),
            np.asarray(segment, dtype=np.int64),
            -np.asarray(length_km, dtype=float),
        )
    )


def gaps_in_view(report: dict[str, Any], partner: str | None = None) -> list[dict[str, Any]]:
    """Gaps (report entries, not copies) of a view, longest first: the gap table's rows.

    The joint view (``partner`` ``None`` or :data:`JOINT`) has every listed gap; a partner's
    view the gaps that run through one of its sectors. Ties in length are ordered by
    segment, then ``start_km``, so the ``i``-th entry is the view's gap ``G<i>``.

    Examples
    --------
    >>> r = {"gaps": [{"segment": 0, "start_km": 0.0, "length_km": 2.0, "partners": []},
    ...               {"segment": 0, "start_km": 5.0, "length_km": 3.0, "partners": ["A"]}]}
    >>> [g["start_km"] for g in gaps_in_view(r)], [g["start_km"] for g in gaps_in_view(r, "A")]
    ([5.0, 0.0], [5.0])
    """
    mine = [g for g in report["gaps"] if _is_joint(partner) or partner in g["partners"]]
    if not mine:
        return []
    order = _gap_order(
        [g["length_km"] for g in mine], [g["segment"] for g in mine], [g["start_km"] for g in mine]
    )
    return [mine[i] for i in order]


def gap_ranks(gaps: Sequence[Mapping[str, Any]] | pd.DataFrame) -> NDArray[np.int64]:
    """Rank of each gap among ``gaps``, in the order given: 1 = longest.

    Ties in length are ranked by segment, then ``start_km`` (the order of
    :func:`gaps_in_view`), so the same gaps always get the same ranks, and the ranks of a
    view's gaps (:func:`gaps_in_view`, or the rows :func:`gap_rows_in_view` selects) are
    the ``G<i>`` of its map labels, gap table and PDF.

    Parameters
    ----------
    gaps
        Report gap entries, or a frame of them (``analysis.layers["gaps"]``) with columns
        ``segment``, ``start_km``, ``length_km``.

    Returns
    -------
    ndarray of int
        One rank per gap, ``1..n``.

    Examples
    --------
    >>> gap_ranks([{"segment": 1, "start_km": 0.0, "length_km": 2.0},
    ...            {"segment": 0, "start_km": 4.0, "length_km": 2.0},
    ...            {"segment": 0, "start_km": 0.0, "length_km": 9.5}]).tolist()
    [3, 2, 1]
    """
    keys = ("length_km", "segment", "start_km")
    if isinstance(gaps, pd.DataFrame):
        order = _gap_order(*(gaps[k].to_numpy() for k in keys))
    else:
        order = _gap_order(*([g[k] for g in gaps] for k in keys))
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(1, order.size + 1)
    return ranks


def gap_rows_in_view(gaps_frame: pd.DataFrame, partner: str | None = None) -> NDArray[np.bool_]:
    """Which rows of the gaps layer belong to a view (the rows of :func:`gaps_in_view`).

    A row belongs to partner ``P``'s view when ``P`` is in its ``partners`` (a list, or the
    ids joined by commas as in a file export); every row belongs to the joint view.

    Examples
    --------
    >>> frame = pd.DataFrame({"partners": [["A", "B"], [], ["B"], "A,EU"]})
    >>> gap_rows_in_view(frame, "A").tolist(), gap_rows_in_view(frame).tolist()
    ([True, False, False, True], [True, True, True, True])
    """
    n = len(gaps_frame)
    if _is_joint(partner):
        return np.ones(n, dtype=bool)

    def holds(ps: Any) -> bool:
        if isinstance(ps, str):
            ps = ps.split(",")
        return ps is not None and partner in list(ps)

    return np.fromiter((holds(ps) for ps in gaps_frame["partners"]), dtype=bool, count=n)


def headline(report: dict[str, Any], partner: str | None = None) -> Headline:
    """Headline numbers for the joint view (``partner=None``) or one partner's view.

    In a partner's view every figure is of the partner's sectors: coverage, gaps (those that
    run through one of them), overlap (``partners.<P>.sector_overlap_km``), contested
    border (``partners.<P>.contested_km``) and detections. Unassigned border belongs to no
    partner: it stays the border's figure and is named in :attr:`Headline.joint` (as is any
    figure a report made before the per-partner keys lacks).

    Examples
    --------
    >>> border = {"length_km": 10.0, "covered_km": 4.0, "coverage_pct": 40.0, "overlap_km": 0.0}
    >>> a = {"sector_border_km": 8.0, "sector_covered_km": 2.0, "sector_overlap_km": 0.0,
    ...      "contested_km": 1.0, "detections": 2}
    >>> r = {"border": border, "partners": {"A": a},
    ...      "gaps": [{"segment": 0, "start_km": 4.0, "length_km": 6.0, "partners": ["A"]}],
    ...      "unassigned_border_km": 2.0, "contested_border_km": 1.0,
    ...      "detections": {"total": 3, "in_gaps": 1}}
    >>> headline(r).gap_km
    6.0
    >>> h = headline(r, "A")
    >>> h.gap_km, h.contested_km, h.unassigned_km, sorted(h.joint)
    (6.0, 1.0, 2.0, ['unassigned_km'])
    """
    b = report["border"]
    joint_figures = {
        "overlap_km": b["overlap_km"],
        "unassigned_km": report["unassigned_border_km"],
        "contested_km": report["contested_border_km"],
    }
    gaps = gaps_in_view(report, partner)
    if _is_joint(partner):
        return Headline(
            scope="border",
            coverage_pct=b["coverage_pct"],
            covered_km=b["covered_km"],
            length_km=b["length_km"],
            gap_km=round(b["length_km"] - b["covered_km"], 6),
            gaps=gaps,
            detections=report["detections"]["total"],
            detections_in_gaps=report["detections"]["in_gaps"],
            **joint_figures,
        )
    if partner not in report["partners"]:
        raise ValueError(
            f"unknown partner {partner!r}; expected one of {sorted(report['partners'])}"
        )
    p = report["partners"][partner]
    own = {name: p[key] for name, key in _PARTNER_KEYS.items() if key in p}
    return Headline(
        scope=f"sectors of {partner}",
        coverage_pct=p.get("sector_coverage_pct", 0.0),
        covered_km=p["sector_covered_km"],
        length_km=p["sector_border_km"],
        gap_km=round(p["sector_border_km"] - p["sector_covered_km"], 6),
        gaps=gaps,
        detections=p["detections"],
        detections_in_gaps=p.get("detections_in_gaps", 0),
        partner=partner,
        joint=frozenset(joint_figures.keys() - own.keys()),
        **{**joint_figures, **own},
    )


def detections_in_gap(
    result: Analysis, segment: int, start_km: float, end_km: float
) -> gpd.GeoDataFrame:
    """Detections in the blind corridor along one gap (in the analysis' time window).

    A detection belongs to the gap when it is in the corridor but in no footprint, and its
    nearest border point lies on the gap's stretch (``segment``, ``start_km``–``end_km``).
    """
    from geo.coverage.analysis import nearest_chainage

    det = result.layers.get("detections")
    if det is None or result.border is None or not len(det):
        return det.iloc[0:0] if det is not None else det
    blind = det[det["coverage_status"] == "gap"]
    seg, km, _ = nearest_chainage(result.border, blind)
    return blind[(seg == segment) & (km >= start_km) & (km <= end_km)].reset_index(drop=True)


def detections_in_sector(result: Analysis, sector_id: str) -> gpd.GeoDataFrame:
    """Detections inside one sector (in the analysis' time window)."""
    det = result.layers.get("detections")
    ids = [s["sector_id"] for s in result.report["sectors"]]
    if sector_id not in ids:
        raise ValueError(f"unknown sector {sector_id!r}; expected one of {ids}")
    if det is None or not len(det):
        return det
    inside = det["sector_ids"].str.split(",").map(lambda xs: sector_id in xs)
    return det[inside.to_numpy(dtype=bool)].reset_index(drop=True)


def visible_rows(detections: pd.DataFrame, viewers: Iterable[str] | None) -> NDArray[np.bool_]:
    """Which detections a viewer may see: the releasability rule of the shared store.

    The rule is :data:`geo.access.releasability.RULE` (applied by
    :func:`~geo.access.releasability.visible_mask`): a row is visible to a partner that owns
    it (``owner``, else the ``partner`` column), to every partner when its ``releasable_to``
    marking is ``ALL``, and to the partners the marking lists. A missing or unknown marking
    means the owner only (default deny); a row with no owner is visible only when marked
    ``ALL``. ``viewers`` is the set of partners whose rows the viewer may see (a signed-in
    user: their partner); ``None`` (local demo mode) sees all.

    Examples
    --------
    >>> rows = pd.DataFrame({"partner": ["A", "A", "B", "B", None],
    ...                      "releasable_to": ["", "C", "ALL", "zz?", "ALL"]})
    >>> visible_rows(rows, {"C"}).tolist()
    [False, True, True, False, True]
    >>> visible_rows(rows, {"B"}).tolist()
    [False, False, True, True, True]
    """
    n = len(detections)
    if viewers is None:
        return np.ones(n, dtype=bool)
    markings = detections["releasable_to"] if "releasable_to" in detections else [None] * n
    return visible_mask(_owners(detections), markings, viewers)


def _owners(detections: pd.DataFrame) -> pd.Series | list[None]:
    """The owner of each row: the ``owner`` column, else ``partner``, else none."""
    for name in ("owner", "partner"):
        if name in detections:
            return pd.Series(detections[name])
    return [None] * len(detections)


def hide_foreign_upload_ids(result: Analysis, viewers: Iterable[str] | None) -> Analysis:
    """``result`` with the ``upload_id`` of detections the viewers do not own blanked.

    An upload id numbers every upload to the shared store, of every partner, released or
    not: another partner's ids tell how often it uploads. A viewer sees the ids of its own
    uploads only; rows released to it by others keep everything else (their owner and
    marking included) and get ``<NA>`` as ``upload_id`` (the column becomes ``Int64``).

    Parameters
    ----------
    result
        An analysis cut to what ``viewers`` may see (:func:`geo.mapview.map_window`). Not changed.
    viewers
        The partners whose own upload ids stay (as for :func:`visible_rows`); ``None``
        (local demo mode's joint view, which shows everything) keeps every id.

    Returns
    -------
    Analysis
        ``result`` itself when there is nothing to hide, else a copy with a new
        ``detections`` layer.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from geo.coverage.analysis import Analysis
    >>> det = gpd.GeoDataFrame({"owner": ["A", "B"], "upload_id": [3, 4]})
    >>> result = Analysis(report={}, acrs=None, layers={"detections": det})
    >>> hide_foreign_upload_ids(result, ["A"]).layers["detections"]["upload_id"].tolist()
    [3, <NA>]
    """
    det = result.layers.get("detections")
    if det is None:
        return result
    hidden = rows_without_foreign_upload_ids(det, viewers)
    if hidden is det:
        return result
    return replace(result, layers={**result.layers, "detections": hidden})


def rows_without_foreign_upload_ids(
    detections: pd.DataFrame, viewers: Iterable[str] | None
) -> pd.DataFrame:
    """:func:`hide_foreign_upload_ids` of a frame of detections (itself when nothing is hidden).

    Examples
    --------
    >>> det = pd.DataFrame({"owner": ["A", "B"], "upload_id": [3, 4]})
    >>> rows_without_foreign_upload_ids(det, ["B"])["upload_id"].tolist()
    [<NA>, 4]
    """
    if viewers is None or "upload_id" not in detections:
        return detections
    foreign = ~owns(_owners(detections), viewers) & detections["upload_id"].notna().to_numpy()
    if not foreign.any():
        return detections
    out = detections.copy()
    out["upload_id"] = out["upload_id"].astype("Int64").mask(foreign)
    return out


def nearest_sensors(result: Analysis, lon: float, lat: float, *, n: int = 3) -> pd.DataFrame:
    """The ``n`` sensors nearest to a point, on the WGS 84 ellipsoid, nearest first.

    Returns a frame with ``sensor_id``, ``kind``, ``partner``, ``status``, ``range_m`` and
    ``distance_km`` (geodesic, pyproj ``Geod``).
    """
    from pyproj import Geod

    sensors = result.layers["sensors"]
    cols = [c for c in ("sensor_id", "kind", "partner", "status", "range_m") if c in sensors]
    if not len(sensors):
        return pd.DataFrame(columns=[*cols, "distance_km"])
    x, y = sensors.geometry.x.to_numpy(), sensors.geometry.y.to_numpy()
    _, _, dist_m = Geod(ellps="WGS84").inv(np.full(x.size, lon), np.full(x.size, lat), x, y)
    order = np.argsort(dist_m, kind="stable")[:n]
    out = pd.DataFrame(sensors[cols].iloc[order]).reset_index(drop=True)
    out["distance_km"] = np.round(np.asarray(dist_m)[order] / 1000.0, 2)
    return out


def detections_in_polygon(
    result: Analysis, rings: Sequence[Sequence[Sequence[float]]]
) -> gpd.GeoDataFrame:
    """Detections (of the analysis' window) inside a lon/lat polygon given as rings.

    E.g. a map hexagon. Near the antimeridian the map draws past 180° (longitudes wrapped
    round the analysis' centre): the polygon and the detections are compared in longitudes
    wrapped round the polygon's first vertex, so either way of writing it finds the same rows.
    """
    import shapely

    det = result.layers.get("detections")
    if det is None or not len(det) or not rings or not len(rings[0]):
        return det.iloc[0:0] if det is not None else det
    centre = float(rings[0][0][0])
    poly = wrap_geometries([shapely.Polygon(rings[0], rings[1:])], centre)[0]
    lon = wrap_lon(det.geometry.x.to_numpy(), centre)
    inside = shapely.contains_xy(poly, lon, det.geometry.y.to_numpy())
    return det[inside].reset_index(drop=True)


def gaps_of_sector(
    report: dict[str, Any], sector_id: str, partner: str | None = None
) -> list[dict[str, Any]]:
    """The view's gaps that run through a sector.

    Longest first, with their rank ``G<i>`` as ``rank``.
    """
    gaps = gaps_in_view(report, partner)
    return [
        {**g, "rank": i}
        for i, g in enumerate(gaps, start=1)
        if sector_id in g.get("sector_ids", [])
    ]


def bulk_span(times: pd.Series, *, share: float = 0.95) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The span where the bulk of ``times`` is: outliers far from it left out.

    The shortest span holding ``share`` of the times, widened to every time within half its
    width of it: times spread evenly are all kept, while a handful of outliers (old tracks
    uploaded by mistake, a clock at 1970) cannot stretch the default window over years.
    ``None`` for no times.

    Examples
    --------
    >>> days = ["2010-01-01"] + [f"2026-11-0{d}" for d in range(1, 10)] * 4
    >>> t = pd.Series(pd.to_datetime(days, utc=True))
    >>> [str(x.date()) for x in bulk_span(t, share=0.9)]
    ['2026-11-01', '2026-11-09']
    >>> even = pd.Series(pd.date_range("2026-11-01", periods=100, freq="h", tz="UTC"))
    >>> bulk_span(even) == (even.min(), even.max())
    True
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    v = np.sort(times.dropna().to_numpy(dtype="datetime64[us]").astype(np.int64))
    if not v.size:
        return None
    k = max(int(np.ceil(share * v.size)), 1)
    widths = v[k - 1 :] - v[: v.size - k + 1]
    i = int(np.argmin(widths))
    a, b = int(v[i]), int(v[i + k - 1])
    pad = (b - a) // 2
    kept = v[(v >= a - pad) & (v <= b + pad)]
    return (
        pd.Timestamp(int(kept[0]), unit="us", tz="UTC"),
        pd.Timestamp(int(kept[-1]), unit="us", tz="UTC"),
    )


@dataclass(frozen=True)
class TimeBounds:
    """Where a viewer's detections lie in time, whole-hour bounds (UTC).

    Attributes
    ----------
    full
        From the first to the last detection.
    bulk
        Where their bulk is (:func:`bulk_span`): the window opens on it.
    """

    full: tuple[pd.Timestamp, pd.Timestamp]
    bulk: tuple[pd.Timestamp, pd.Timestamp]

    def span(self, *, wide: bool = False) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The slider's range: all of it (``wide``) or the bulk."""
        return self.full if wide else self.bulk

    def step(self, *, wide: bool = False) -> pd.Timedelta:
        """The slider's step: an hour over three weeks or less, a day beyond."""
        lo, hi = self.span(wide=wide)
        return pd.Timedelta(hours=1) if hi - lo <= pd.Timedelta(days=21) else pd.Timedelta(days=1)


def time_bounds(times: pd.Series) -> TimeBounds | None:
    """:class:`TimeBounds` of detection times, ``None`` for none.

    Examples
    --------
    >>> times = ["2010-01-01T00:00"] + ["2026-11-01T10:20"] * 20 + ["2026-11-02T03:10"]
    >>> t = pd.Series(pd.to_datetime(times, utc=True))
    >>> b = time_bounds(t)
    >>> [str(x) for x in b.bulk]
    ['2026-11-01 10:00:00+00:00', '2026-11-02 04:00:00+00:00']
    >>> str(b.full[0].date()), b.step()
    ('2010-01-01', Timedelta('0 days 01:00:00'))
    """
    times = times.dropna()
    if not len(times):
        return None
    return span_bounds((times.min(), times.max()), bulk_span(times))


def span_bounds(
    full: tuple[pd.Timestamp, pd.Timestamp], bulk: tuple[pd.Timestamp, pd.Timestamp] | None
) -> TimeBounds:
    """:class:`TimeBounds` from the first and last time and the bulk (:func:`bulk_span`).

    E.g. as a store computes them (:func:`geo.store.time_summary`), without the times.
    """

    def hours(lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
        lo = lo.floor("h")
        return lo, max(hi.ceil("h"), lo + pd.Timedelta(hours=1))

    whole = hours(*full)
    return TimeBounds(full=whole, bulk=hours(*bulk) if bulk else whole)


@dataclass(frozen=True)
class HourCounts:
    """Detection times counted per hour: how many lie outside whole-hour bounds, exactly.

    ``hours``: hour numbers (``floor(µs since 1970 / 3600e6)``), ascending; ``counts``: the
    times in each; ``on_hour``: those of them exactly on the hour.
    """

    hours: NDArray[np.int64]
    counts: NDArray[np.int64]
    on_hour: NDArray[np.int64]

    @classmethod
    def of(cls, times: pd.Series) -> HourCounts:
        """The counts of times held in memory (those of a store: :func:`geo.store.time_summary`).

        Examples
        --------
        >>> t = pd.Series(pd.to_datetime(["2026-11-01T10:00", "2026-11-01T10:30"], utc=True))
        >>> h = HourCounts.of(t)
        >>> len(h), h.outside(pd.Timestamp("2026-11-01T09:00Z"), pd.Timestamp("2026-11-01T10:00Z"))
        (2, 1)
        """
        us = times.dropna().to_numpy(dtype="datetime64[us]").astype(np.int64)
        hours, inverse = np.unique(us // _HOUR_US, return_inverse=True)
        counts = np.bincount(inverse, minlength=hours.size).astype(np.int64)
        on = np.bincount(inverse, weights=(us % _HOUR_US == 0), minlength=hours.size)
        return cls(hours.astype(np.int64), counts, on.astype(np.int64))

    def __len__(self) -> int:
        return int(self.counts.sum())

    def outside(self, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
        """How many times are before ``lo`` or after ``hi`` (both on a whole hour, UTC)."""
        lo_us, hi_us = (int(pd.Timestamp(t).value) // 1000 for t in (lo, hi))
        if lo_us % _HOUR_US or hi_us % _HOUR_US:
            raise ValueError(f"bounds must be whole hours, got {lo} and {hi}")
        lo_h, hi_h = lo_us // _HOUR_US, hi_us // _HOUR_US
        after = self.counts[self.hours >= hi_h].sum() - self.on_hour[self.hours == hi_h].sum()
        return int(self.counts[self.hours < lo_h].sum() + after)


#: Microseconds in an hour.
_HOUR_US = 3_600_000_000


def gap_table(gaps: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The gap table of a view from its gaps, longest first (:attr:`Headline.gaps`).

    One row per gap: ``gap`` (its rank, ``G1`` the longest), segment, chainage, length,
    sectors and partners joined by ", ", and the midpoint as ``mid_lon``/``mid_lat``.
    """
    table = pd.DataFrame(
        list(gaps),
        columns=[
            "segment",
            "start_km",
            "end_km",
            "length_km",
            "midpoint",
            "sector_ids",
            "partners",
        ],
    )
    table.insert(0, "gap", [f"G{i}" for i in range(1, len(table) + 1)])
    table["sector_ids"] = table["sector_ids"].map(", ".join)
    table["partners"] = table["partners"].map(", ".join)
    mid = (
        pd.DataFrame(
            table.pop("midpoint").tolist(), index=table.index, columns=["mid_lon", "mid_lat"]
        )
        if len(table)
        else pd.DataFrame(columns=["mid_lon", "mid_lat"], dtype=float)
    )
    return pd.concat([table, mid], axis=1)
