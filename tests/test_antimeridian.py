"""Coverage across the antimeridian, against pyproj's geodesics and the same scene moved away.

A border in the Bering Strait crosses 180°: the analysis CRS is centred there and its
corridor and footprints, taken back to lon/lat, go on at -180°. Every figure must still be
what the ellipsoid says:

- a detection within a disk sensor's range (geodesic distance, :class:`pyproj.Geod`) is in
  coverage; within the corridor's depth of the border (geodesic distance to a densely
  sampled border) it is in the corridor, otherwise outside;
- a gap's ends and length are those of the unwatched runs of the border sampled every 2 m
  along its geodesic (within 0.5 %);
- the same scene with every longitude moved 30° west (nowhere near 180°) gives the same
  report and the same status, row by row;
- the map draws it in one piece past 180° (deck.gl draws longitudes as given: a feature
  whose longitudes jump from 180° to -180° is a band round the world), as it draws the
  scene moved away, and a hexagon picked on it lists the detections it counts; exports
  hold what crosses 180° cut there.

Points within 100 m of a disk's or the corridor's edge are left out of the geodesic
comparison: the disk is drawn as a 64-gon (0.12 % of the range inside the circle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.typing import NDArray
from pyproj import Geod

from geo.core.projection import to_projected
from geo.coverage.analysis import Analysis, analyse
from geo.coverage.views import detections_in_polygon
from geo.export import export_layers
from layers.map import LAYERS, build_map
from layers.snapshot.map_page import _lonlat_box

GEOD = Geod(ellps="WGS84")
EDGE_M = 100.0


def wrap(lon: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Longitudes into [-180, 180)."""
    return (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class Case:
    """A border along a geodesic from ``west`` to ``east`` (unwrapped longitudes) at ``lat``."""

    west: float
    east: float
    lat: float
    sensors: tuple[tuple[float, float, float], ...]  # lon (unwrapped), lat, range_m
    corridor_km: float


CASES = {
    # 141 km across 180° at 65° N: an oblique Mercator centred on 180°; a gap across 180°
    "bering": Case(
        178.5,
        181.5,
        65.0,
        ((178.9, 65.03, 20_000.0), (179.5, 64.98, 10_000.0), (180.8, 65.02, 20_000.0)),
        20.0,
    ),
    # 179° E to 179.99° E at 60° N (UTM zone 60): the corridor and a footprint pass 180°
    "utm60": Case(179.0, 179.99, 60.0, ((179.2, 60.0, 8_000.0), (179.93, 60.02, 9_000.0)), 15.0),
    # 15 km across 180° at 70° N: UTM zone 1, 3° (114 km) from its central meridian
    "utm1": Case(179.8, 180.2, 70.0, ((179.9, 70.01, 3_000.0), (180.15, 69.99, 4_000.0)), 5.0),
}


def border_vertices(case: Case, shift: float, n: int) -> tuple[NDArray, NDArray]:
    """``n`` vertices along the border's geodesic (longitudes in [-180, 180))."""
    lon0, lon1 = float(wrap(case.west + shift)), float(wrap(case.east + shift))
    pts = np.array(GEOD.npts(lon0, case.lat, lon1, case.lat, n - 2))
    return np.r_[lon0, pts[:, 0], lon1], np.r_[case.lat, pts[:, 1], case.lat]


def scene(
    case: Case, shift: float = 0.0, *, cut: bool = False
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Border, sensors and 1,500 detections around the border, longitudes moved by ``shift``.

    ``cut``: the border as two features cut at 180° (as RFC 7946 GeoJSON stores it).
    """
    lon, lat = border_vertices(case, shift, 101)
    if cut:
        east_of = np.flatnonzero(lon < 0)[0]  # the first vertex past 180°
        t = (180.0 - lon[east_of - 1]) / (lon[east_of] + 360.0 - lon[east_of - 1])
        lat_180 = lat[east_of - 1] + t * (lat[east_of] - lat[east_of - 1])
        west_part = [*zip(lon[:east_of], lat[:east_of], strict=True), (180.0, lat_180)]
        east_part = [(-180.0, lat_180), *zip(lon[east_of:], lat[east_of:], strict=True)]
        lines = [shapely.LineString(west_part), shapely.LineString(east_part)]
    else:
        lines = [shapely.LineString(np.column_stack([lon, lat]))]
    border = gpd.GeoDataFrame({"name": ["b"] * len(lines)}, geometry=lines, crs=4326)
    s_lon, s_lat, s_range = (np.array(v) for v in zip(*case.sensors, strict=True))
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(s_lon.size)],
            "partner": ["P"] * s_lon.size,
            "kind": ["tower"] * s_lon.size,
            "range_m": s_range,
        },
        geometry=gpd.points_from_xy(wrap(s_lon + shift), s_lat),
        crs=4326,
    )
    rng = np.random.default_rng(11)
    n = 1_500
    d_lon = wrap(rng.uniform(case.west - 0.3, case.east + 0.3, n) + shift)
    d_lat = case.lat + rng.uniform(-0.3, 0.3, n)
    detections = gpd.GeoDataFrame(
        {"detection_id": [f"d{i}" for i in range(n)], "time": pd.Timestamp("2026-01-01", tz="UTC")},
        geometry=gpd.points_from_xy(d_lon, d_lat),
        crs=4326,
    )
    return border, sensors, detections


def run(case: Case, shift: float = 0.0, *, cut: bool = False) -> Analysis:
    border, sensors, detections = scene(case, shift, cut=cut)
    return analyse(border, sensors, detections=detections, corridor_km=case.corridor_km)


def geodesic_truth(case: Case, shift: float = 0.0) -> tuple[NDArray, NDArray]:
    """Per detection: its status by geodesic distances, and whether it is clear of every edge."""
    _, sensors, detections = scene(case, shift)
    lon, lat = detections.geometry.x.to_numpy(), detections.geometry.y.to_numpy()
    b_lon, b_lat = border_vertices(case, shift, 1_000)  # vertices ~100-150 m apart
    to_border = np.array(
        [GEOD.inv(np.full(b_lon.size, x), np.full(b_lon.size, y), b_lon, b_lat)[2].min()
         for x, y in zip(lon, lat, strict=True)]
    )  # fmt: skip
    s_lon, s_lat = sensors.geometry.x.to_numpy(), sensors.geometry.y.to_numpy()
    to_sensor = np.column_stack(
        [GEOD.inv(np.full(lon.size, x), np.full(lon.size, y), lon, lat)[2] for x, y in
         zip(s_lon, s_lat, strict=True)]
    )  # fmt: skip
    reach = sensors["range_m"].to_numpy()
    in_corridor = to_border <= case.corridor_km * 1000.0
    covered = (to_sensor <= reach).any(axis=1)
    clear = (np.abs(to_border - case.corridor_km * 1000.0) > EDGE_M) & (
        np.abs(to_sensor - reach) > EDGE_M
    ).all(axis=1)
    status = np.where(in_corridor, np.where(covered, "coverage", "gap"), "outside")
    return status, clear


def geodesic_gaps_km(case: Case) -> list[tuple[float, float]]:
    """(start, end) chainage (km) of each unwatched run of the border, sampled every 2 m.

    A run's ends are taken half a step beyond its first and last unwatched samples.
    """
    lon0, lon1 = float(wrap(case.west)), float(wrap(case.east))
    length = GEOD.inv(lon0, case.lat, lon1, case.lat)[2]
    n = int(length // 2.0)
    pts = np.array(GEOD.npts(lon0, case.lat, lon1, case.lat, n - 1))
    lon, lat = np.r_[lon0, pts[:, 0], lon1], np.r_[case.lat, pts[:, 1], case.lat]
    chain = np.linspace(0.0, length, n + 1)
    watched = np.zeros(lon.size, dtype=bool)
    for s_lon, s_lat, reach in case.sensors:
        d = GEOD.inv(np.full(lon.size, float(wrap(s_lon))), np.full(lon.size, s_lat), lon, lat)[2]
        watched |= d <= reach
    edges = np.diff(np.r_[0, (~watched).astype(int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    half = chain[1] / 2.0
    return [
        (max(chain[a] - half, 0.0) / 1000.0, min(chain[b] + half, length) / 1000.0)
        for a, b in zip(starts, ends, strict=True)
    ]


@pytest.mark.parametrize("name", CASES)
def test_statuses_match_geodesic_distances(name: str) -> None:
    case = CASES[name]
    result = run(case)
    det = result.layers["detections"]
    got = det["coverage_status"].astype(str).to_numpy()
    truth, clear = geodesic_truth(case)
    assert clear.mean() > 0.9
    bad = np.flatnonzero(clear & (got != truth))
    assert bad.size == 0, det.iloc[bad[:5]].assign(truth=truth[bad[:5]])
    # every status is met past 180° (longitudes < 0), not only on the western side
    past = det.geometry.x.to_numpy() < 0
    for status in ("coverage", "gap", "outside"):
        assert ((truth == status) & clear & past).sum() >= 5, status


@pytest.mark.parametrize(
    ("name", "cut"),
    [("bering", False), ("bering", True), ("utm1", False)],
    ids=["one-line", "cut-at-180", "utm1"],
)
def test_the_same_scene_moved_away_from_180_gives_the_same_analysis(name: str, cut: bool) -> None:
    case = CASES[name]
    here, away = run(case, cut=cut), run(case, -30.0)
    # the same kind of CRS (UTM, Oblique Mercator), centred the same way (five UTM zones)
    assert here.acrs.name.split()[0] == away.acrs.name.split()[0]
    assert (here.acrs.lon_centre_deg - away.acrs.lon_centre_deg) % 360.0 == pytest.approx(30.0)
    assert here.report["border"]["segments"] == 1
    for key, value in away.report["border"].items():
        assert here.report["border"][key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    assert here.report["detections"] == away.report["detections"]
    assert len(here.report["gaps"]) == len(away.report["gaps"])
    for g_here, g_away in zip(here.report["gaps"], away.report["gaps"], strict=True):
        for key in ("start_km", "end_km", "length_km"):
            assert g_here[key] == pytest.approx(g_away[key], rel=1e-6, abs=1e-6)
    status_here = here.layers["detections"]["coverage_status"].astype(str).to_numpy()
    status_away = away.layers["detections"]["coverage_status"].astype(str).to_numpy()
    assert (status_here == status_away).all()


@pytest.mark.parametrize("name", CASES)
def test_gaps_are_the_geodesic_unwatched_runs(name: str) -> None:
    case = CASES[name]
    gaps = run(case).report["gaps"]
    truth = geodesic_gaps_km(case)
    assert len(gaps) == len(truth)
    length_km = GEOD.inv(wrap(case.west), case.lat, wrap(case.east), case.lat)[2] / 1000.0
    for gap, (start, end) in zip(gaps, truth, strict=True):
        assert gap["length_km"] == pytest.approx(end - start, rel=0.005)
        assert gap["start_km"] == pytest.approx(start, abs=0.005 * length_km)
        assert gap["end_km"] == pytest.approx(end, abs=0.005 * length_km)


@pytest.mark.parametrize("cut", [False, True], ids=["one-line", "cut-at-180"])
def test_a_gap_across_180_is_one_gap(cut: bool) -> None:
    case = CASES["bering"]
    gaps = run(case, cut=cut).report["gaps"]
    # the truth's gap from 179.7° E to 180.4° (about 31 km) is one gap
    lon, lat = border_vertices(case, 0.0, 101)
    unwrapped = np.where(lon < 0, lon + 360.0, lon)
    chain_180 = GEOD.line_length(lon[unwrapped <= 180.0], lat[unwrapped <= 180.0]) / 1000.0
    across = [g for g in gaps if g["start_km"] < chain_180 < g["end_km"]]
    assert len(across) == 1
    assert across[0]["length_km"] > 25.0


def drawn(deck_json: str) -> tuple[dict[str, list[NDArray[np.float64]]], dict]:
    """Per layer id, the longitudes of each drawn feature (a ring, a path, a point's); the view."""
    spec = json.loads(deck_json)
    out: dict[str, list[NDArray[np.float64]]] = {}
    for layer in spec["layers"]:
        data = layer.get("data")
        if not isinstance(data, list):
            continue
        for rec in data:
            if "polygon" in rec:
                features = [np.asarray(ring, dtype=float)[:, 0] for ring in rec["polygon"]]
            elif "path" in rec:
                features = [np.asarray(rec["path"], dtype=float)[:, 0]]
            elif "p" in rec:
                features = [np.asarray(rec["p"], dtype=float).reshape(-1)[:1]]
            else:
                continue
            out.setdefault(layer["id"], []).extend(features)
    return out, spec["initialViewState"]


def test_the_map_draws_across_180_without_a_band_round_the_world() -> None:
    case = CASES["bering"]
    shown = [k for k in LAYERS if k not in ("hillshade", "coverage_count")]
    here, view = drawn(build_map(run(case), shown=shown).to_json())
    away, view_away = drawn(build_map(run(case, -30.0), shown=shown).to_json())
    for key in ("corridor", "footprints", "gap_areas", "border", "gaps", "detections", "sensors"):
        assert key in here, key
    assert view["longitude"] == pytest.approx(view_away["longitude"] + 30.0, abs=1e-6)
    assert view["zoom"] == pytest.approx(view_away["zoom"], abs=1e-6)  # not the whole world
    for layer_id, features in here.items():
        for lon in features:
            # no jump of ~360° along a ring or a path, and all drawn near the view's centre
            assert np.abs(np.diff(lon)).max(initial=0.0) < 20.0, layer_id
            assert np.abs(lon - view["longitude"]).max() < 10.0, layer_id
    # the analysis' own layers are drawn as the scene moved away from 180°, 30° further east
    for layer_id in ("corridor", "footprints", "gap_areas", "border", "gaps", "detections"):
        lon_here = np.concatenate(here[layer_id])
        lon_away = np.concatenate(away[layer_id])
        assert lon_here.min() == pytest.approx(lon_away.min() + 30.0, abs=1e-5), layer_id
        assert lon_here.max() == pytest.approx(lon_away.max() + 30.0, abs=1e-5), layer_id
    # the basemap goes on past 180° too: the east of Chukotka is drawn past it
    assert any(lon.min() >= 180.0 and lon.max() > 181.0 for lon in here["basemap"])


def test_a_hexagon_picked_on_the_map_lists_its_detections_on_both_sides_of_180() -> None:
    """Each hexagon lists the rows it lists in the scene moved 30° west (a lon/lat polygon of
    six vertices: a row within metres of its edge may differ from the count ``n``, made in
    the analysis CRS, the same way in both)."""
    here, away = run(CASES["bering"]), run(CASES["bering"], -30.0)
    hex_here, hex_away = (
        next(
            layer for layer in build_map(r, shown=["detections"]).layers if layer.id == "detections"
        ).data
        for r in (here, away)
    )
    lon = [np.asarray(h["polygon"][0])[:, 0] for h in hex_here]
    assert any((x > 180.0).all() for x in lon)  # hexagons past 180° ...
    assert any((x < 180.0).any() and (x > 180.0).any() for x in lon)  # ... and across it
    assert [h["n"] for h in hex_here] == [h["n"] for h in hex_away]
    listed = 0
    for h, h_away in zip(hex_here, hex_away, strict=True):
        ids = set(detections_in_polygon(here, h["polygon"])["detection_id"])
        assert ids == set(detections_in_polygon(away, h_away["polygon"])["detection_id"])
        assert abs(len(ids) - h["n"]) <= 1
        listed += len(ids)
    assert listed == pytest.approx(len(here.layers["detections"]), abs=5)


def test_the_snapshot_keeps_what_lies_past_180() -> None:
    """The snapshot clips the deck's layers to a lon/lat box round its frame first: across
    180° the box goes on past it (as the map draws), not round the world the other way."""
    result = run(CASES["bering"])
    corridor = to_projected(result.layers["corridor"].geometry.to_numpy(), result.acrs)
    west, _, east, _ = _lonlat_box(result.acrs, tuple(shapely.total_bounds(corridor).tolist()))
    drawn_lon = np.concatenate(
        drawn(build_map(result, shown=["corridor"]).to_json())[0]["corridor"]
    )
    assert west < drawn_lon.min()
    assert drawn_lon.max() < east < west + 10.0


def test_exported_gaps_and_footprints_are_cut_at_180() -> None:
    """Files for other software hold features across 180° cut there (RFC 7946), pieces
    within ±180° whose geodesic lengths and areas are those of the scene moved away."""
    crossing = {"gaps": 0, "coverage": 0}
    for case in CASES.values():
        here, away = export_layers(run(case)), export_layers(run(case, -30.0))
        for name in crossing:
            assert len(here[name]) == len(away[name])
            for geom, geom_away in zip(here[name].geometry, away[name].geometry, strict=True):
                parts = shapely.get_parts(geom)
                crossing[name] += len(parts) > 1
                for part in parts:
                    ring = part.exterior if part.geom_type == "Polygon" else part
                    lon = np.asarray(ring.coords)[:, 0]
                    assert np.abs(np.diff(lon)).max() < 10.0, name
                    assert (np.abs(lon) <= 180.0).all(), name
                area, length = GEOD.geometry_area_perimeter(geom)
                area_away, length_away = GEOD.geometry_area_perimeter(geom_away)
                if name == "coverage":
                    assert abs(area) == pytest.approx(abs(area_away), rel=1e-6)
                else:
                    assert length == pytest.approx(length_away, rel=1e-6)
    assert crossing["gaps"] >= 1  # the Bering gap from 179.7° E to 180.4°
    assert crossing["coverage"] >= 1  # the footprint at 179.93° E, UTM zone 60
