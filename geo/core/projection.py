"""Choosing the metric CRS every analysis runs in, and measuring on the ellipsoid.

Limes never measures in degrees. An analysis projects its inputs to a conformal CRS fitted to
the border (so small circles stay circles and angles stay true), builds footprints there with
the local scale factor and meridian convergence applied, and reports every length and area
geodesically:

- lengths along the border come from a chainage table measured with :class:`pyproj.Geod`;
- areas come from an equal-area projection centred on the data (exact up to densification).

For a border that fits in a small area the CRS is the UTM zone (familiar EPSG code); otherwise
it is an oblique Mercator whose central line follows the border's main axis, with the scale on
the central line set so the error is balanced across the border's width (the same idea as
UTM's 0.9996). A plain UTM zone is not enough for a long east-west border: 1,500 km from its
central meridian the scale error passes 2.7 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Final

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

#: The ellipsoid every reported length and area is measured on.
GEOD: Final[pyproj.Geod] = pyproj.Geod(ellps="WGS84")
WGS84: Final[pyproj.CRS] = pyproj.CRS.from_epsg(4326)

_EARTH_RADIUS_M: Final[float] = 6_371_008.8
#: Largest east-west / north-south extent (m) for which the UTM zone is used.
_UTM_MAX_EXTENT_M: Final[float] = 300_000.0


@dataclass(frozen=True)
class AnalysisCRS:
    """The projected CRS of one analysis and the transformers to and from it.

    Attributes
    ----------
    crs
        The projected CRS (units: metres).
    name
        Human-readable description, e.g. ``"UTM zone 34N (EPSG:32634)"``.
    definition
        What GDAL or pyproj accept: ``"EPSG:32634"`` or a PROJ string.
    """

    crs: pyproj.CRS
    name: str
    definition: str

    @cached_property
    def to_proj(self) -> pyproj.Transformer:
        """Transformer from EPSG:4326 (lon, lat) to the analysis CRS."""
        return pyproj.Transformer.from_crs(WGS84, self.crs, always_xy=True)

    @cached_property
    def to_lonlat(self) -> pyproj.Transformer:
        """Transformer from the analysis CRS to EPSG:4326 (lon, lat)."""
        return pyproj.Transformer.from_crs(self.crs, WGS84, always_xy=True)

    @cached_property
    def lon_centre_deg(self) -> float:
        """Longitude (degrees) the CRS is centred on: UTM's central meridian, omerc's centre.

        Lon/lat tests of an analysis wrap longitudes into the 360° around it
        (:func:`geo.core.antimeridian.wrap_lon`), so nothing near the analysis crosses the
        antimeridian there. 0 for a CRS without such a parameter.
        """
        op = self.crs.coordinate_operation
        for p in op.params if op is not None else []:
            if p.name in ("Longitude of natural origin", "Longitude of projection centre"):
                return float(p.value)
        return 0.0

    def __reduce__(self) -> tuple[type[AnalysisCRS], tuple[pyproj.CRS, str, str]]:
        # Transformers are rebuilt on demand rather than pickled (st.cache_data pickles).
        return (AnalysisCRS, (self.crs, self.name, self.definition))

    def __str__(self) -> str:
        """Return the CRS as a string a user can paste into GDAL or pyproj."""
        return self.definition


def _unit_vectors(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    lam, phi = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def choose_analysis_crs(lon: ArrayLike, lat: ArrayLike) -> AnalysisCRS:
    """Choose a conformal metric CRS fitted to points (the border's vertices).

    Parameters
    ----------
    lon, lat
        Coordinates in degrees (EPSG:4326) of the geometry that drives the analysis.

    Returns
    -------
    AnalysisCRS
        A UTM zone when the points span less than 300 km and sit within 200 km of the zone's
        central meridian; otherwise an oblique Mercator centred on the points, its central
        line along their main axis and its scale balanced across their width.

    Examples
    --------
    >>> str(choose_analysis_crs([21.0, 21.5], [54.0, 54.2]))
    'EPSG:32634'
    """
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    if lon.size == 0:
        raise ValueError("cannot choose an analysis CRS for no points")
    mean = _unit_vectors(lon, lat).mean(axis=0)
    lat0 = float(np.degrees(np.arctan2(mean[2], np.hypot(mean[0], mean[1]))))
    lon0 = float(np.degrees(np.arctan2(mean[1], mean[0])))
    if np.linalg.norm(mean) < 1e-9:
        lat0, lon0 = float(lat[0]), float(lon[0])

    aeqd = pyproj.Transformer.from_crs(
        WGS84,
        pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m"),
        always_xy=True,
    )
    x, y = aeqd.transform(lon, lat)
    xy = np.column_stack([x, y])
    xy = xy[np.isfinite(xy).all(axis=1)]
    extent = np.ptp(xy, axis=0) if len(xy) else np.zeros(2)

    if extent.max() <= _UTM_MAX_EXTENT_M and abs(lat0) < 80:
        zone = int((lon0 + 180) // 6) % 60 + 1
        central_meridian = -183 + 6 * zone
        off_deg = abs((lon0 - central_meridian + 180.0) % 360.0 - 180.0)  # the short way round
        dx_m = np.radians(off_deg) * _EARTH_RADIUS_M * np.cos(np.radians(lat0))
        if dx_m + extent[0] / 2 <= 200_000:
            epsg = (32600 if lat0 >= 0 else 32700) + zone
            hemisphere = "N" if lat0 >= 0 else "S"
            return AnalysisCRS(
                pyproj.CRS.from_epsg(epsg),
                f"UTM zone {zone}{hemisphere} (EPSG:{epsg})",
                f"EPSG:{epsg}",
            )

    # Main axis of the points: the eigenvector of the largest eigenvalue of their covariance.
    if len(xy) >= 2 and extent.max() > 0:
        centred = xy - xy.mean(axis=0)
        eigval, eigvec = np.linalg.eigh(centred.T @ centred)
        east, north = eigvec[:, int(np.argmax(eigval))]
        alpha = float(np.degrees(np.arctan2(east, north))) % 180.0
        across = np.abs(centred @ np.array([north, -east]))
        half_width_m = float(across.max())
    else:
        alpha, half_width_m = 90.0, 0.0
    # Scale on an oblique Mercator grows as cosh(d / R) away from the central line; choose
    # k0 so the scale error at the edge equals the error on the central line, in opposite sign.
    k0 = 2.0 / (1.0 + np.cosh(half_width_m / _EARTH_RADIUS_M))
    proj4 = (
        f"+proj=omerc +lat_0={lat0:.6f} +lonc={lon0:.6f} +alpha={alpha:.6f} "
        f"+k_0={k0:.10f} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    )
    name = (
        f"Oblique Mercator fitted to the data (centre {lat0:.3f}°, {lon0:.3f}°, "
        f"central line azimuth {alpha:.1f}°, k0 {k0:.6f})"
    )
    return AnalysisCRS(pyproj.CRS.from_proj4(proj4), name, proj4)


def local_scale_and_convergence(
    acrs: AnalysisCRS, lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Scale factor and grid bearing of true north at points, measured on the ellipsoid.

    Parameters
    ----------
    acrs
        The analysis CRS (conformal, so the scale is the same in every direction).
    lon, lat
        Points in degrees.

    Returns
    -------
    scale : ndarray
        Projected metres per ground metre at each point.
    north_deg : ndarray
        Grid bearing (degrees clockwise from grid north) of true north at each point: a
        direction at true azimuth ``a`` has grid bearing ``a + north_deg``.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    step_m = 10.0
    lon2, lat2, _ = GEOD.fwd(lon, lat, np.zeros_like(lon), np.full_like(lon, step_m))
    tr = acrs.to_proj
    x1, y1 = tr.transform(lon, lat)
    x2, y2 = tr.transform(lon2, lat2)
    dx, dy = np.asarray(x2) - x1, np.asarray(y2) - y1
    return np.hypot(dx, dy) / step_m, np.degrees(np.arctan2(dx, dy))


def geodesic_area_m2(geoms: ArrayLike, acrs: AnalysisCRS) -> NDArray[np.float64]:
    """Ellipsoidal area (m²) of polygons given in the analysis CRS.

    The polygons are densified, then projected to a Lambert azimuthal equal-area CRS centred
    on them (to the nearest degree), where planar area equals area on the ellipsoid.
    """
    from geo.core import settings

    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(geoms.shape, dtype=float)
    nonempty = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    if not nonempty.any():
        return out
    g = shapely.segmentize(geoms[nonempty], settings.AREA_DENSIFY_M)
    xmin, ymin, xmax, ymax = shapely.total_bounds(g)
    clon, clat = acrs.to_lonlat.transform((xmin + xmax) / 2, (ymin + ymax) / 2)
    # The centre rounded to the degree: every call of one analysis gets the same transformer.
    to_laea = _to_equal_area(acrs.crs.srs, float(np.round(clon)), float(np.round(clat)))
    g = shapely.transform(g, lambda c: np.column_stack(to_laea.transform(c[:, 0], c[:, 1])))
    out[nonempty] = shapely.area(g)
    return out


@lru_cache(maxsize=32)
def _to_equal_area(srs: str, lon_0: float, lat_0: float) -> pyproj.Transformer:
    """Transformer from a CRS to a Lambert azimuthal equal-area CRS centred at (lon, lat).

    Cached: building one takes milliseconds, and an analysis measures areas many times
    (pyproj transformers are thread-safe). The CRS is named by what it was made from
    (``CRS.srs``): hashing a ``pyproj.CRS`` writes its WKT, which takes milliseconds too.
    """
    laea = pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat_0} +lon_0={lon_0} +ellps=WGS84 +units=m +no_defs"
    )
    return pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(srs), laea, always_xy=True)


def to_lonlat(geoms: ArrayLike, acrs: AnalysisCRS) -> NDArray[np.object_]:
    """Transform shapely geometries from the analysis CRS to EPSG:4326 (lon, lat)."""
    tr = acrs.to_lonlat
    return shapely.transform(
        np.asarray(geoms, dtype=object),
        lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])),
    )


def to_projected(geoms: ArrayLike, acrs: AnalysisCRS) -> NDArray[np.object_]:
    """Transform shapely geometries from EPSG:4326 (lon, lat) to the analysis CRS."""
    tr = acrs.to_proj
    return shapely.transform(
        np.asarray(geoms, dtype=object),
        lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])),
    )
