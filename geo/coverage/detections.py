"""Detections against the coverage: in coverage, in a gap, or outside the corridor; and sectors.

:func:`classify_points` decides, for any number of points, whether each lies in the corridor,
whether it is watched, and which sectors hold it, in lon/lat: the corridor and the sectors
through a point index (:mod:`geo.coverage.pointindex`), coverage through the engine's
``covered_at`` (the flat engine's: the footprints that reach each point,
:mod:`geo.coverage.footprint_index`), tested only for points in the corridor.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from geo.core.antimeridian import wrap_geometries, wrap_lon
from geo.core.projection import AnalysisCRS, to_lonlat
from geo.coverage import pointindex
from geo.coverage.engine import CorridorCoverage, CoveredAt
from geo.coverage.scene import Scene


def classify_detections(
    scene: Scene, corridor: CorridorCoverage
) -> tuple[gpd.GeoDataFrame | None, NDArray[np.bool_] | None]:
    """Every detection of the scene classified (``coverage_status``) and given its ``sector_ids``.

    Returns
    -------
    detections : GeoDataFrame or None
        The scene's detections with the columns ``coverage_status`` (see
        :func:`classify_points`) and ``sector_ids`` (comma-separated), or ``None`` without
        detections.
    in_sector : ndarray of bool, shape (n_detections, n_sectors), or None
        Which sector holds which detection.
    """
    if scene.detections is None:
        return None, None
    det = scene.detections
    status, in_sector = classify_points(
        det,
        scene.acrs,
        corridor=scene.corridor,
        coverage=corridor.coverage,
        sectors=scene.sectors.polygons,
        covered_at=corridor.covered_at,
    )
    layer = det.assign(coverage_status=status)
    layer["sector_ids"] = _joined_ids(in_sector, scene.sectors.ids)
    return layer, in_sector


#: The status categories, by code (0, 1, 2).
STATUS = pd.Index(["coverage", "gap", "outside"])


class PointTest:
    """The corridor, coverage and sector outlines in lon/lat, ready for many pages of points.

    Outlines are densified to 500 m first, so their straight edges in degrees follow the
    analysis-CRS edges to well under a metre, and points need no reprojection. Outlines and
    points are tested in longitudes wrapped round the analysis CRS's centre
    (:func:`geo.core.antimeridian.wrap_lon`): an outline across the antimeridian stays whole
    (past 180°) instead of jumping to -180° and reading as a band round the world. Coverage is
    the ``coverage`` polygon (analysis CRS) or, when given, ``covered_at(lon, lat)`` (e.g.
    :meth:`geo.terrain.grids.CoverageGrid.seen_at`: the cell under the point is seen;
    :func:`geo.coverage.flat.footprint_covered_at`: a footprint holds the point), asked
    only about points in the corridor.
    """

    def __init__(
        self,
        acrs: AnalysisCRS,
        *,
        corridor: shapely.Geometry,
        coverage: shapely.Geometry | None,
        sectors: NDArray[np.object_],
        covered_at: CoveredAt | None = None,
    ) -> None:
        head = [corridor] if covered_at is not None else [corridor, coverage]
        outlines = np.asarray([*head, *sectors], dtype=object)
        self.lon_centre_deg = acrs.lon_centre_deg
        polys = wrap_geometries(
            to_lonlat(shapely.segmentize(outlines, 500.0), acrs), self.lon_centre_deg
        )
        self.outlines = pointindex.Membership(list(polys))
        self.covered_at = covered_at

    def ready(self) -> PointTest:
        """Build every index now (before sending the test to other processes); returns self."""
        self.outlines.build_index()
        if self.covered_at is not None:
            self.covered_at(np.empty(0), np.empty(0))
        return self

    def classify(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
        """Status codes (0 coverage, 1 gap, 2 outside, as :data:`STATUS`) and sectors per point."""
        member = self.outlines.contains(wrap_lon(lon, self.lon_centre_deg), lat)
        if self.covered_at is not None:
            in_corr, in_sector = member[:, 0], member[:, 1:]
            in_cov = np.zeros(lon.size, dtype=bool)
            in_cov[in_corr] = self.covered_at(lon[in_corr], lat[in_corr])
        else:
            in_corr, in_cov, in_sector = member[:, 0], member[:, 1], member[:, 2:]
        return np.where(in_corr, np.where(in_cov, 0, 1), 2).astype(np.int8), in_sector


def classify_points(
    points: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    *,
    corridor: shapely.Geometry,
    coverage: shapely.Geometry | None,
    sectors: NDArray[np.object_],
    covered_at: CoveredAt | None = None,
) -> tuple[pd.Categorical[str], NDArray[np.bool_]]:
    """Classify points against the corridor, the coverage and the sectors (:class:`PointTest`).

    Returns
    -------
    status : pandas.Categorical
        ``"coverage"`` (in the corridor and covered), ``"gap"`` (in the corridor, not
        covered) or ``"outside"`` (outside the corridor).
    in_sector : ndarray of bool, shape (n_points, n_sectors)
    """
    xy = shapely.get_coordinates(points.geometry.to_numpy())
    if len(xy) != len(points):
        raise ValueError("classify_points needs one non-empty Point per row")
    test = PointTest(
        acrs, corridor=corridor, coverage=coverage, sectors=sectors, covered_at=covered_at
    )
    codes, in_sector = test.classify(xy[:, 0], xy[:, 1])
    return pd.Categorical.from_codes(codes, categories=STATUS), in_sector


def _joined_ids(
    member: NDArray[np.bool_], ids: NDArray[np.object_]
) -> pd.api.extensions.ExtensionArray:
    """Per row, the ids of the sectors holding it, comma-separated in sector order ("" none).

    A string array (pandas' ``str`` dtype). Rows share few distinct memberships: each
    distinct one is joined once (:func:`_membership_codes`).

    Examples
    --------
    >>> m = np.array([[True, False, True], [False, False, False], [True, False, True]])
    >>> _joined_ids(m, np.array(["a", "b", "c"], dtype=object)).tolist()
    ['a,c', '', 'a,c']
    """
    codes, first = _membership_codes(member)
    joined = [",".join(str(sid) for sid in ids[member[i]]) for i in first]
    decoded = pa.DictionaryArray.from_arrays(
        pa.array(codes, type=pa.int32()), pa.array(joined, type=pa.string())
    ).dictionary_decode()
    return pd.array(decoded, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _membership_codes(member: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A code per row, equal for rows of equal membership, and a row of each code.

    The rows' bits are packed into 64-bit words and hashed (``pandas.factorize``), word by
    word: no sort.

    Examples
    --------
    >>> m = np.array([[True, False], [False, False], [True, False]])
    >>> [a.tolist() for a in _membership_codes(m)]
    [[0, 1, 0], [0, 1]]
    """
    n = member.shape[0]
    if member.shape[1] == 0 or n == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(min(n, 1), dtype=np.int64)
    packed = np.packbits(member, axis=1, bitorder="little")
    words = np.pad(packed, ((0, 0), (0, -packed.shape[1] % 8))).view(np.uint64)
    codes, _ = pd.factorize(words[:, 0])
    for w in range(1, words.shape[1]):
        more, seen = pd.factorize(words[:, w])
        codes, _ = pd.factorize(codes.astype(np.int64) * len(seen) + more)
    codes = codes.astype(np.int64, copy=False)
    first = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return codes, first


__all__ = ["STATUS", "PointTest", "classify_detections", "classify_points"]
