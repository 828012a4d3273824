"""Hexagonal binning of points in the analysis CRS, for maps of very many detections.

Past a few tens of thousands of points a browser map becomes slow and the payload large, so
the map shows hexagons with counts instead. Binning happens on the server, in metres (the
analysis CRS), so every hexagon has the same ground size wherever it is.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.core.cells import HALF as _HALF
from geo.core.cells import axial as _axial
from geo.core.projection import AnalysisCRS, to_lonlat

_SQRT3 = np.sqrt(3.0)


def hexbin(
    points: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    *,
    size_m: float = settings.HEXAGON_SIZE_M,
    flag: str | None = None,
) -> gpd.GeoDataFrame:
    """Count points in hexagons of circumradius ``size_m`` (ground metres).

    Parameters
    ----------
    points
        Points in EPSG:4326.
    acrs
        The analysis CRS the hexagons are laid out in.
    size_m
        Hexagon circumradius (m, > 0); default :data:`geo.core.settings.HEXAGON_SIZE_M`.
    flag
        Optional boolean column; its count per hexagon is returned as ``flagged``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per non-empty hexagon: ``count`` (and ``flagged``), geometry in EPSG:4326.

    Examples
    --------
    >>> from geo.core.projection import choose_analysis_crs
    >>> xy = gpd.points_from_xy([21.0, 21.0, 21.5], [54.0, 54.0, 54.0])
    >>> pts = gpd.GeoDataFrame(geometry=xy, crs=4326)
    >>> sorted(hexbin(pts, choose_analysis_crs([21, 21.5], [54, 54]))["count"].tolist())
    [1, 2]
    """
    if not size_m > 0:
        raise ValueError(f"size_m must be > 0, got {size_m!r}")
    x, y = acrs.to_proj.transform(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    x, y = np.asarray(x), np.asarray(y)
    ok = np.isfinite(x) & np.isfinite(y)
    q, r = _axial(x[ok], y[ok], size_m)
    if q.size and max(np.abs(q).max(), np.abs(r).max()) >= _HALF:  # tiny cells, huge extent
        cells, inverse, counts = np.unique(
            np.stack([q, r], axis=1), axis=0, return_inverse=True, return_counts=True
        )
    else:
        # One int64 key per cell, (q, r) in its high and low 32 bits: sorted like the pairs,
        # and many times faster to make unique than the rows of a 2-column array.
        key = ((q + _HALF) << 32) | (r + _HALF)
        cell_keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        cells = np.stack([(cell_keys >> 32) - _HALF, (cell_keys & 0xFFFFFFFF) - _HALF], axis=1)
    data: dict[str, NDArray] = {"count": counts}
    if flag is not None:
        data["flagged"] = np.bincount(
            inverse.ravel(), weights=points[flag].to_numpy()[ok].astype(float), minlength=len(cells)
        ).astype(np.int64)
    cq, cr = cells[:, 0].astype(float), cells[:, 1].astype(float)
    centre_x = size_m * _SQRT3 * (cq + cr / 2)
    centre_y = size_m * 1.5 * cr
    angles = np.radians(30 + 60 * np.arange(6))
    ring_x = centre_x[:, None] + size_m * np.cos(angles)[None, :]
    ring_y = centre_y[:, None] + size_m * np.sin(angles)[None, :]
    coords = np.stack([ring_x, ring_y], axis=2)
    polys = shapely.polygons(coords)
    return gpd.GeoDataFrame(data, geometry=list(to_lonlat(polys, acrs)), crs="EPSG:4326")
