"""A placement grid along the border: square cells a planner clicks to place a new sensor.

A map in the browser reports the object under a click, never the coordinates of empty
ground; the grid's cells are those objects. Cells are squares of ``cell_km`` in the
analysis CRS fitted to the border (conformal, so a few parts per thousand from true ground
size), aligned on multiples of their size, kept where they touch the corridor.

Examples
--------
>>> from geo.core.settings import SAMPLE_DIR
>>> from geo.inputs import read_border
>>> border = read_border(SAMPLE_DIR / "border.geojson")[0]
>>> cells = placement_grid(border, corridor_km=5.0, cell_km=2.0)
>>> list(cells.columns), str(cells.crs), float(cells["cell_km"].iloc[0])
(['cell', 'lon', 'lat', 'cell_km', 'geometry'], 'EPSG:4326', 2.0)
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

from geo.core.projection import choose_analysis_crs, to_lonlat, to_projected

__all__ = ["MAX_CELLS", "placement_grid"]

#: Cells at most: a longer border gets larger cells (doubled until the grid fits).
MAX_CELLS: int = 4000


def placement_grid(
    border: gpd.GeoDataFrame,
    *,
    corridor_km: float,
    cell_km: float = 2.0,
    max_cells: int = MAX_CELLS,
) -> gpd.GeoDataFrame:
    """Square cells touching the border's corridor (``corridor_km`` each side), in EPSG:4326.

    Columns: ``cell`` (0, 1, ... west to east, then south to north), ``lon`` and ``lat``
    (the cell's centre, degrees rounded to 6 decimals, about 0.1 m), ``cell_km`` (the cells'
    size, larger than asked when more than ``max_cells`` would be needed) and the square.
    The input is not changed. Examples: see the module.
    """
    if cell_km <= 0 or not math.isfinite(cell_km):
        raise ValueError(f"cell_km must be a positive number of km, got {cell_km}")
    if border.crs is None or not border.crs.equals("EPSG:4326"):
        raise ValueError(f"border: expected EPSG:4326 (lon/lat), got {border.crs}")
    coords = shapely.get_coordinates(border.geometry.to_numpy())
    acrs = choose_analysis_crs(coords[:, 0], coords[:, 1])
    lines = shapely.union_all(to_projected(border.geometry.to_numpy(), acrs))
    corridor = shapely.buffer(lines, max(corridor_km, 0.0) * 1000.0 + 1.0)
    size = cell_km * 1000.0
    xmin, ymin, xmax, ymax = corridor.bounds
    while math.ceil((xmax - xmin) / size) * math.ceil((ymax - ymin) / size) > 50 * max_cells:
        size *= 2.0  # the bounding box alone is far too many cells
    while True:
        squares = _squares(corridor, size)
        if len(squares) <= max_cells:
            break
        size *= 2.0
    centres = to_lonlat(shapely.centroid(squares), acrs)
    return gpd.GeoDataFrame(
        {
            "cell": np.arange(len(squares)),
            "lon": np.round(shapely.get_x(centres), 6),
            "lat": np.round(shapely.get_y(centres), 6),
            "cell_km": size / 1000.0,
        },
        geometry=list(to_lonlat(squares, acrs)),
        crs="EPSG:4326",
    )


def _squares(corridor: shapely.Geometry, size: float) -> np.ndarray:
    """The squares of side ``size`` (aligned on its multiples) that touch ``corridor``."""
    xmin, ymin, xmax, ymax = corridor.bounds
    xs = np.arange(math.floor(xmin / size), math.ceil(xmax / size)) * size
    ys = np.arange(math.floor(ymin / size), math.ceil(ymax / size)) * size
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size, gy.ravel() + size)
    shapely.prepare(corridor)
    return boxes[shapely.intersects(corridor, boxes)]
