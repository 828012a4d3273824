"""Static sensors over terrain: the border each one sees, read from its viewshed.

With a DEM, each active sensor's viewshed is computed as for ``analyse --dem``
(:class:`geo.coverage.terrain.TerrainEngine`); the border is cut at every DEM cell edge it
crosses and a sensor watches a piece when its viewshed sees the piece's cell (the probed
cells, :attr:`geo.terrain.grids.CoverageGrid.probe_seen`). The pieces then go through the
timeline as the flat engine's do, gated by the sensors' schedules.

Tracks over terrain are sampled at the time step instead (:mod:`geo.timeline.sightlines`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geo.core import settings
from geo.coverage import intervals as iv
from geo.coverage.scene import Scene
from geo.coverage.terrain import TerrainEngine
from geo.terrain.grids import border_pieces

__all__ = ["terrain_sensor_pieces"]


def terrain_sensor_pieces(
    scene: Scene,
    dem: str | Path,
    *,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> tuple[NDArray[np.int64], iv.Intervals]:
    """Per active sensor, the pieces of border (global chainage, m) its viewshed sees.

    Returns
    -------
    (sensor, (start, end))
        For every piece, the sensor (index into ``scene.sensors``) and its chainage; like
        :func:`geo.coverage.flat.border_intervals`.
    """
    active = np.flatnonzero(scene.active)
    if active.size == 0:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    engine = TerrainEngine(dem, target_height_m=target_height_m, refraction_coeff=refraction_coeff)
    grid = engine.count(scene)
    b = scene.border
    e = b.edges()
    start, end, row, col = border_pieces(
        grid, e["ax"], e["ay"], e["bx"], e["by"], e["c0"], e["c1"], b.acrs.to_lonlat
    )
    on = row >= 0
    start, end, row, col = start[on], end[on], row[on], col[on]
    cols_n = grid.shape[1]
    probe_key = grid.probe_row * cols_n + grid.probe_col
    if probe_key.size == 0 or start.size == 0:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    at = np.clip(np.searchsorted(probe_key, row * cols_n + col), 0, probe_key.size - 1)
    # Pairs (probed cell, sensor) sorted by cell: each piece takes every sensor of its cell.
    pairs = grid.probe_seen[np.argsort(grid.probe_seen[:, 0], kind="stable")]
    first = np.searchsorted(pairs[:, 0], at, side="left")
    last = np.searchsorted(pairs[:, 0], at, side="right")
    n = last - first
    piece = np.repeat(np.arange(start.size), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    sensor = active[pairs[first[piece] + k, 1]]
    return sensor.astype(np.int64), (start[piece], end[piece])
