"""Areas on the ellipsoid (geo.core.projection.geodesic_area_m2): exact, and cheap to repeat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

from geo.core import projection
from geo.core.projection import GEOD, choose_analysis_crs, geodesic_area_m2, to_lonlat


def _geodesic_truth(poly: shapely.Geometry, acrs: projection.AnalysisCRS) -> float:
    """pyproj.Geod's area of the polygon, its edges followed closely in lon/lat."""
    lonlat = to_lonlat([shapely.segmentize(poly, 50.0)], acrs)[0]
    area, _ = GEOD.geometry_area_perimeter(lonlat)
    return abs(area)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [([21.0, 21.3], [54.0, 54.1]), ([20.0, 24.0], [50.0, 54.0]), ([-71.0, -69.0], [-33.0, -30.0])],
    ids=["utm", "oblique-mercator", "southern"],
)
def test_areas_equal_the_geodesic_truth(lon: list[float], lat: list[float]) -> None:
    acrs = choose_analysis_crs(lon, lat)
    # Disks and a box away from any whole degree, in one call and one at a time.
    polys = [
        shapely.buffer(shapely.Point(*acrs.to_proj.transform(lon[0] + 0.37, lat[0] + 0.41)), r)
        for r in (500.0, 5_000.0, 25_000.0)
    ]
    x0, y0 = acrs.to_proj.transform(lon[1] - 0.46, lat[1] - 0.33)
    polys.append(shapely.box(x0, y0, x0 + 40_000.0, y0 + 17_000.0))
    truth = np.array([_geodesic_truth(p, acrs) for p in polys])
    np.testing.assert_allclose(geodesic_area_m2(polys, acrs), truth, rtol=1e-6)
    for p, t in zip(polys, truth, strict=True):
        assert geodesic_area_m2([p], acrs)[0] == pytest.approx(t, rel=1e-6)


def test_repeated_areas_build_one_transformer(monkeypatch: pytest.MonkeyPatch) -> None:
    acrs = choose_analysis_crs([20.0, 24.0], [50.0, 54.0])
    x, y = acrs.to_proj.transform(22.1, 52.2)
    acrs.to_lonlat  # noqa: B018 (the analysis CRS's own transformers, built before counting)
    built: list[Any] = []
    real = pyproj.Transformer.from_crs

    def counted(*args: Any, **kwargs: Any) -> pyproj.Transformer:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyproj.Transformer, "from_crs", counted)
    cache = getattr(projection, "_to_equal_area", None)
    if cache is not None:
        cache.cache_clear()
    disks = [shapely.buffer(shapely.Point(x + dx, y), 1_000.0) for dx in (0, 2e3, 4e3, 6e3)]
    areas = [geodesic_area_m2([d], acrs)[0] for d in disks]
    assert len(built) == 1, f"{len(built)} transformers built for 4 areas of one analysis"
    monkeypatch.undo()
    truth = [_geodesic_truth(d, acrs) for d in disks]
    np.testing.assert_allclose(areas, truth, rtol=1e-6)
