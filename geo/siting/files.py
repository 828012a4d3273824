"""Reading the planner's own files: candidate sites (points) and excluded areas (polygons).

Any format Limes reads (see :mod:`geo.inputs.loader`), through the same readers and geometry
checks as the four layers; only the geometry is used. A file whose geometries are not of the
expected family (e.g. lines given as candidates) is refused as a whole, naming the file, the
first rows and why.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np

from geo.core.errors import ValidationError, describe
from geo.inputs.checks import Rejects, build_geometry
from geo.inputs.readers import Family, read_raw


def _read_geometry(
    path: str | os.PathLike[str], *, layer_kind: str, family: Family, what: str
) -> gpd.GeoDataFrame:
    path = Path(path)
    raw = read_raw(path, layer_kind=layer_kind, source=path.name)
    n = len(raw.attrs)
    if n == 0:
        raise ValidationError(
            describe(path.name, f"the file contains no {what}", expected=f"{what}", got="none")
        )
    rej = Rejects(n)
    rej.reject_rows(raw.rejects)
    geometry = build_geometry(raw, family, rej)
    keep = rej.alive
    if not keep.any():
        shown = "; ".join(
            f"{raw.row_label} {int(raw.src_row[i])}: {why}" for i, _, why in rej.found[:3]
        )
        raise ValidationError(
            f"{path.name}: none of the {n} {raw.row_label}s can be used as {what}: {shown}"
        )
    if not keep.all():
        i, _, why = rej.found[0]
        raise ValidationError(
            describe(
                path.name,
                f"{int((~keep).sum())} of the {n} {raw.row_label}s cannot be used as {what}",
                row=int(raw.src_row[i]),
                fix=f"First one: {why}",
            )
        )
    return gpd.GeoDataFrame(geometry=np.asarray(geometry.take(keep)), crs="EPSG:4326")


def read_candidates(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Candidate sites from a file of points (EPSG:4326 out).

    Raises
    ------
    geo.core.errors.ValidationError
        The file cannot be read, or a feature is not a point.
    """
    return _read_geometry(path, layer_kind="sensors", family="point", what="candidate points")


def read_areas(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Areas (e.g. where no sensor may stand) from a file of polygons (EPSG:4326 out).

    Raises
    ------
    geo.core.errors.ValidationError
        The file cannot be read, or a feature is not a polygon.
    """
    return _read_geometry(path, layer_kind="sectors", family="polygon", what="polygons")


__all__ = ["read_areas", "read_candidates"]
