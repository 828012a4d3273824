"""What each candidate would watch: its border (chainage intervals) and the detections it sees.

Computed by the same engines :func:`geo.coverage.analyse` uses, so a chosen site adds to the
analysis exactly what the planner counted:

- without a DEM, each candidate's footprint (disk, annulus or wedge) is cut from the border
  exactly (:func:`geo.coverage.flat.border_intervals`), and a detection is watched when it
  lies inside the footprint polygon, as the flat engine classifies detections;
- with a DEM, every candidate's viewshed is computed and cut as ``analyse --dem`` computes a
  sensor's (:func:`geo.terrain.grids.terrain_coverage`, the numba kernel, on every core),
  the border's cells probed on the way; the border is cut at the grid's cell edges
  (:func:`geo.terrain.grids.border_pieces`) and a candidate watches the pieces in the cells
  its viewshed sees. A detection is watched when the candidate sees the detection's cell
  (its cell is probed like a border cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.coverage import intervals as iv
from geo.coverage.flat import border_intervals, sensor_footprints
from geo.coverage.footprints import footprint_polygons
from geo.coverage.scene import Scene


@dataclass(frozen=True, eq=False)
class Reach:
    """What a set of candidates watch.

    Attributes
    ----------
    owner, intervals
        Border pieces (global chainage, m) and the candidate each belongs to; each
        candidate's pieces merged (:func:`geo.coverage.intervals.union_by`), sorted by owner.
    point_owner, point
        Pairs (candidate, point index) of the points each candidate watches.
    """

    owner: NDArray[np.int64]
    intervals: iv.Intervals
    point_owner: NDArray[np.int64]
    point: NDArray[np.int64]

    def of(self, i: int) -> iv.Intervals:
        """The border candidate ``i`` watches."""
        lo, hi = np.searchsorted(self.owner, [i, i + 1])
        return self.intervals[0][lo:hi], self.intervals[1][lo:hi]


def candidate_reach(
    scene: Scene,
    candidates: gpd.GeoDataFrame,
    *,
    points: gpd.GeoDataFrame | None = None,
    dem_path: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> Reach:
    """The border and the ``points`` each candidate (a sensors frame) watches.

    Parameters
    ----------
    scene
        The prepared scene (its border and analysis CRS).
    candidates
        A sensors frame (EPSG:4326, the columns of :func:`geo.inputs.read_sensors`).
    points
        Points (EPSG:4326), e.g. the detections in today's gaps.
    dem_path, target_height_m, refraction_coeff
        As :func:`geo.coverage.analyse` takes them.
    """
    candidates = candidates.reset_index(drop=True)
    if dem_path is None:
        return _flat_reach(scene, candidates, points)
    return _terrain_reach(
        scene,
        candidates,
        points,
        dem_path=str(dem_path),
        target_height_m=target_height_m,
        refraction_coeff=refraction_coeff,
    )


def _flat_reach(
    scene: Scene, candidates: gpd.GeoDataFrame, points: gpd.GeoDataFrame | None
) -> Reach:
    fp = sensor_footprints(candidates, scene.acrs)
    owner, ivs = border_intervals(scene.border, fp)
    owner, ivs = iv.union_by(owner, ivs)
    p_owner, p_idx = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if points is not None and len(points) and len(candidates):
        x, y = scene.acrs.to_proj.transform(
            points.geometry.x.to_numpy(dtype=float), points.geometry.y.to_numpy(dtype=float)
        )
        pts = shapely.points(np.asarray(x), np.asarray(y))
        p_owner, p_idx = shapely.STRtree(pts).query(footprint_polygons(fp), predicate="contains")
        order = np.lexsort((p_idx, p_owner))
        p_owner, p_idx = p_owner[order].astype(np.int64), p_idx[order].astype(np.int64)
    return Reach(owner, ivs, p_owner, p_idx)


def _terrain_reach(
    scene: Scene,
    candidates: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | None,
    *,
    dem_path: str,
    target_height_m: float,
    refraction_coeff: float,
) -> Reach:
    # Imported here: the terrain (numba, rasterio) loads only for a plan with a DEM.
    from geo.terrain.grids import border_pieces, sensor_terrain, terrain_coverage

    acrs = scene.acrs
    e = scene.border.edges()
    a_lon, a_lat = (np.asarray(v, dtype=float) for v in acrs.to_lonlat.transform(e["ax"], e["ay"]))
    b_lon, b_lat = (np.asarray(v, dtype=float) for v in acrs.to_lonlat.transform(e["bx"], e["by"]))
    p_lon = np.empty(0) if points is None else points.geometry.x.to_numpy(dtype=float)
    p_lat = np.empty(0) if points is None else points.geometry.y.to_numpy(dtype=float)
    # A point is probed as an edge of no length: the cell under it.
    probes = (
        np.concatenate([a_lon, p_lon]),
        np.concatenate([a_lat, p_lat]),
        np.concatenate([b_lon, p_lon]),
        np.concatenate([b_lat, p_lat]),
    )
    partners = sorted(set(candidates["partner"].astype(str)))
    grid = terrain_coverage(
        dem_path,
        sensor_terrain(candidates, target_height_m=target_height_m),
        partners=partners,
        refraction_coeff=refraction_coeff,
        probe_edges_lonlat=probes,
    )
    cols_n = grid.shape[1]
    probe_key = grid.probe_row * cols_n + grid.probe_col
    start, end, row, col = border_pieces(
        grid, e["ax"], e["ay"], e["bx"], e["by"], e["c0"], e["c1"], acrs.to_lonlat
    )
    on = row >= 0
    piece_cell = _probe_index(probe_key, row[on] * cols_n + col[on])
    piece_owner, piece = _expand(grid.probe_seen, piece_cell, probe_key.size)
    owner, ivs = iv.union_by(piece_owner, (start[on][piece], end[on][piece]))
    p_owner, p_idx = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if p_lon.size:
        prow, pcol, inside = grid.cells_of_lonlat(p_lon, p_lat)
        where = np.flatnonzero(inside)
        cell = _probe_index(probe_key, prow[where] * cols_n + pcol[where])
        p_owner, k = _expand(grid.probe_seen, cell, probe_key.size)
        p_idx = where[k]
        order = np.lexsort((p_idx, p_owner))
        p_owner, p_idx = p_owner[order], p_idx[order]
    return Reach(owner, ivs, p_owner, p_idx)


def _probe_index(probe_key: NDArray[np.int64], key: NDArray[np.int64]) -> NDArray[np.int64]:
    """The probed cell of each key (-1 where the cell was not probed)."""
    at = np.searchsorted(probe_key, key)
    safe = np.minimum(at, max(probe_key.size - 1, 0))
    ok = (at < probe_key.size) & (probe_key[safe] == key) if probe_key.size else at < 0
    return np.where(ok, at, -1).astype(np.int64)


def _expand(
    seen: NDArray[np.int64], item_cell: NDArray[np.int64], n_cells: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(sensor, item) pairs: every item (a piece, a point) in every cell a sensor sees.

    ``seen``: (cell, sensor) pairs; ``item_cell``: the probed cell of each item (-1: none).
    """
    valid = np.flatnonzero(item_cell >= 0)
    order = valid[np.argsort(item_cell[valid], kind="stable")]
    per_cell = np.bincount(item_cell[valid], minlength=n_cells)
    first = np.concatenate([[0], np.cumsum(per_cell)])
    cell, sensor = seen[:, 0], seen[:, 1]
    n = per_cell[cell]
    pair = np.repeat(np.arange(cell.size), n)
    offset = np.arange(pair.size) - np.repeat(np.cumsum(n) - n, n)
    return sensor[pair].astype(np.int64), order[first[cell[pair]] + offset].astype(np.int64)


__all__ = ["Reach", "candidate_reach"]
