"""The terrain engine: every sensor's viewshed over a DEM, counted on the DEM's grid.

With a DEM, a sensor's footprint is its viewshed over the terrain (line of sight from
``height_m`` above the ground to a target ``target_height_m`` above the ground, with earth
curvature and refraction), cut to its range, annulus and wedge. The viewsheds are counted on
the DEM's own grid (:func:`geo.terrain.grids.terrain_coverage`, all sensors and per partner),
and everything is read from the counts: the border is cut at every cell edge it crosses and
each piece takes the value of its cell, so the border figures agree with the raster exactly;
corridor areas are the ground areas of the cells whose centre lies in the corridor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.core.projection import AnalysisCRS, geodesic_area_m2, to_lonlat
from geo.coverage import intervals as iv
from geo.coverage.border import Border
from geo.coverage.engine import BorderCoverage, CorridorCoverage, Coverage
from geo.coverage.scene import WGS84, Scene
from geo.terrain.dem import DemTransformer
from geo.terrain.grids import (
    CoverageGrid,
    border_pieces,
    check_terrain_params,
    corridor_mask,
    grid_transformer,
    mask_polygons,
    row_cell_areas_m2,
    sensor_terrain,
    terrain_coverage,
)

#: Map polygons (terrain footprints, blind and overlap areas) are polygonized on the grid
#: reduced to at most this many cells a side, and patches smaller than
#: ``_DISPLAY_MIN_CELLS`` cells are left out. For display only: numbers come from the grid.
_DISPLAY_GRID_MAX = 2500
_DISPLAY_MIN_CELLS = 4


class TerrainEngine:
    """Coverage by viewsheds over a DEM (see the module notes).

    Parameters
    ----------
    dem
        A terrain model (any raster GDAL reads, any CRS).
    target_height_m
        Height of the target above the ground (m, >= 0); a sensor's own ``target_height_m``
        overrides it.
    refraction_coeff
        Atmospheric refraction coefficient ``k`` (-1 to 1); curvature is corrected with
        ``1 - k``.
    """

    def __init__(
        self,
        dem: str | Path,
        *,
        target_height_m: float = settings.TARGET_HEIGHT_M,
        refraction_coeff: float = settings.REFRACTION_COEFF,
    ) -> None:
        self.dem = dem
        self.target_height_m = target_height_m
        self.refraction_coeff = refraction_coeff

    def cover(self, scene: Scene) -> Coverage:
        """Count the active sensors' viewsheds on the DEM's grid; read border and corridor there.

        Raises
        ------
        geo.core.errors.ValidationError
            A target height or refraction coefficient out of range, an unreadable DEM or a
            grid too large (see :func:`geo.terrain.grids.terrain_coverage`).
        """
        check_terrain_params(self.target_height_m, self.refraction_coeff)
        grid = self.count(scene)
        return Coverage(
            border=terrain_border(scene, grid),
            corridor=terrain_corridor(scene, grid),
            footprints=_terrain_footprint_layer(grid, scene.sensors[scene.active]),
            # With a DEM only: the same report without one is unchanged.
            parameters={
                "dem": str(self.dem),
                "target_height_m": float(self.target_height_m),
                "refraction_coeff": float(self.refraction_coeff),
            },
            sections={"terrain": _terrain_report(grid, scene.sensors)},
            grid=grid,
        )

    def count(self, scene: Scene) -> CoverageGrid:
        """The count grids of the scene's active sensors, the border's cells probed.

        The border's cells are probed: each sensor's viewshed is read there as it is counted.
        """
        b, acrs = scene.border, scene.acrs
        e = b.edges()
        a_lon, a_lat = acrs.to_lonlat.transform(e["ax"], e["ay"])
        b_lon, b_lat = acrs.to_lonlat.transform(e["bx"], e["by"])
        edges_lonlat = (
            np.asarray(a_lon, dtype=float),
            np.asarray(a_lat, dtype=float),
            np.asarray(b_lon, dtype=float),
            np.asarray(b_lat, dtype=float),
        )
        return terrain_coverage(
            self.dem,
            sensor_terrain(scene.sensors[scene.active], target_height_m=self.target_height_m),
            partners=scene.partners,
            extent_lonlat=list(to_lonlat([scene.corridor], acrs)),
            refraction_coeff=self.refraction_coeff,
            probe_edges_lonlat=edges_lonlat,
        )


def terrain_border(scene: Scene, grid: CoverageGrid) -> BorderCoverage:
    """The border read from the count grids (see :func:`geo.terrain.grids.border_pieces`)."""
    covered, redundant, by_partner, (cov_m, sole_m) = _raster_border(
        scene.border, grid, scene.partners
    )
    n = len(scene.sensors)
    sensor_covered_m, sensor_sole_m = np.zeros(n), np.zeros(n)
    sensor_covered_m[scene.active], sensor_sole_m[scene.active] = cov_m, sole_m
    return BorderCoverage(
        covered=covered,
        redundant=redundant,
        by_partner=by_partner,
        sensor_covered_m=sensor_covered_m,
        sensor_sole_m=sensor_sole_m,
    )


def terrain_corridor(scene: Scene, grid: CoverageGrid) -> CorridorCoverage:
    """The corridor read from the counts: cells whose centre is in it, by their ground area."""
    ras = _raster_corridor(grid, scene.corridor, scene.acrs)
    area_m2 = float(geodesic_area_m2([scene.corridor], scene.acrs)[0])
    covered_m2 = min(ras["covered_m2"], area_m2)
    return CorridorCoverage(
        area_m2=area_m2,
        covered_m2=covered_m2,
        gap_m2=area_m2 - covered_m2,
        overlap_m2=min(ras["overlap_m2"], covered_m2),
        gap=ras["gap"],
        overlap=ras["overlap"],
        covered_at=grid.seen_at,
    )


def _raster_border(
    b: Border, grid: CoverageGrid, partners: list[str]
) -> tuple[
    iv.Intervals,
    iv.Intervals,
    dict[str, iv.Intervals],
    tuple[NDArray[np.float64], NDArray[np.float64]],
]:
    """Border intervals read from the grid, and what each sensor watches.

    Returns the covered, redundant (2+ sensors) and per-partner intervals, and per sensor of
    the grid (:func:`_raster_sensor_m`) the length watched and watched by it alone (m).
    """
    e = b.edges()
    start, end, row, col = border_pieces(
        grid, e["ax"], e["ay"], e["bx"], e["by"], e["c0"], e["c1"], b.acrs.to_lonlat
    )
    on = row >= 0
    count = np.zeros(start.size, dtype=np.int64)
    count[on] = grid.count[row[on], col[on]]
    per_sensor = _raster_sensor_m(grid, end - start, row, col, count)
    covered = iv.union((start[count >= 1], end[count >= 1]))
    redundant = iv.union((start[count >= 2], end[count >= 2]))
    by_partner: dict[str, iv.Intervals] = {}
    for k, p in enumerate(grid.partners):
        seen = np.zeros(start.size, dtype=bool)
        seen[on] = grid.partner_count[k, row[on], col[on]] > 0
        by_partner[p] = iv.union((start[seen], end[seen]))
    for p in partners:
        by_partner.setdefault(p, (np.empty(0), np.empty(0)))
    return covered, redundant, by_partner, per_sensor


def _raster_sensor_m(
    grid: CoverageGrid,
    piece_m: NDArray[np.float64],
    row: NDArray[np.int64],
    col: NDArray[np.int64],
    count: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per sensor of the grid, the border length (m) it sees, and sees alone.

    Border pieces (disjoint, each in one cell: ``row = -1`` off the grid, ``count`` the
    sensors seeing its cell) are summed per probed cell, then per sensor through
    :attr:`~geo.terrain.grids.CoverageGrid.probe_seen`.
    """
    n_sensors = grid.sensors_seen + len(grid.sensors_off_terrain)
    cols_n = grid.shape[1]
    probe_key = grid.probe_row * cols_n + grid.probe_col
    on = row >= 0
    key = row[on] * cols_n + col[on]
    at = np.searchsorted(probe_key, key)
    # Every piece's cell was probed, and as many sensors see it there as the count says.
    probed = bool(np.all(at < probe_key.size)) and np.array_equal(
        probe_key[np.minimum(at, probe_key.size - 1)], key
    )
    seen_by = np.bincount(grid.probe_seen[:, 0], minlength=probe_key.size)
    if not (probed and np.array_equal(seen_by[at], count[on])):
        raise RuntimeError("terrain coverage: the probed border cells do not match the count grid")
    cell_m = np.bincount(at, weights=piece_m[on], minlength=probe_key.size)
    alone = np.bincount(
        at, weights=np.where(count[on] == 1, piece_m[on], 0.0), minlength=probe_key.size
    )
    cell, sensor = grid.probe_seen[:, 0], grid.probe_seen[:, 1]
    # With weights, bincount sums floats (numpy's stubs say integers): no copy is made.
    return (
        np.bincount(sensor, weights=cell_m[cell], minlength=n_sensors).astype(
            np.float64, copy=False
        ),
        np.bincount(sensor, weights=alone[cell], minlength=n_sensors).astype(
            np.float64, copy=False
        ),
    )


def _raster_corridor(
    grid: CoverageGrid, corridor: shapely.Geometry, acrs: AnalysisCRS
) -> dict[str, Any]:
    """Corridor coverage from the count grids.

    Areas: the ground area of the cells whose centre is in the corridor and that at least
    one sensor sees (``covered_m2``), or two or more partners see (``overlap_m2``). For the
    map: the blind and the overlap cells of the corridor, polygonized once each (reduced to
    at most :data:`_DISPLAY_GRID_MAX` cells a side, specks under :data:`_DISPLAY_MIN_CELLS`
    cells dropped), in the analysis CRS.
    """
    to_grid = DemTransformer(acrs.crs, grid.pcrs, grid.transform, grid.shape)
    corridor_g = shapely.transform(
        shapely.segmentize(corridor, 500.0),
        lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1])),
    )
    inside = corridor_mask(grid, corridor_g)
    cell_m2 = row_cell_areas_m2(grid)
    seen = inside & (grid.count > 0)
    both = inside & (grid.partners_seeing() >= 2)
    to_acrs = grid_transformer(grid, acrs.crs)

    def polys(mask: NDArray[np.bool_]) -> shapely.Geometry:
        parts = mask_polygons(
            grid, mask, to_acrs, max_cells=_DISPLAY_GRID_MAX, min_cells=_DISPLAY_MIN_CELLS
        )
        return shapely.MultiPolygon(list(parts))

    return {
        "covered_m2": float(seen.sum(axis=1) @ cell_m2),
        "overlap_m2": float(both.sum(axis=1) @ cell_m2),
        "gap": polys(inside & ~seen),
        "overlap": polys(both),
    }


def _terrain_footprint_layer(
    grid: CoverageGrid, active_sensors: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """What each partner's sensors see over the terrain, one (multi)polygon per partner.

    Polygonized on the grid reduced to at most :data:`_DISPLAY_GRID_MAX` cells a side,
    specks dropped: for display, not for measuring.
    """
    to_ll = grid_transformer(grid, WGS84)
    rows, geoms = [], []
    for k, partner in enumerate(grid.partners):
        seen = grid.partner_count[k] > 0
        if not seen.any():
            continue
        geom = shapely.MultiPolygon(
            list(
                mask_polygons(
                    grid, seen, to_ll, max_cells=_DISPLAY_GRID_MAX, min_cells=_DISPLAY_MIN_CELLS
                )
            )
        )
        mine = active_sensors["partner"].astype(str) == partner
        rows.append(
            {
                "sensor_id": f"{partner} (terrain)",
                "partner": partner,
                "kind": "viewshed",
                "status": "active",
                "sensors": int(mine.sum()),
                "range_m": float(active_sensors.loc[mine, "range_m"].max()) if mine.any() else 0.0,
                "max_count": int(grid.partner_count[k].max()),
            }
        )
        geoms.append(geom)
    return gpd.GeoDataFrame(
        pd.DataFrame(
            rows,
            columns=["sensor_id", "partner", "kind", "status", "sensors", "range_m", "max_count"],
        ),
        geometry=geoms,
        crs=WGS84,
    )


def _terrain_report(grid: CoverageGrid, sensors: gpd.GeoDataFrame) -> dict[str, Any]:
    rows, cols = grid.shape
    return {
        "dem_crs": grid.crs.to_string(),
        "grid": {
            "width": int(cols),
            "height": int(rows),
            "col_off": int(grid.window.col_off),
            "row_off": int(grid.window.row_off),
        },
        "cell_size_m": [round(grid.cell_size_m[0], 3), round(grid.cell_size_m[1], 3)],
        "distances": grid.distances,
        "viewsheds": grid.sensors_seen,
        "sensors_off_terrain": list(grid.sensors_off_terrain),
        "max_count": int(grid.count.max()) if grid.count.size else 0,
    }


__all__ = ["TerrainEngine", "terrain_border", "terrain_corridor"]
