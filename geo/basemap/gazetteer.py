"""Map labels: the major places in a lon/lat box, and a label point for each country in it.

Both read files that ship with Limes and never fetch anything:

- ``geo/basemap/data/places.csv.gz``: an offline gazetteer of about 32,000 GeoNames populated places
  (every place of 10,000 inhabitants or more, and every national capital and first-order
  administrative seat), with a ``rank`` (0 = most important). GeoNames data, CC BY 4.0;
  ``sample_data/make_places.py`` builds it and ``sample_data/README.md`` credits it.
- ``geo/basemap/data/countries.geojson``: the offline basemap (Natural Earth 1:50m admin-0).

Both are read once per process (``functools.lru_cache``); every call returns a new frame, so
a caller may change what it gets without changing the next call's answer.

Bounds are ``(west, south, east, north)`` in degrees (EPSG:4326), as ``total_bounds`` gives
them. A box never crosses the antimeridian: ``west <= east`` is required, and a view that
spans it is asked for as two boxes (one ending at 180, one starting at -180). The basemap's
polygons that cross the antimeridian (Russia's Chukotka, Fiji, Antarctica) are stored cut
there; :func:`country_labels` cuts whatever it reads again with
:func:`geo.core.antimeridian.cut_at_antimeridian` (a no-op on the shipped file), so a basemap
whose longitudes jump from 180 to -180 is never read as bands spanning the globe.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from geo.core.antimeridian import cut_at_antimeridian, polygonal
from geo.core.errors import ValidationError, describe

_DATA: Final[Path] = Path(__file__).resolve().parent / "data"

#: The offline gazetteer (see ``sample_data/make_places.py``).
PLACES_FILE: Final[Path] = _DATA / "places.csv.gz"

#: The offline basemap whose countries are labelled.
COUNTRIES_FILE: Final[Path] = _DATA / "countries.geojson"

#: Columns of :func:`places` (besides ``geometry``).
PLACE_COLUMNS: Final[tuple[str, ...]] = ("name", "country", "population", "rank")

#: Columns of :func:`country_labels` (besides ``geometry``).
COUNTRY_LABEL_COLUMNS: Final[tuple[str, ...]] = ("name", "iso_n3")

#: polylabel stops when it is this close (as a share of the part's size) to the true pole of
#: inaccessibility.
_POLYLABEL_TOLERANCE: Final[float] = 1e-3


def places(
    bounds: tuple[float, float, float, float],
    *,
    limit: int = 30,
    min_population: int = 0,
) -> gpd.GeoDataFrame:
    """The most important places inside a lon/lat box, from the bundled gazetteer.

    Parameters
    ----------
    bounds
        ``(west, south, east, north)`` in degrees, EPSG:4326, with ``west <= east`` (the box
        does not cross the antimeridian). Places on an edge count as inside.
    limit
        Most places returned (>= 0).
    min_population
        Places with fewer inhabitants are left out (>= 0). National capitals and first-order
        administrative seats smaller than 10,000 are in the gazetteer; others are not.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points, most important first (``rank`` ascending, then ``population``
        descending, then ``name``). Columns: ``name`` (GeoNames' name, UTF-8 with diacritics),
        ``country`` (ISO 3166-1 alpha-2), ``population``, ``rank`` (0 = most important: a
        population band, national capitals raised two bands) and ``geometry``. Empty, with
        these columns, where the box holds no place.

    Raises
    ------
    geo.core.errors.ValidationError
        If the bounds are not a lon/lat box with ``west <= east`` and ``south <= north``, or
        ``limit`` or ``min_population`` is negative.

    Examples
    --------
    >>> top = places((23.0, 53.5, 27.0, 56.0), limit=4)
    >>> top[["name", "country", "rank"]].values.tolist()
    [['Vilnius', 'LT', 1], ['Kaunas', 'LT', 4], ['Hrodna', 'BY', 4], ['Šiauliai', 'LT', 5]]
    >>> top.crs.to_epsg()
    4326
    """
    west, south, east, north = _check_bounds(bounds)
    _check_count("limit", limit)
    _check_count("min_population", min_population)
    table = _places_table()
    lon = table["lon"].to_numpy()
    lat = table["lat"].to_numpy()
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    inside &= table["population"].to_numpy() >= min_population
    hit = table.loc[inside].head(limit).reset_index(drop=True)
    return gpd.GeoDataFrame(
        hit[list(PLACE_COLUMNS)].copy(),
        geometry=gpd.points_from_xy(hit["lon"].to_numpy(), hit["lat"].to_numpy()),
        crs="EPSG:4326",
    )


def country_labels(bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """A label point for each basemap country that shows inside a lon/lat box.

    The point is the pole of inaccessibility (``shapely.ops.polylabel``) of the largest piece
    of the country that lies in the box, found with longitudes scaled by the cosine of the
    piece's latitude so that it is far from every edge in kilometres, not in degrees. It is
    therefore inside both the country and the box, away from the border and the box edges.

    Parameters
    ----------
    bounds
        ``(west, south, east, north)`` in degrees, EPSG:4326, with ``west <= east`` (the box
        does not cross the antimeridian).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points, one per country with some area in the box, the largest visible
        area first. Columns: ``name`` and ``iso_n3`` (as in ``countries.geojson``; ``iso_n3``
        may be missing) and ``geometry``. Countries that only touch the box are left out.

    Raises
    ------
    geo.core.errors.ValidationError
        If the bounds are not a lon/lat box with ``west <= east`` and ``south <= north``.

    Examples
    --------
    >>> labels = country_labels((23.0, 53.5, 27.0, 56.0))
    >>> labels["name"].tolist()
    ['Lithuania', 'Belarus', 'Poland', 'Latvia']
    >>> bool(labels.geometry.within(shapely.box(23.0, 53.5, 27.0, 56.0)).all())
    True
    """
    west, south, east, north = _check_bounds(bounds)
    frame = box(west, south, east, north)
    countries = _countries()
    rows: list[tuple[str, str | None, BaseGeometry, float]] = []
    for i in countries.sindex.query(frame, predicate="intersects"):
        visible = polygonal(shapely.intersection(countries.geometry.iat[i], frame))
        parts = [p for p in getattr(visible, "geoms", [visible]) if not p.is_empty]
        areas = [_scaled_area(p) for p in parts]
        if not parts or max(areas) <= 0.0:
            continue  # touches the box only along an edge or at a point
        largest = parts[int(np.argmax(areas))]
        iso = countries["iso_n3"].iat[i]
        rows.append(
            (
                countries["name"].iat[i],
                iso if isinstance(iso, str) else None,
                _label_point(largest),
                sum(areas),
            )
        )
    rows.sort(key=lambda r: (-r[3], r[0]))
    return gpd.GeoDataFrame(
        {
            "name": pd.Series([r[0] for r in rows], dtype="str"),
            "iso_n3": pd.Series([r[1] for r in rows], dtype="str"),
        },
        geometry=gpd.GeoSeries([r[2] for r in rows], crs="EPSG:4326"),
    )


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_bounds(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``bounds`` as four floats, or a :class:`ValidationError` saying what is wrong."""
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValidationError(
            describe(
                "bounds",
                "not a box",
                expected="four numbers (west, south, east, north)",
                got=bounds,
            )
        ) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValidationError(
            describe("bounds", "not a box", expected="finite numbers", got=bounds)
        )
    if not (
        -180.0 <= west <= 180.0
        and -180.0 <= east <= 180.0
        and -90.0 <= south <= 90.0
        and -90.0 <= north <= 90.0
    ):
        raise ValidationError(
            describe(
                "bounds",
                "not lon/lat degrees",
                expected="longitudes within ±180 and latitudes within ±90 (EPSG:4326)",
                got=bounds,
                fix="Reproject the view's bounds to EPSG:4326",
            )
        )
    if south > north:
        raise ValidationError(
            describe("bounds", "south is north of north", expected="south <= north", got=bounds)
        )
    if west > east:
        raise ValidationError(
            describe(
                "bounds",
                "the box crosses the antimeridian or west and east are swapped",
                expected="west <= east",
                got=bounds,
                fix="Ask for a box that spans the antimeridian as two boxes, (west, south, 180, "
                "north) and (-180, south, east, north)",
            )
        )
    return west, south, east, north


def _check_count(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValidationError(describe(field, "not a count", expected="an integer >= 0", got=value))


# --------------------------------------------------------------------------------------------
# Cached files (never handed out: callers get new frames)
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _places_table() -> pd.DataFrame:
    """The gazetteer, most important first (read once per process)."""
    table = pd.read_csv(
        PLACES_FILE,
        encoding="utf-8",
        # "NA" is Namibia and "Nan" a Thai city: no string is a missing value here.
        keep_default_na=False,
        na_filter=False,
        dtype={
            "name": str,
            "country": str,
            "lon": float,
            "lat": float,
            "population": np.int64,
            "rank": np.int64,
        },
    )
    table = table.sort_values(
        ["rank", "population", "name"],
        ascending=[True, False, True],
        kind="stable",
        ignore_index=True,
    )
    return table


@lru_cache(maxsize=1)
def _countries() -> gpd.GeoDataFrame:
    """The basemap countries, cut at the antimeridian, with a spatial index (read once)."""
    gdf = pyogrio.read_dataframe(COUNTRIES_FILE, columns=["name", "iso_n3"])
    if gdf.crs is None or not gdf.crs.equals("EPSG:4326"):
        msg = f"{COUNTRIES_FILE}: expected EPSG:4326, got {gdf.crs}"
        raise ValidationError(msg)
    gdf["geometry"] = [cut_at_antimeridian(g) for g in gdf.geometry]
    _ = gdf.sindex  # built once, here, not on every call
    return gdf


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def _scale(geom: BaseGeometry) -> float:
    """cos(latitude) at the middle of a geometry.

    That is km per degree of longitude over km per degree of latitude there: the scale of a
    local equirectangular projection.
    """
    _, ymin, _, ymax = geom.bounds
    return max(math.cos(math.radians((ymin + ymax) / 2.0)), 1e-6)


def _scaled_area(geom: BaseGeometry) -> float:
    """Area in square degrees of latitude (proportional to km² at the geometry's latitude)."""
    return float(geom.area) * _scale(geom)


def _label_point(part: Polygon) -> shapely.Point:
    """The point of ``part`` farthest from its edges, measured in locally scaled degrees."""
    k = _scale(part)
    scaled = shapely.transform(part, lambda xy: xy * np.array([k, 1.0]))
    xmin, ymin, xmax, ymax = scaled.bounds
    tolerance = _POLYLABEL_TOLERANCE * max(xmax - xmin, ymax - ymin)
    pt = polylabel(scaled, tolerance=tolerance)
    if not scaled.contains(pt):  # polylabel returns a centroid-like fallback for slivers
        pt = scaled.point_on_surface()
    return shapely.Point(pt.x / k, pt.y)
