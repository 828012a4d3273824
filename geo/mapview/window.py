"""The Map page's figures for a viewer and a time window, the stored rows counted by the store.

:func:`geo.coverage.analyse` with every stored detection gives the page's figures but holds
every row in memory. Here the same figures come in three parts:

1. :func:`map_base`: the analysis of the operation with its own detections only (a
   scenario's, few; the coverage, the gaps and the sectors do not depend on detections),
   and the classifier of its coverage;
2. :func:`map_window`: the window's counts (per status, sector, partner and hexagon) over
   the scenario's rows and the store's (:func:`geo.store.window_positions`, batch by batch,
   read in a thread of their own while the last batch is counted),
   and the points to draw (:func:`geo.store.map_points`, up to a limit);
3. :func:`map_times`: where the viewer's detections lie in time
   (:func:`geo.store.time_summary`).

Memory grows with a page of rows, the points drawn and the hexagons, not with the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo import store
from geo.core import settings
from geo.core.cells import HexLayout
from geo.core.prefetch import prefetched
from geo.coverage.analysis import Analysis
from geo.coverage.streamed import (
    PointClassifier,
    WindowCounts,
    add_groups,
    add_points,
    analyse_with_classifier,
    classified,
    counted_report,
    hexagons,
    new_counts,
)
from geo.coverage.views import (
    HourCounts,
    TimeBounds,
    hide_foreign_upload_ids,
    span_bounds,
    visible_rows,
)

__all__ = [
    "MapBase",
    "MapWindow",
    "WindowMoments",
    "map_base",
    "map_times",
    "map_window",
    "pick_box",
    "rows_near",
    "window_moments",
]

StorePath = str | os.PathLike[str]

#: Columns a classified layer ends with (as :func:`geo.coverage.analyse` adds them).
_CLASS_COLUMNS = ["coverage_status", "sector_ids"]


@dataclass(frozen=True)
class MapBase:
    """An operation's analysis without the stored detections, and its classifier.

    ``analysis``: all time, the operation's own detections only (owned by their
    ``partner``, ``upload_id`` -1); ``stored``: whether the store holds rows of the
    operation (of any owner), i.e. whether the map has a detections layer without them.
    """

    analysis: Analysis
    classifier: PointClassifier
    path: StorePath
    operation: str
    stored: bool

    @property
    def has_detections(self) -> bool:
        """Whether the page has a detections layer (its own rows or stored ones)."""
        return self.stored or self.analysis.all_detections is not None


@dataclass(frozen=True)
class MapWindow:
    """The page's analysis of a window for a viewer, with the store's rows counted.

    ``result``: the report counted over every detection of the window the viewer may see;
    its ``detections`` layer holds the points drawn (all of them when ``total <= limit``).
    ``hexagons``: the window's detections counted per hexagon (all of them), ``None``
    without a detections layer. ``total``: the detections in the window.
    """

    result: Analysis
    hexagons: gpd.GeoDataFrame | None
    total: int

    @property
    def shown(self) -> int:
        """How many detections the ``detections`` layer holds."""
        det = self.result.layers.get("detections")
        return 0 if det is None else len(det)

    @property
    def cut(self) -> bool:
        """Whether the window holds more detections than the layer."""
        return self.total > self.shown


def map_base(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    path: StorePath,
    *,
    operation: str,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    dem: str | Path | None = None,
) -> MapBase:
    """The analysis of an operation with its own ``detections`` (not the stored ones).

    A scenario row is owned by its ``partner`` and keeps its ``releasable_to`` (empty: the
    owner only), as a stored row carries both.
    """
    own = detections
    if detections is not None and len(detections):
        own = detections.assign(owner=detections["partner"], upload_id=-1)
    result, classifier = analyse_with_classifier(
        border, sensors, sectors=sectors, detections=own, corridor_km=corridor_km,
        min_gap_m=min_gap_m, dem=dem,
    )  # fmt: skip
    owners = store.owners(path)
    stored = bool(owners) and store.has_visible(path, owners, operation=operation)
    return MapBase(result, classifier, path, operation, stored)


def _readers(base: MapBase, viewers: Iterable[str] | None) -> list[str]:
    """Whose releasability reads the store: the viewers, or every owner (``None``: all)."""
    return list(viewers) if viewers is not None else store.owners(base.path)


def _own_rows(
    base: MapBase,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
) -> Analysis:
    """The base analysis cut to the window and the viewers (its own rows only)."""
    det = base.analysis.all_detections
    visible = None if det is None or viewers is None else visible_rows(det, viewers)
    return base.analysis.windowed(time_from, time_to, visible=visible)


def map_window(
    base: MapBase,
    *,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
    hex_size_m: float,
    limit: int | None = None,
) -> MapWindow:
    """The page's analysis of a window: every detection counted, at most ``limit`` drawn.

    Parameters
    ----------
    base
        :func:`map_base`.
    time_from, time_to
        The window (UTC; ``None``: open).
    viewers
        The partners whose releasability applies; ``None`` sees everything.
    hex_size_m
        The size of the map's hexagons (m).
    limit
        The most points the ``detections`` layer holds: the operation's own rows of the
        window first, then the stored ones in time order. Default (``None``):
        :data:`geo.core.settings.MAX_MAP_POINTS` at the time of the call.

    Returns
    -------
    MapWindow
        Its report equals that of :func:`geo.coverage.analyse` with every detection, cut to
        the window and the viewers (:meth:`Analysis.windowed`); so do its layers when the
        window holds at most ``limit`` detections.
    """
    own = _own_rows(base, time_from, time_to, viewers)
    if not base.has_detections:
        return MapWindow(hide_foreign_upload_ids(own, viewers), None, 0)
    readers = _readers(base, viewers) if base.stored else []
    mine = own.layers.get("detections")
    n_mine = 0 if mine is None else len(mine)
    counts = new_counts(base.classifier)
    if mine is not None:
        add_points(
            counts, base.classifier, mine.geometry.x.to_numpy(dtype=float),
            mine.geometry.y.to_numpy(dtype=float), hex_size_m=hex_size_m,
        )  # fmt: skip
    if readers:
        _count_stored(counts, base, readers, time_from, time_to, hex_size_m)
    report = counted_report(own.report, counts)
    limit = settings.MAX_MAP_POINTS if limit is None else limit
    room = max(limit - n_mine, 0)
    points = _stored_points(base, readers, time_from, time_to, room, total=counts.total - n_mine)
    layers = {**own.layers, "detections": _joined(mine, points)}
    if "sectors" in layers:
        sectors = layers["sectors"].copy()
        sectors["detections"] = np.array([int(s["detections"]) for s in report["sectors"]])
        layers["sectors"] = sectors
    result = replace(own, report=report, layers=layers)
    hexes = hexagons(counts, base.classifier.acrs, hex_size_m)
    return MapWindow(hide_foreign_upload_ids(result, viewers), hexes, counts.total)


def _count_stored(
    counts: WindowCounts,
    base: MapBase,
    readers: list[str],
    time_from: datetime | None,
    time_to: datetime | None,
    hex_size_m: float,
) -> None:
    """Add the store's rows of the window to ``counts``.

    A window of fewer than :data:`geo.core.settings.MAP_BINS_FROM_ROWS` rows has every row
    read (below). Else from the store's counts per fine cell and hexagon
    (:func:`geo.store.window_cells`): the cells every point of which the classifier puts in
    one class are counted as a whole
    (:meth:`~geo.coverage.streamed.PointClassifier.cell_classes`); only the rows of the other
    cells (on a class edge) are read and classified one by one. A store that cannot count
    by cells now (a GeoPackage it cannot write, or of an older schema only read) has every
    row of the window read, a batch at a time, in a thread of its own while the last batch
    is counted.
    """
    classifier = base.classifier
    op = base.operation
    cells = None
    if _bins_pay(base, readers, time_from, time_to):
        cells = store.window_cells(
            base.path, readers, operation=op, layout=HexLayout(classifier.acrs, hex_size_m),
            time_from=time_from, time_to=time_to,
        )  # fmt: skip
    edge: NDArray[np.int64] | None = None
    if cells is not None:
        fine, at = np.unique(cells.fine, return_inverse=True)
        classes = classifier.cell_classes(fine)
        whole = classes.uniform[at]
        known = (classes.codes[at][whole], classes.in_sector[at][whole])
        add_groups(counts, classifier, known, cells.hexes[whole], cells.n[whole])
        edge = fine[~classes.uniform]
        if not len(edge):
            return
    # The driver reads outside the GIL: on two cores the read and the counts overlap.
    rows = store.window_positions(
        base.path, readers, operation=op, time_from=time_from, time_to=time_to, cells=edge
    )
    for page in prefetched(rows):
        lon, lat = np.asarray(page.lon, dtype=float), np.asarray(page.lat, dtype=float)
        add_points(counts, classifier, lon, lat, hex_size_m=hex_size_m)


def _bins_pay(
    base: MapBase, readers: list[str], time_from: datetime | None, time_to: datetime | None
) -> bool:
    """Whether the window holds enough rows for the bins to beat reading its rows.

    :data:`geo.core.settings.MAP_BINS_FROM_ROWS` (by the store's hourly summary, an upper
    bound); a store without the summary: the bins (they answer None if they cannot).
    """
    rows = store.window_size(
        base.path, readers, operation=base.operation, time_from=time_from, time_to=time_to
    )
    return rows is None or rows >= settings.MAP_BINS_FROM_ROWS


class WindowMoments(NamedTuple):
    """A page of :func:`window_moments`: positions (degrees) and times (ns since 1970 UTC)."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    time_ns: NDArray[np.int64]


def _window_pages(
    base: MapBase,
    mine: gpd.GeoDataFrame | None,
    readers: list[str],
    time_from: datetime | None,
    time_to: datetime | None,
) -> Iterator[WindowMoments]:
    """The window's rows: the operation's own (``mine``, one page), then the store's pages."""
    if mine is not None and len(mine):
        time_ns = pd.to_datetime(mine["time"], utc=True).dt.tz_localize(None)
        yield WindowMoments(
            mine.geometry.x.to_numpy(dtype=float),
            mine.geometry.y.to_numpy(dtype=float),
            time_ns.to_numpy(dtype="datetime64[ns]").view(np.int64),
        )
    if not readers:
        return
    for page in store.window_batches(
        base.path, readers, operation=base.operation, time_from=time_from, time_to=time_to
    ):
        yield WindowMoments(page.lon, page.lat, page.time_us.astype(np.int64) * 1000)


def window_moments(
    base: MapBase,
    *,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
) -> Iterator[WindowMoments]:
    """Every detection of a window ``viewers`` may see, page by page (as :func:`map_window` counts).

    The operation's own rows of the window first (one page), then the stored ones
    (:func:`geo.store.window_batches`, pages of at most
    :data:`geo.store.map_query.BATCH_ROWS`): memory grows with a page, not with the window.
    ``viewers``: as for :func:`map_window` (``None`` sees everything).
    """
    mine = _own_rows(base, time_from, time_to, viewers).layers.get("detections")
    readers = _readers(base, viewers) if base.stored else []
    return _window_pages(base, mine, readers, time_from, time_to)


def _stored_points(
    base: MapBase,
    readers: list[str],
    time_from: datetime | None,
    time_to: datetime | None,
    limit: int,
    extent: tuple[float, float, float, float] | None = None,
    total: int | None = None,
) -> tuple[gpd.GeoDataFrame | None, int]:
    """The stored rows to draw (classified), and how many match in all (``total`` if known)."""
    if not readers:
        return None, 0
    got = store.map_points(
        base.path, readers, operation=base.operation, time_from=time_from, time_to=time_to,
        extent=extent, limit=limit, total=total,
    )  # fmt: skip
    return classified(got.detections, base.classifier), got.total


def _joined(
    mine: gpd.GeoDataFrame | None, stored: tuple[gpd.GeoDataFrame | None, int]
) -> gpd.GeoDataFrame | None:
    """The operation's own rows, then the stored ones; the class columns last (as analysed)."""
    rows = stored[0]
    if rows is None:
        return mine
    if mine is None or not len(mine):
        return rows.reset_index(drop=True)
    both = pd.concat([mine, rows], ignore_index=True)
    order = [c for c in both.columns if c not in _CLASS_COLUMNS] + _CLASS_COLUMNS
    return gpd.GeoDataFrame(both[order], geometry="geometry", crs="EPSG:4326")


def rows_near(
    base: MapBase,
    window: MapWindow,
    extent: tuple[float, float, float, float],
    *,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
    limit: int | None = None,
) -> tuple[Analysis, int]:
    """``window.result`` whose ``detections`` layer holds the window's rows in ``extent``.

    For the details of a gap, a sector or a hexagon when the layer does not hold every
    detection of the window (:attr:`MapWindow.cut`): the operation's own rows of the extent
    and at most ``limit`` stored ones (default: :data:`geo.core.settings.MAX_MAP_POINTS`).
    Returns it and how many rows the extent holds.
    """
    limit = settings.MAX_MAP_POINTS if limit is None else limit
    own = _own_rows(base, time_from, time_to, viewers).layers.get("detections")
    if own is not None:
        lon, lat = own.geometry.x.to_numpy(), own.geometry.y.to_numpy()
        inside = store.Extent(*extent).holds(lon, lat)
        own = own[inside].reset_index(drop=True)
    readers = _readers(base, viewers) if base.stored else []
    room = max(limit - (0 if own is None else len(own)), 0)
    stored = _stored_points(base, readers, time_from, time_to, room, extent)
    layer = _joined(own, stored)
    result = replace(window.result, layers={**window.result.layers, "detections": layer})
    held = (0 if own is None else len(own)) + stored[1]
    return hide_foreign_upload_ids(result, viewers), held


def map_times(
    base: MapBase, viewers: tuple[str, ...] | None
) -> tuple[TimeBounds | None, HourCounts]:
    """Where the detections ``viewers`` may see lie in time, and their hourly counts.

    The operation's own rows and the stored ones (:func:`geo.store.time_summary`); ``None``
    bounds without detections.
    """
    det = base.analysis.all_detections
    times = pd.Series([], dtype="datetime64[us, UTC]")
    if det is not None:
        times = det["time"][visible_rows(det, viewers)] if viewers is not None else det["time"]
    extra = times.dropna().to_numpy(dtype="datetime64[us]").astype(np.int64)
    readers = _readers(base, viewers) if base.stored else []
    got = store.time_summary(base.path, readers, operation=base.operation, extra_us=extra)
    counts = HourCounts(got.hours, got.counts, got.on_hour)
    if got.first_us is None or got.last_us is None:
        return None, counts

    def stamp(us: int) -> pd.Timestamp:
        return pd.Timestamp(us, unit="us", tz="UTC")

    bulk = None if got.bulk is None else (stamp(got.bulk[0]), stamp(got.bulk[1]))
    return span_bounds((stamp(got.first_us), stamp(got.last_us)), bulk), counts


def pick_box(
    result: Analysis, pick: dict[str, Any] | None
) -> tuple[float, float, float, float] | None:
    """The box (degrees) holding every detection a pick's details list, ``None`` for none.

    A gap: its border line widened by the corridor's depth (a gap's detections are in the
    corridor along it); a sector: its outline; a hexagon: its polygon. A sensor lists none.
    Near the antimeridian the box crosses it (``west > east``, as :class:`geo.store.Extent`
    reads it) rather than stopping at ±180°.
    """
    if not pick:
        return None
    picked_gaps = pick.get("gaps") or pick.get("gaps_others")
    if picked_gaps:
        g = picked_gaps[0]
        gaps = result.layers.get("gaps")
        if gaps is None or not len(gaps):
            return None
        row = gaps[
            (gaps["segment"] == g["segment"]) & ((gaps["start_km"] - g["start_km"]).abs() < 1e-6)
        ]
        if not len(row):
            return None
        depth_km = float(result.report["parameters"]["corridor_km"]) * 1.05 + 1.0
        return _widened(shapely.get_coordinates(row.geometry.to_numpy()), depth_km)
    if pick.get("sectors"):
        sectors = result.layers.get("sectors")
        sid = str(pick["sectors"][0].get("sector_id"))
        if sectors is None:
            return None
        row = sectors[sectors["sector_id"].astype(str) == sid]
        return _widened(shapely.get_coordinates(row.geometry.to_numpy()), 0.0) if len(row) else None
    if pick.get("detections"):
        rings = pick["detections"][0].get("polygon") or []
        if not rings:
            return None
        return _widened(np.asarray(rings[0], dtype=float)[:, :2], 0.0)
    return None


def _lon_arc(lon: NDArray[np.float64]) -> tuple[float, float]:
    """The shortest arc of longitude holding every ``lon``: ``(west, east)``, degrees.

    ``west > east`` when it crosses the antimeridian (points on both sides of 180°).
    """
    x = np.asarray(lon, dtype=float)
    wrap = (x < -180.0) | (x >= 180.0)  # only those: the others keep their exact value
    x = np.sort(np.where(wrap, np.mod(x + 180.0, 360.0) - 180.0, x))
    empty = np.diff(np.append(x, x[0] + 360.0))  # the arcs between neighbours, the last across
    k = int(np.argmax(empty))
    if k == len(x) - 1:
        return float(x[0]), float(x[-1])
    w, e = float(x[k + 1]), float(x[k])
    return (w, 180.0) if e == -180.0 else (w, e)  # up to 180° itself: no crossing


def _widened(xy: NDArray[np.float64], km: float) -> tuple[float, float, float, float]:
    """The box of points (lon, lat) widened by ``km`` on each side, across 180° if need be.

    Degrees of latitude and longitude (``km / 110`` a degree of latitude); ``west > east``:
    across the antimeridian; a box as wide as the world is ``(-180, s, 180, n)``.
    """
    w, e = _lon_arc(xy[:, 0])
    dlat = km / 110.0
    s, n = max(float(xy[:, 1].min()) - dlat, -90.0), min(float(xy[:, 1].max()) + dlat, 90.0)
    coslat = max(float(np.cos(np.radians(max(abs(s), abs(n))))), 1e-6)
    dlon = km / (110.0 * coslat)
    if (e - w) % 360.0 + 2 * dlon >= 360.0:
        return (-180.0, s, 180.0, n)
    w, e = w - dlon, e + dlon
    return (w + 360.0 if w < -180.0 else w, s, e - 360.0 if e > 180.0 else e, n)
