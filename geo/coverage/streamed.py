"""Counting detections page by page: the map's numbers without every detection in memory.

:meth:`geo.coverage.Analysis.windowed` counts the detections of a window (per status,
sector and partner) from every classified detection it holds; the map's hexagons
(:func:`geo.coverage.hexbin.hexbin`) count them per cell. Here the same figures come from
pages of positions (e.g. :func:`geo.store.map_query.window_batches`, which reads the store
page by page): each page is classified as
:func:`geo.coverage.detections.classify_points` classifies (one
:class:`~geo.coverage.detections.PointTest`, its indexes built once for every page),
counted, and dropped. Memory grows with a page and with the number of
hexagons, not with the number of detections.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.core.cells import HALF as _HALF
from geo.core.cells import NO_HEX, HexLayout
from geo.core.projection import AnalysisCRS, to_lonlat
from geo.coverage import cell_classes as cc
from geo.coverage.analysis import Analysis, analyse_covered, coverage_engine
from geo.coverage.detections import STATUS, PointTest, _joined_ids
from geo.coverage.engine import Coverage
from geo.coverage.hexbin import _SQRT3
from geo.coverage.scene import Scene, prepare_scene

__all__ = [
    "PointClassifier",
    "WindowCounts",
    "add_groups",
    "add_points",
    "analyse_with_classifier",
    "classified",
    "count_batches",
    "counted_report",
    "hexagons",
    "new_counts",
    "point_classifier",
]

#: Status codes of :func:`geo.coverage.detections.classify_points`.
_COVERAGE, _GAP, _OUTSIDE = 0, 1, 2


class Positions(Protocol):
    """A page of points: longitudes and latitudes in degrees (EPSG:4326)."""

    @property
    def lon(self) -> NDArray[np.float64]: ...

    @property
    def lat(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class PointClassifier:
    """What classifying a detection needs: the analysis's corridor, coverage and sectors.

    Attributes
    ----------
    acrs
        The analysis CRS (the hexagons are laid out in it).
    test
        The corridor, coverage and sector test of
        :func:`geo.coverage.detections.classify_points`, its indexes kept from page to page.
    sector_ids, sector_partner
        The sectors' ids and partners, in the report's order.
    cells
        The fine cells :meth:`cell_classes` worked out so far (kept for every window).
    """

    acrs: AnalysisCRS
    test: PointTest
    sector_ids: NDArray[np.object_]
    sector_partner: NDArray[np.object_]
    cells: cc.CellClassCache = field(default_factory=cc.CellClassCache, compare=False, repr=False)

    def classify(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
        """Status codes (0 coverage, 1 gap, 2 outside) and sector membership of points."""
        return self.test.classify(lon, lat)

    def cell_classes(self, fine: NDArray[np.int64]) -> cc.CellClasses:
        """Which fine cells :meth:`classify` sees as one class, and that class.

        Cells are keys of :func:`geo.core.cells.fine_cells_of`; see
        :mod:`geo.coverage.cell_classes`. A cell is uniform only when it is proven so (no
        outline that decides comes near); :data:`geo.core.cells.NO_CELL` never is. Each
        cell is worked out once per classifier.

        Examples
        --------
        >>> import shapely
        >>> from geo.core.cells import fine_cells_of
        >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
        >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
        ...                       "range_m": [10_000.0]},
        ...                      geometry=[shapely.Point(0.5, 0)], crs=4326)
        >>> clf = point_classifier(b, s)
        >>> got = clf.cell_classes(fine_cells_of(np.array([0.505, 5.0]), np.array([0.005, 5.0])))
        >>> got.uniform.tolist(), got.codes.tolist()
        ([True, True], [0, 2])
        """
        fine = np.asarray(fine, dtype=np.int64)
        keys, back = np.unique(fine, return_inverse=True)
        n_sectors = len(self.sector_ids)
        found, got = self.cells.get(keys, n_sectors)
        if not found.all():
            fresh = keys[~found]
            self.cells.add(
                fresh,
                cc.classes_of_cells(
                    fresh,
                    self.classify,
                    self.cells.outlines(self._outlines),
                    lon_centre_deg=self.test.lon_centre_deg,
                    n_sectors=n_sectors,
                ),
            )
            found, got = self.cells.get(keys, n_sectors)
        back = back.ravel()
        return cc.CellClasses(got.uniform[back], got.codes[back], got.in_sector[back])

    def _outlines(self) -> cc.CellOutlines:
        """The edges that decide a class (corridor and sectors; coverage), as the test has them."""
        polys = self.test.outlines.polygons
        covered_at = self.test.covered_at
        inner: cc.Rings | None = None
        if covered_at is None:  # corridor, coverage, sectors
            inner, outer = cc.Rings.of_polygon(polys[1]), [polys[0], *polys[2:]]
        else:  # corridor, sectors
            outer = list(polys)
            if isinstance(covered_at, cc.OutlinedCoveredAt):
                inner = cc.Rings(*covered_at.outline_rings())
        return cc.CellOutlines(
            cc.EdgeTree(cc.outline_edges(np.asarray(outer, dtype=object))), inner
        )


def point_classifier(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> PointClassifier:
    """The classifier of :func:`geo.coverage.analyse` with the same inputs (no detections).

    Examples
    --------
    >>> import shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [10_000.0]}, geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> point_classifier(b, s).classify(np.array([0.5, 0.9]), np.array([0.01, 0.01]))[0]
    array([0, 1], dtype=int8)
    """
    scene = prepare_scene(
        border,
        sensors,
        sectors=sectors,
        detections=None,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        time_from=None,
        time_to=None,
    )
    engine = coverage_engine(
        dem, target_height_m=target_height_m, refraction_coeff=refraction_coeff
    )
    return _classifier(scene, engine.cover(scene))


def _classifier(scene: Scene, coverage: Coverage) -> PointClassifier:
    """The classifier of a scene whose coverage the engine computed."""
    corridor = coverage.corridor
    test = PointTest(
        scene.acrs,
        corridor=scene.corridor,
        coverage=corridor.coverage,
        sectors=scene.sectors.polygons,
        covered_at=corridor.covered_at,
    )
    return PointClassifier(
        acrs=scene.acrs,
        test=test,
        sector_ids=scene.sectors.ids,
        sector_partner=scene.sectors.partner,
    )


def analyse_with_classifier(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> tuple[Analysis, PointClassifier]:
    """:func:`geo.coverage.analyse` (all time) and :func:`point_classifier`, coverage computed once.

    ``detections``: those held in memory (a scenario's own); others (a store's) are
    counted page by page with the classifier (:func:`count_batches`).
    """
    result, scene, coverage = analyse_covered(
        border, sensors, sectors=sectors, detections=detections, corridor_km=corridor_km,
        min_gap_m=min_gap_m, dem=dem, target_height_m=target_height_m,
        refraction_coeff=refraction_coeff,
    )  # fmt: skip
    return result, _classifier(scene, coverage)


def classified(detections: gpd.GeoDataFrame, classifier: PointClassifier) -> gpd.GeoDataFrame:
    """A copy of detections with ``coverage_status`` and ``sector_ids``, as an analysis has them.

    The columns :func:`geo.coverage.detections.classify_detections` adds, from the same
    point test.
    """
    lon = detections.geometry.x.to_numpy(dtype=float)
    lat = detections.geometry.y.to_numpy(dtype=float)
    codes, in_sector = classifier.classify(lon, lat) if len(lon) else (
        np.zeros(0, dtype=np.int8), np.zeros((0, len(classifier.sector_ids)), dtype=bool)
    )  # fmt: skip
    out = detections.assign(coverage_status=pd.Categorical.from_codes(codes, categories=STATUS))
    out["sector_ids"] = _joined_ids(in_sector, classifier.sector_ids)
    return out


@dataclass
class WindowCounts:
    """The figures :meth:`geo.coverage.Analysis.windowed` counts, and the map's hexagons.

    ``sectors``: detections per sector (the classifier's order); ``partners``: per partner
    of a sector, its detections (in any of its sectors) and those of them in gaps;
    ``hex_keys``: hexagon cells (axial ``q``, ``r`` packed as in
    :func:`geo.coverage.hexbin.hexbin`), sorted, with ``hex_counts`` and ``hex_flagged``
    (in gaps).
    """

    total: int = 0
    in_coverage: int = 0
    in_gaps: int = 0
    outside_corridor: int = 0
    sectors: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    partners: dict[str, list[int]] = field(default_factory=dict)
    hex_keys: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hex_counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hex_flagged: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _hex_add_keys(
    counts: WindowCounts,
    keys: NDArray[np.int64],
    weights: NDArray[np.int64],
    gap: NDArray[np.bool_],
) -> None:
    """Add ``weights`` points to the hexagons ``keys`` (those with ``gap`` flagged too).

    A page's cells are found by hashing (``pandas.factorize``, no sort of the page), then
    merged into the sorted cells held so far: few a page, past the first pages.
    """
    codes, page_cells = pd.factorize(keys)
    page_cells = np.asarray(page_cells, dtype=np.int64)
    page_counts = np.bincount(codes, weights=weights, minlength=len(page_cells))
    page_flagged = np.bincount(codes[gap], weights=weights[gap], minlength=len(page_cells))
    cells = counts.hex_keys
    fresh = ~np.isin(page_cells, cells, assume_unique=True)
    if fresh.any():
        merged = np.union1d(cells, page_cells[fresh])
        moved = np.searchsorted(merged, cells)
        for name in ("hex_counts", "hex_flagged"):
            grown = np.zeros(len(merged), dtype=np.int64)
            grown[moved] = getattr(counts, name)
            setattr(counts, name, grown)
        counts.hex_keys = cells = merged
    at = np.searchsorted(cells, page_cells)
    counts.hex_counts[at] += page_counts.astype(np.int64)
    counts.hex_flagged[at] += page_flagged.astype(np.int64)


def new_counts(classifier: PointClassifier) -> WindowCounts:
    """Empty counts for the classifier's sectors and partners."""
    counts = WindowCounts(sectors=np.zeros(len(classifier.sector_ids), dtype=np.int64))
    counts.partners = {str(p): [0, 0] for p in np.unique(classifier.sector_partner)}
    return counts


def _add_classes(
    counts: WindowCounts,
    classifier: PointClassifier,
    codes: NDArray[np.int8],
    in_sector: NDArray[np.bool_],
    weights: NDArray[np.int64] | None,
) -> None:
    """Add points of the given statuses and sectors, or groups of ``weights`` points each."""

    def total(mask: Any) -> int:
        return int(mask.sum()) if weights is None else int(weights[mask].sum())

    gap = codes == _GAP
    counts.total += len(codes) if weights is None else int(weights.sum())
    counts.in_coverage += total(codes == _COVERAGE)
    counts.in_gaps += total(gap)
    counts.outside_corridor += total(codes == _OUTSIDE)
    if weights is None:
        counts.sectors += in_sector.sum(axis=0).astype(np.int64)
    else:
        counts.sectors += (weights @ in_sector).astype(np.int64)
    for p in counts.partners:
        mine = in_sector[:, classifier.sector_partner == p].any(axis=1)
        counts.partners[p][0] += total(mine)
        counts.partners[p][1] += total(mine & gap)


def add_points(
    counts: WindowCounts,
    classifier: PointClassifier,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    *,
    hex_size_m: float | None = None,
) -> None:
    """Classify a page of points (degrees) and add them to ``counts`` (and hexagons)."""
    if not len(lon):
        return
    codes, in_sector = classifier.classify(lon, lat)
    _add_classes(counts, classifier, codes, in_sector, None)
    if hex_size_m is not None:
        keys = HexLayout(classifier.acrs, hex_size_m).keys(lon, lat)
        ok = keys != NO_HEX
        _hex_add_keys(counts, keys[ok], np.ones(int(ok.sum()), dtype=np.int64), (codes == _GAP)[ok])


def add_groups(
    counts: WindowCounts,
    classifier: PointClassifier,
    classes: tuple[NDArray[np.int8], NDArray[np.bool_]],
    hex_keys: NDArray[np.int64] | None,
    n: NDArray[np.int64],
) -> None:
    """Add groups of ``n`` points whose class is known: ``classes`` (status codes, sectors).

    ``hex_keys``: each group's hexagon (:meth:`geo.core.cells.HexLayout.keys`; groups of
    :data:`~geo.core.cells.NO_HEX` are in none), or ``None`` without hexagons. The same
    figures as :func:`add_points` with the groups' points, when each group's points are of
    its class and hexagon.
    """
    codes, in_sector = classes
    n = np.asarray(n, dtype=np.int64)
    if not len(n):
        return
    _add_classes(counts, classifier, codes, in_sector, n)
    if hex_keys is not None:
        ok = hex_keys != NO_HEX
        _hex_add_keys(counts, hex_keys[ok], n[ok], (codes == _GAP)[ok])


def count_batches(
    batches: Iterable[Positions],
    classifier: PointClassifier,
    *,
    hex_size_m: float | None = None,
) -> WindowCounts:
    """Classify pages of points and sum the window's figures (and hexagons of ``hex_size_m``).

    Examples
    --------
    >>> import shapely
    >>> from types import SimpleNamespace
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [10_000.0]}, geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> page = SimpleNamespace(lon=np.array([0.5, 0.9, 5.0]), lat=np.array([0.01, 0.01, 5.0]))
    >>> c = count_batches([page, page], point_classifier(b, s))
    >>> c.total, c.in_coverage, c.in_gaps, c.outside_corridor
    (6, 2, 2, 2)
    """
    counts = new_counts(classifier)
    for page in batches:
        lon = np.asarray(page.lon, dtype=float)
        lat = np.asarray(page.lat, dtype=float)
        add_points(counts, classifier, lon, lat, hex_size_m=hex_size_m)
    return counts


def counted_report(report: dict[str, Any], counts: WindowCounts) -> dict[str, Any]:
    """A copy of an analysis report with the detection figures of ``counts``.

    The keys :meth:`geo.coverage.Analysis.windowed` sets: ``detections`` (``total``,
    ``in_coverage``, ``in_gaps``, ``outside_corridor``), each sector's ``detections`` and
    each partner's ``detections`` and ``detections_in_gaps``. The report's sectors must be
    those of the classifier, in its order.
    """
    out = copy.deepcopy(report)
    if len(out["sectors"]) != len(counts.sectors):
        raise ValueError(
            f"report has {len(out['sectors'])} sectors, the counts {len(counts.sectors)}"
        )
    out["detections"].update(
        total=counts.total,
        in_coverage=counts.in_coverage,
        in_gaps=counts.in_gaps,
        outside_corridor=counts.outside_corridor,
    )
    for sec, n in zip(out["sectors"], counts.sectors.tolist(), strict=True):
        sec["detections"] = int(n)
    for p, entry in out["partners"].items():
        mine, in_gaps = counts.partners.get(p, [0, 0])
        entry["detections"], entry["detections_in_gaps"] = int(mine), int(in_gaps)
    return out


def hexagons(counts: WindowCounts, acrs: AnalysisCRS, size_m: float) -> gpd.GeoDataFrame:
    """The hexagons of :func:`count_batches` as :func:`geo.coverage.hexbin.hexbin` makes them.

    Columns ``count`` and ``flagged`` (in gaps), polygons in EPSG:4326, in the same order.
    """
    cq = ((counts.hex_keys >> 32) - _HALF).astype(float)
    cr = ((counts.hex_keys & 0xFFFFFFFF) - _HALF).astype(float)
    centre_x = size_m * _SQRT3 * (cq + cr / 2)
    centre_y = size_m * 1.5 * cr
    angles = np.radians(30 + 60 * np.arange(6))
    ring_x = centre_x[:, None] + size_m * np.cos(angles)[None, :]
    ring_y = centre_y[:, None] + size_m * np.sin(angles)[None, :]
    polys = shapely.polygons(np.stack([ring_x, ring_y], axis=2))
    return gpd.GeoDataFrame(
        {"count": counts.hex_counts, "flagged": counts.hex_flagged},
        geometry=list(to_lonlat(polys, acrs)),
        crs="EPSG:4326",
    )
