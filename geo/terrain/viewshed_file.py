"""The viewshed of one observer on a DEM file, written as a GeoTIFF (``python -m geo viewshed``).

A thin adapter: :func:`geo.terrain.dem.read_window` reads the part of the DEM within range,
:func:`geo.terrain.viewshed.viewshed` (the kernel, on plain arrays) decides every cell, and
:func:`geo.terrain.dem.write_uint8_geotiff` writes the result on the DEM's own grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from geo.core import settings
from geo.core.errors import ValidationError
from geo.terrain import dem as dem_io
from geo.terrain.grid_metric import check_number
from geo.terrain.viewshed import HIDDEN, OUTSIDE, VISIBLE, viewshed


def viewshed_geotiff(
    dem_path: str | Path,
    lon: float,
    lat: float,
    *,
    observer_height_m: float,
    range_m: float,
    out_path: str | Path,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> dict[str, Any]:
    """Compute the viewshed of an observer on a DEM file and write it as a GeoTIFF.

    Only the window of the DEM within range of the observer is read (see
    :func:`geo.terrain.dem.read_window`); the output is that window, on the DEM's own grid and
    CRS: uint8, 1 visible, 0 hidden, 255 out of range or without data (declared nodata).

    Parameters
    ----------
    dem_path
        Any raster GDAL reads (``/vsizip/...`` paths included), in any CRS with an ellipsoid.
    lon, lat
        The observer (degrees, WGS84).
    observer_height_m
        Height of the observer's eye above the ground (m, >= 0).
    range_m
        Range (m, > 0), a ground distance whatever the DEM's CRS.
    out_path
        The GeoTIFF to write (overwritten).
    target_height_m
        Height above the ground of what must be seen (m, >= 0).
    refraction_coeff
        Atmospheric refraction coefficient ``k`` (-1 to 1; default
        :data:`geo.core.settings.REFRACTION_COEFF`); curvature is corrected with ``1 - k``, so 0
        still corrects for curvature and 1 turns the correction off.

    Returns
    -------
    dict
        A JSON-ready summary: output path, window, observer cell and ground height, CRS,
        how distances were measured, curvature settings and cell counts.

    Raises
    ------
    geo.core.errors.ValidationError
        For an unreadable DEM, an observer outside it or on nodata, an option out of range
        or an output that cannot be written.
    """
    opt = _Options.checked(refraction_coeff, observer_height_m, target_height_m, range_m)
    win = dem_io.read_window(dem_path, lon, lat, radius_m=opt.range_m)
    ground = _observer_ground(win, dem_path, lon, lat)
    vis = viewshed(
        win.heights,
        win.row,
        win.col,
        observer_height_m=opt.observer_height_m,
        max_distance_m=opt.range_m,
        cell_size_m=win.metric,
        target_height_m=opt.target_height_m,
        curvature_coeff=opt.curvature_coeff,
        earth_radius_m=win.earth_radius_m,
    )
    dem_io.write_uint8_geotiff(
        out_path, vis, transform=win.transform, crs=win.crs, tags=opt.tags(lon, lat)
    )
    return _summary(win, vis, opt, dem_path=dem_path, out_path=out_path, ground_m=ground)


class _Options(NamedTuple):
    """The options of :func:`viewshed_geotiff`, checked."""

    refraction_coeff: float
    observer_height_m: float
    target_height_m: float
    range_m: float

    @classmethod
    def checked(
        cls,
        refraction_coeff: float,
        observer_height_m: float,
        target_height_m: float,
        range_m: float,
    ) -> _Options:
        """The options as floats, each refused outside its range."""
        k = check_number("refraction_coeff", refraction_coeff)
        if not -1.0 <= k <= 1.0:
            raise ValidationError(f"refraction_coeff: expected a number from -1 to 1, got {k:g}")
        return cls(
            k,
            check_number("observer_height_m", observer_height_m, minimum=0.0),
            check_number("target_height_m", target_height_m, minimum=0.0),
            check_number("range_m", range_m, minimum=0.0, strict=True),
        )

    @property
    def curvature_coeff(self) -> float:
        """GDAL's ``-cc``: ``1 - k``."""
        return 1.0 - self.refraction_coeff

    def tags(self, lon: float, lat: float) -> dict[str, str]:
        """The metadata written into the GeoTIFF."""
        return {
            "LIMES_VIEWSHED": "1 visible, 0 hidden, 255 out of range or no data",
            "OBSERVER_LON_LAT": f"{lon!r} {lat!r}",
            "OBSERVER_HEIGHT_M": repr(self.observer_height_m),
            "TARGET_HEIGHT_M": repr(self.target_height_m),
            "RANGE_M": repr(self.range_m),
            "REFRACTION_COEFF": repr(self.refraction_coeff),
        }


def _observer_ground(win: dem_io.DemWindow, dem_path: str | Path, lon: float, lat: float) -> float:
    """The ground height (m) under the observer, refused where the DEM has no data."""
    ground = float(win.heights[win.row, win.col])
    if not math.isfinite(ground):
        raise ValidationError(
            f"observer ({lon:g}, {lat:g}): the DEM {str(dem_path)!r} has no height there "
            f"(nodata at row {win.row + win.window.row_off}, column "
            f"{win.col + win.window.col_off}); move the observer onto a cell with data"
        )
    return ground


def _summary(
    win: dem_io.DemWindow,
    vis: NDArray[np.uint8],
    opt: _Options,
    *,
    dem_path: str | Path,
    out_path: str | Path,
    ground_m: float,
) -> dict[str, Any]:
    """The JSON-ready summary :func:`viewshed_geotiff` returns."""
    return {
        "out": str(out_path),
        "dem": str(dem_path),
        "crs": win.crs.to_string(),
        "window": {
            "col_off": int(win.window.col_off),
            "row_off": int(win.window.row_off),
            "width": int(win.window.width),
            "height": int(win.window.height),
        },
        "observer": {
            "row": int(win.row + win.window.row_off),
            "col": int(win.col + win.window.col_off),
            "ground_m": ground_m,
            "eye_m": ground_m + opt.observer_height_m,
        },
        "distances": win.metric.description,
        "earth_radius_m": win.earth_radius_m,
        "curvature_coeff": opt.curvature_coeff,
        "cells": {
            "visible": int(np.count_nonzero(vis == VISIBLE)),
            "hidden": int(np.count_nonzero(vis == HIDDEN)),
            "outside": int(np.count_nonzero(vis == OUTSIDE)),
        },
    }


__all__ = ["viewshed_geotiff"]
