"""Static sensors over terrain: the border and the points each one sees, read from its viewshed.

With a DEM, each active sensor's viewshed is computed as for ``analyse --dem``
(:func:`geo.terrain.grids.terrain_coverage` with the arguments of
:meth:`geo.coverage.terrain.TerrainEngine.count`); the border is cut at every DEM cell edge
it crosses and a sensor watches a piece when its viewshed sees the piece's cell (the probed
cells, :attr:`geo.terrain.grids.CoverageGrid.probe_seen`). The pieces then go through the
timeline as the flat engine's do, gated by the sensors' schedules.

Points (detections) are probed in the same pass: each point's cell is probed as a border
edge of length zero would be, so which sensor sees which point costs a lookup, not a second
viewshed; a point is seen by the sensors whose viewshed sees its cell, as ``analyse --dem``
classifies it (:meth:`geo.terrain.grids.CoverageGrid.seen_at`).

Tracks over terrain are sampled at the time step instead (:mod:`geo.timeline.sightlines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geo.core import settings
from geo.core.projection import to_lonlat
from geo.coverage import intervals as iv
from geo.coverage.scene import Scene
from geo.terrain.grids import CoverageGrid, border_pieces, sensor_terrain, terrain_coverage

__all__ = ["TerrainSight", "terrain_sight"]

_NONE_INT = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class TerrainSight:
    """What each active static sensor sees over the DEM.

    ``owner``, ``chain``: the border pieces (global chainage, m) and the sensor (index into
    ``scene.sensors``) that sees each, like :func:`geo.coverage.flat.border_intervals`;
    ``point``, ``sensor``: pairs (index into the points probed, index into
    ``scene.sensors``), one per sensor that sees a point's cell.
    """

    owner: NDArray[np.int64]
    chain: iv.Intervals
    point: NDArray[np.int64]
    sensor: NDArray[np.int64]


def terrain_sight(
    scene: Scene,
    dem: str | Path,
    *,
    points_lonlat: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> TerrainSight:
    """Per active sensor, the border pieces and the points (lon/lat) its viewshed sees.

    Returns
    -------
    TerrainSight
    """
    active = np.flatnonzero(scene.active)
    none = TerrainSight(_NONE_INT, (np.empty(0), np.empty(0)), _NONE_INT, _NONE_INT)
    if active.size == 0:
        return none
    p_lon, p_lat = (np.empty(0), np.empty(0)) if points_lonlat is None else points_lonlat
    p_lon, p_lat = np.asarray(p_lon, dtype=float), np.asarray(p_lat, dtype=float)
    b = scene.border
    e = b.edges()
    a_lon, a_lat = b.acrs.to_lonlat.transform(e["ax"], e["ay"])
    b_lon, b_lat = b.acrs.to_lonlat.transform(e["bx"], e["by"])
    # Every border edge, then each point as an edge of length zero: its own cell is probed.
    probes = tuple(
        np.concatenate([np.asarray(v, dtype=float), p])
        for v, p in ((a_lon, p_lon), (a_lat, p_lat), (b_lon, p_lon), (b_lat, p_lat))
    )
    grid = terrain_coverage(
        dem,
        sensor_terrain(scene.sensors[scene.active], target_height_m=target_height_m),
        partners=scene.partners,
        extent_lonlat=list(to_lonlat([scene.corridor], scene.acrs)),
        refraction_coeff=refraction_coeff,
        probe_edges_lonlat=(probes[0], probes[1], probes[2], probes[3]),
    )
    start, end, row, col = border_pieces(
        grid, e["ax"], e["ay"], e["bx"], e["by"], e["c0"], e["c1"], b.acrs.to_lonlat
    )
    on = row >= 0
    piece, sensor = _seen_by(grid, row[on], col[on])
    start, end = start[on][piece], end[on][piece]
    p_row, p_col, inside = grid.cells_of_lonlat(p_lon, p_lat)
    point, p_sensor = _seen_by(grid, p_row[inside], p_col[inside])
    return TerrainSight(
        owner=active[sensor].astype(np.int64),
        chain=(start, end),
        point=np.flatnonzero(inside)[point].astype(np.int64),
        sensor=active[p_sensor].astype(np.int64),
    )


def _seen_by(
    grid: CoverageGrid, row: NDArray[np.int64], col: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs (index into ``row``/``col``, sensor of the grid) for every sensor seeing the cell.

    Every cell asked about must have been probed; one that was not is seen by no sensor.
    """
    cols_n = grid.shape[1]
    probe_key = grid.probe_row * cols_n + grid.probe_col
    if probe_key.size == 0 or row.size == 0:
        return _NONE_INT, _NONE_INT
    key = row * cols_n + col
    at = np.clip(np.searchsorted(probe_key, key), 0, probe_key.size - 1)
    probed = probe_key[at] == key
    # Pairs (probed cell, sensor) sorted by cell: each cell asked about takes every sensor.
    pairs = grid.probe_seen[np.argsort(grid.probe_seen[:, 0], kind="stable")]
    first = np.searchsorted(pairs[:, 0], at, side="left")
    last = np.searchsorted(pairs[:, 0], at, side="right")
    n = np.where(probed, last - first, 0)
    which = np.repeat(np.arange(row.size), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return which.astype(np.int64), pairs[first[which] + k, 1].astype(np.int64)
