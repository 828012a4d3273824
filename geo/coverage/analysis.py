"""Coverage analysis: where the border and its corridor are watched, and where they are not.

:func:`analyse` is the one entry point the command line, the app and the exports share. It
takes validated layers in EPSG:4326 (see :mod:`geo.inputs.loader`) and returns an
:class:`Analysis`: the JSON report (a contract, see the README) and GeoDataFrames in
EPSG:4326 for maps and exports.

It is a recipe, one step per module:

1. prepare the inputs: border, sensors, corridor, sectors, detections, time window
   (:mod:`geo.coverage.scene`);
2. a coverage engine computes the border and the corridor watched
   (:mod:`geo.coverage.engine`): footprint polygons on the ellipsoid
   (:mod:`geo.coverage.flat`), or viewsheds over a DEM (:mod:`geo.coverage.terrain`);
3. detections are classified (:mod:`geo.coverage.detections`);
4. the report and the layers are assembled (:mod:`geo.coverage.report`,
   :mod:`geo.coverage.result_layers`), then cut to the time window
   (:meth:`Analysis.windowed`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core import settings
from geo.core.projection import AnalysisCRS
from geo.coverage.border import Border, nearest_chainage
from geo.coverage.detections import classify_detections, classify_points
from geo.coverage.engine import Coverage, CoverageEngine
from geo.coverage.flat import FlatEngine, border_intervals, sensor_footprints
from geo.coverage.report import border_gaps, build_report, sector_rows
from geo.coverage.result_layers import build_layers
from geo.coverage.scene import Scene, prepare_scene, time_window

if TYPE_CHECKING:
    from geo.terrain.grids import CoverageGrid


@dataclass
class Analysis:
    """Result of :func:`analyse`.

    Attributes
    ----------
    report
        The JSON-ready report (keys documented in the README; a contract).
    acrs
        The analysis CRS.
    layers
        GeoDataFrames in EPSG:4326, by name: ``border``, ``corridor``, ``footprints``,
        ``sensors``, ``sectors``, ``gaps`` (border lines), ``overlaps`` (border lines),
        ``gap_areas``, ``overlap_areas`` (corridor polygons), ``detections``.

        ``sensors`` is the input sensors (every column kept) plus, per sensor, in km of
        border: ``covered_km``, the border it watches (its own pieces merged), and
        ``sole_km``, the part of that no other active sensor watches, i.e. the gap that
        would open without it (``sole_km <= covered_km``; the ``sole_km`` of all sensors
        plus ``border.redundant_km`` make ``border.covered_km``). Both are 0 for inactive
        sensors. With a DEM both are read from the grid along the border like every border
        figure: a sensor watches a piece of border when its cut viewshed sees the piece's cell.
    """

    report: dict[str, Any]
    acrs: AnalysisCRS
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    #: Per detection (all of them, whatever the window): membership of each sector.
    det_in_sector: NDArray[np.bool_] | None = None
    #: Partner of each sector, in the order of ``report["sectors"]``.
    sector_partner: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    #: All classified detections; ``layers["detections"]`` holds those in the time window.
    all_detections: gpd.GeoDataFrame | None = None
    #: The prepared border (segments, chainage) the analysis ran on.
    border: Border | None = None
    #: Terrain coverage counts on the DEM's grid, when the analysis used a DEM.
    coverage: CoverageGrid | None = None
    #: Colours the operation chose for its partners (RGB), for maps and snapshots.
    partner_colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def windowed(
        self,
        time_from: str | datetime | None = None,
        time_to: str | datetime | None = None,
        *,
        visible: NDArray[np.bool_] | None = None,
    ) -> Analysis:
        """The same analysis with detections restricted to a time window (and to a viewer).

        Coverage does not depend on time, so only detection counts (overall, per sector, per
        partner) and the detections layer change; nothing is recomputed geometrically.

        ``visible``: which of :attr:`all_detections` the viewer may see (see
        :func:`geo.coverage.views.visible_rows`); the others leave every count and layer.
        """
        t_from, t_to = time_window(time_from, time_to)
        report = copy.deepcopy(self.report)
        report["parameters"]["time_from"] = _iso(t_from)
        report["parameters"]["time_to"] = _iso(t_to)
        layers = dict(self.layers)
        det = self.all_detections
        if det is None or self.det_in_sector is None:
            return replace(self, report=report, layers=layers)
        keep = np.ones(len(det), dtype=bool)
        if visible is not None:
            if visible.shape != keep.shape:
                raise ValueError(
                    f"visible: expected one flag per detection ({keep.size}), got {visible.shape}"
                )
            keep &= visible
        if t_from is not None:
            keep &= (det["time"] >= t_from).to_numpy()
        if t_to is not None:
            keep &= (det["time"] <= t_to).to_numpy()
        everyone = bool(keep.all())
        in_coverage, in_gap, outside = _status_masks(det["coverage_status"])
        if not everyone:
            in_coverage, in_gap, outside = in_coverage[keep], in_gap[keep], outside[keep]
        in_sector = self.det_in_sector if everyone else self.det_in_sector[keep]
        report["detections"].update(
            {
                "total": int(keep.sum()),
                "in_coverage": int(in_coverage.sum()),
                "in_gaps": int(in_gap.sum()),
                "outside_corridor": int(outside.sum()),
            }
        )
        for j, sec in enumerate(report["sectors"]):
            sec["detections"] = int(in_sector[:, j].sum())
        for p, entry in report["partners"].items():
            cols = self.sector_partner == p
            mine = (
                in_sector[:, cols].any(axis=1) if cols.any() else np.zeros(in_gap.size, dtype=bool)
            )
            entry["detections"] = int(mine.sum())
            entry["detections_in_gaps"] = int((mine & in_gap).sum())
        # Every row kept: the frame itself, reindexed (pandas copies on write, not here).
        layers["detections"] = (det if everyone else det[keep]).reset_index(drop=True)
        if "sectors" in layers:
            layers["sectors"] = _sector_layer_counts(layers["sectors"], report["sectors"])
        return replace(self, report=report, layers=layers)


def _status_masks(
    status: pd.Series,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Which rows are ``"coverage"``, ``"gap"`` and ``"outside"``.

    A categorical column is read by its codes (no strings made for a million rows).

    Examples
    --------
    >>> s = pd.Series(pd.Categorical(["gap", "coverage", "gap"]))
    >>> [m.tolist() for m in _status_masks(s)]
    [[False, True, False], [True, False, True], [False, False, False]]
    """
    if isinstance(status.dtype, pd.CategoricalDtype):
        codes = status.cat.codes.to_numpy()
        cats = list(status.cat.categories)
        return tuple(  # type: ignore[return-value]
            codes == cats.index(v) if v in cats else np.zeros(codes.size, dtype=bool)
            for v in ("coverage", "gap", "outside")
        )
    values = status.to_numpy()
    return values == "coverage", values == "gap", values == "outside"


def _sector_layer_counts(
    sectors: gpd.GeoDataFrame, sectors_report: list[dict[str, Any]]
) -> gpd.GeoDataFrame:
    """A copy of the sectors layer whose ``detections`` are the report's, row by row.

    The layer's rows are the report's sectors in the same order (see :func:`_layers`), so
    the map's tooltips and every export carry the report's counts. The layer passed in (shared
    by every window of the analysis) is not changed.
    """
    if len(sectors) != len(sectors_report):
        raise ValueError(
            f"sectors layer: expected one row per report sector ({len(sectors_report)}), "
            f"got {len(sectors)}"
        )
    out = sectors.copy()
    out["detections"] = np.array([int(s["detections"]) for s in sectors_report], dtype=np.int64)
    return out


def analyse(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> Analysis:
    """Compute coverage of a border and its corridor by sensors.

    Parameters
    ----------
    border, sensors, sectors, detections
        Layers in EPSG:4326 as returned by :mod:`geo.inputs.loader` (sensors need ``sensor_id``,
        ``partner``, ``kind``, ``range_m``; optional columns take their defaults).
    corridor_km
        Depth of the corridor on each side of the border (km, > 0).
    min_gap_m
        Uncovered stretches shorter than this are not listed as gaps (m, >= 0).
    time_from, time_to
        Optional time window for detections (ISO 8601; without a zone, UTC).
    dem
        A terrain model (any raster GDAL reads, any CRS). Without it, footprints are exact
        shapes (:class:`geo.coverage.flat.FlatEngine`); with it every sensor's footprint is
        its viewshed over the terrain (line of sight from ``height_m`` above the ground to a
        target ``target_height_m`` above the ground, with earth curvature and refraction),
        cut to its range, annulus and wedge; coverage is counted on the DEM's grid and the
        border results are read from that grid (:class:`geo.coverage.terrain.TerrainEngine`).
    target_height_m
        Height of the target above the ground (m, >= 0); a sensor's own ``target_height_m``
        overrides it. Used with ``dem``.
    refraction_coeff
        Atmospheric refraction coefficient ``k`` (-1 to 1); curvature is corrected with
        ``1 - k``. Used with ``dem``.

    Returns
    -------
    Analysis
        Report and map layers.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [10_000.0]}, geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> round(analyse(b, s).report["border"]["covered_km"], 2)
    20.0
    """
    return analyse_covered(
        border, sensors, sectors=sectors, detections=detections, corridor_km=corridor_km,
        min_gap_m=min_gap_m, time_from=time_from, time_to=time_to, dem=dem,
        target_height_m=target_height_m, refraction_coeff=refraction_coeff,
    ).analysis  # fmt: skip


class Covered(NamedTuple):
    """:func:`analyse_covered`: the analysis, and the scene and coverage it was made from."""

    analysis: Analysis
    scene: Scene
    coverage: Coverage


def analyse_covered(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> Covered:
    """:func:`analyse`, keeping its scene and coverage (to classify more detections later).

    Callers that classify detections kept elsewhere (a store's pages, a Dask dataset) build
    their classifier from the same coverage, computed once.
    """
    scene = prepare_scene(
        border,
        sensors,
        sectors=sectors,
        detections=detections,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        time_from=time_from,
        time_to=time_to,
    )
    engine = coverage_engine(
        dem, target_height_m=target_height_m, refraction_coeff=refraction_coeff
    )
    coverage = engine.cover(scene)
    result = _assemble(scene, coverage).windowed(scene.time_from, scene.time_to)
    return Covered(result, scene, coverage)


def coverage_engine(
    dem: str | Path | None, *, target_height_m: float, refraction_coeff: float
) -> CoverageEngine:
    """The flat engine without a DEM, the terrain engine with one."""
    if dem is None:
        return FlatEngine()
    # Imported here: the terrain (numba, rasterio) loads only for an analysis with a DEM.
    from geo.coverage.terrain import TerrainEngine

    return TerrainEngine(dem, target_height_m=target_height_m, refraction_coeff=refraction_coeff)


def _assemble(scene: Scene, coverage: Coverage) -> Analysis:
    """The whole analysis (every detection counted) from the scene and what the engine computed."""
    det_layer, in_sector = classify_detections(scene, coverage.corridor)
    gaps, gap_ivs = border_gaps(scene, coverage.border.covered)
    sectors = sector_rows(scene, coverage.border.covered)
    layers = build_layers(
        scene, coverage, gaps=gaps, gap_ivs=gap_ivs, sectors=sectors, detections=det_layer
    )
    return Analysis(
        report=build_report(scene, coverage, gaps=gaps, sectors=sectors),
        acrs=scene.acrs,
        layers=layers,
        det_in_sector=in_sector,
        sector_partner=scene.sectors.partner,
        all_detections=det_layer,
        border=scene.border,
        coverage=coverage.grid,
    )


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


__all__ = [
    "Analysis",
    "analyse",
    "border_intervals",
    "classify_points",
    "nearest_chainage",
    "sensor_footprints",
]
