"""Build the bundled Limes sample scenario and the offline basemap from real geography.

The scenario is a fictional joint operation on the real Lithuania-Belarus land border. The
border line, the country outlines of the basemap and the side a sensor may stand on come from
Natural Earth 1:50m country polygons as packaged by the npm package ``world-atlas`` 2.0.2
(ISC licence; the data is Natural Earth, public domain). Everything else (sectors, sensors,
detections) is synthetic and drawn from a fixed numpy seed, so running the script twice gives
byte-identical files.

Files written (paths relative to the repository root)
-----------------------------------------------------
``sample_data/border.geojson``
    The shared Lithuania-Belarus edge, one LineString in EPSG:4326 running from the Latvian
    tripoint in the north-east to the Polish tripoint in the south-west (chainage 0 km at the
    Latvian tripoint).
``sample_data/sectors.geojson``
    Ten partner sectors laid along the border by chainage, 15 km deep on each side, with one
    unassigned stretch and one stretch where sectors of two partners overlap.
``sample_data/sensors.csv``
    Cameras, radars, towers, unattended ground sensors and drones on the Lithuanian side.
``sample_data/detections.csv``
    A week of detections clustered around crossing hotspots, more at night.
``sample_data/scenario.json``
    The manifest that ties the files together.
``geo/basemap/data/countries.geojson``
    Country outline polygons for the offline basemap (coordinates rounded to 4 decimals).
    world-atlas stores the few polygons that cross the antimeridian (Russia's Chukotka, Fiji,
    Antarctica) with longitudes jumping from 180 to -180, which flat lon/lat geometry reads as
    bands round the globe; they are cut at ±180° as they are read (``geo.core.antimeridian``), so
    every consumer of the file reads them as on the globe.

Getting the source data
-----------------------
Pass ``--world-atlas PATH/TO/countries-50m.json`` to use a copy you already have. Without it
the script runs ``npm pack world-atlas@2.0.2`` in a temporary directory (this needs ``npm`` and
access to the npm registry), extracts ``package/countries-50m.json`` and deletes the rest. This
is the only network access in the project, and it happens only here, never at app run time.

Usage
-----
From the repository root::

    .venv/bin/python sample_data/make_sample.py
    .venv/bin/python sample_data/make_sample.py --world-atlas /tmp/countries-50m.json

Metric work (sector corridors, sensor offsets, the coverage check) is done in UTM zone 35N
(EPSG:32635), chosen because its central meridian (27° E) runs through the border region
(scale error under 0.03 % there). Chainages and the reported border length are geodesic
(pyproj ``Geod(ellps="WGS84")``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiLineString, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: geo
from geo.core.antimeridian import cut_at_antimeridian, jumps_antimeridian, polygonal

# --------------------------------------------------------------------------------------------
# Fixed inputs of the scenario
# --------------------------------------------------------------------------------------------

#: npm package and version the geography comes from.
WORLD_ATLAS_PACKAGE = "world-atlas"
WORLD_ATLAS_VERSION = "2.0.2"
WORLD_ATLAS_MEMBER = "package/countries-50m.json"

#: Seed of every random draw in the scenario.
SEED = 20261101

#: Countries whose shared edge is the border, as named in Natural Earth. Side A is the side the
#: partners stand on.
COUNTRY_A = "Lithuania"
COUNTRY_B = "Belarus"
BORDER_NAME = "Lithuania\N{EN DASH}Belarus"

#: Metric CRS for all buffering and offsets: UTM zone 35N.
METRIC_CRS = "EPSG:32635"

#: Depth of a sector on each side of the border (m).
SECTOR_HALF_WIDTH_M = 15_000.0

#: Spacing of the border samples whose Voronoi cells make up the sectors (m).
SECTOR_SAMPLE_STEP_M = 250.0

#: Partners of the joint operation.
PARTNERS: dict[str, dict[str, str]] = {
    "LTU": {"name": "State Border Guard Service of Lithuania (VSAT)"},
    "LVA": {"name": "Latvian State Border Guard support contingent"},
    "POL": {"name": "Polish Border Guard support contingent"},
    "EU": {"name": "Frontex joint operation team (EU)"},
}

#: Partner that owns stray assets outside every sector (the national border guard).
HOME_PARTNER = "LTU"


@dataclass(frozen=True)
class SectorPlan:
    """A sector laid along the border between two geodesic chainages (km)."""

    sector_id: str
    partner: str
    start_km: float
    end_km: float | None  # None: to the end of the border


#: Sectors by chainage. 180-208 km is in no sector; EU-2 and POL-1 overlap on 278-292 km.
SECTOR_PLANS: tuple[SectorPlan, ...] = (
    SectorPlan("LTU-1", "LTU", 0.0, 38.0),
    SectorPlan("LTU-2", "LTU", 38.0, 76.0),
    SectorPlan("LVA-1", "LVA", 76.0, 118.0),
    SectorPlan("LVA-2", "LVA", 118.0, 150.0),
    SectorPlan("LTU-3", "LTU", 150.0, 180.0),
    SectorPlan("EU-1", "EU", 208.0, 248.0),
    SectorPlan("EU-2", "EU", 248.0, 292.0),
    SectorPlan("POL-1", "POL", 278.0, 330.0),
    SectorPlan("POL-2", "POL", 330.0, 378.0),
    SectorPlan("LTU-4", "LTU", 378.0, None),
)

#: Stretches (chainage km) where no sensor is planned: the coverage gaps of the scenario.
PLANNED_GAPS_KM: tuple[tuple[float, float], ...] = (
    (23.0, 35.0),
    (60.0, 67.0),
    (99.0, 118.0),
    (139.0, 147.0),
    (176.0, 212.0),  # the unassigned stretch and its approaches
    (261.0, 270.0),
    (316.0, 340.0),
    (394.0, 402.0),
)

#: A few legacy national sensors inside the unassigned stretch (chainage km, kind).
UNASSIGNED_SENSORS: tuple[tuple[float, str], ...] = (
    (186.0, "ground_sensor"),
    (193.0, "camera"),
    (201.0, "ground_sensor"),
)

#: Frontier towns used to name sectors (lat, lon, approximate).
TOWNS: tuple[tuple[str, float, float], ...] = (
    ("Visaginas", 55.598, 26.438),
    ("Ignalina", 55.340, 26.166),
    ("Adutiškis", 55.153, 26.585),
    ("Švenčionys", 55.133, 26.160),
    ("Pabradė", 54.981, 25.767),
    ("Medininkai", 54.540, 25.650),
    ("Šalčininkai", 54.309, 25.386),
    ("Dieveniškės", 54.197, 25.617),
    ("Eišiškės", 54.175, 24.992),
    ("Varėna", 54.219, 24.572),
    ("Marcinkonys", 54.060, 24.400),
    ("Druskininkai", 54.016, 23.980),
    ("Kapčiamiestis", 54.000, 23.650),
)


@dataclass(frozen=True)
class KindPlan:
    """How one sensor kind is drawn."""

    code: str  # used in sensor ids
    per_km: float  # expected sensors per km of planned-covered border
    range_m: tuple[float, float]
    offset_m: tuple[float, float]  # distance from the border
    height_m: tuple[float, float]


KIND_PLANS: dict[str, KindPlan] = {
    "camera": KindPlan("CAM", 1 / 4.0, (2_000, 6_000), (200, 1_800), (4, 12)),
    "radar": KindPlan("RAD", 1 / 32.0, (8_000, 15_000), (1_000, 4_000), (8, 25)),
    "tower": KindPlan("TWR", 1 / 18.0, (5_000, 10_000), (500, 3_000), (15, 35)),
    "ground_sensor": KindPlan("UGS", 1 / 6.0, (300, 1_000), (200, 600), (0.2, 0.5)),
    "drone": KindPlan("UAV", 1 / 30.0, (3_000, 5_000), (500, 3_000), (80, 150)),
}

#: Share of sensors that are inactive.
INACTIVE_SHARE = 0.09

#: Crossing hotspots: chainage (km) and relative weight. Several sit in planned gaps.
HOTSPOTS_KM: tuple[tuple[float, float], ...] = (
    (12.0, 0.8),
    (29.0, 1.2),  # gap
    (52.0, 0.7),
    (104.0, 1.4),  # gap
    (133.0, 0.6),
    (165.0, 0.9),
    (194.0, 1.5),  # unassigned stretch
    (231.0, 1.0),
    (266.0, 1.1),  # gap
    (287.0, 1.0),  # contested stretch
    (327.0, 1.3),  # gap
    (360.0, 0.7),
    (412.0, 0.9),
)

DETECTIONS_TOTAL = 22_000
BACKGROUND_SHARE = 0.15
DETECTION_START = datetime(2026, 11, 1, tzinfo=UTC)
DETECTION_DAYS = 7
#: Local time offset of the area in November (EET, UTC+2), for the diurnal cycle (h).
LOCAL_UTC_OFFSET_H = 2.0

CLASSES = ("person", "vehicle", "animal", "drone", "unknown")
HOTSPOT_CLASS_P = (0.62, 0.08, 0.15, 0.04, 0.11)
BACKGROUND_CLASS_P = (0.22, 0.10, 0.45, 0.03, 0.20)

GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------------------------
# Source data
# --------------------------------------------------------------------------------------------


def fetch_world_atlas(dest_dir: Path) -> Path:
    """Download ``countries-50m.json`` from the npm package ``world-atlas`` with ``npm pack``.

    Parameters
    ----------
    dest_dir
        Existing directory the tarball is packed into and the file extracted to.

    Returns
    -------
    Path
        Path of the extracted ``countries-50m.json``.
    """
    npm = shutil.which("npm")
    if npm is None:
        msg = "npm not found: install Node.js/npm, or pass --world-atlas PATH/TO/countries-50m.json"
        raise RuntimeError(msg)
    spec = f"{WORLD_ATLAS_PACKAGE}@{WORLD_ATLAS_VERSION}"
    subprocess.run(
        [npm, "pack", spec, "--silent"],
        cwd=dest_dir,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = dest_dir / f"{WORLD_ATLAS_PACKAGE}-{WORLD_ATLAS_VERSION}.tgz"
    out = dest_dir / "countries-50m.json"
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(WORLD_ATLAS_MEMBER)
        if member is None:
            msg = f"{tarball.name}: {WORLD_ATLAS_MEMBER} missing from the package"
            raise RuntimeError(msg)
        out.write_bytes(member.read())
    return out


def read_countries(path: Path) -> gpd.GeoDataFrame:
    """Read the ``countries`` layer of a world-atlas TopoJSON file as valid EPSG:4326 polygons.

    world-atlas is made for a globe: the polygons that cross the antimeridian (Russia's
    Chukotka, Fiji, Antarctica) have rings whose longitudes jump from 180 to -180. They are
    cut at ±180° (:func:`geo.core.antimeridian.cut_at_antimeridian`) before anything else reads
    them; ``make_valid`` on the uncut rings would keep them as bands and slits round the globe.

    Parameters
    ----------
    path
        ``countries-50m.json`` from world-atlas.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name``, ``iso_n3`` and ``geometry`` (Polygon / MultiPolygon, lon/lat).
    """
    gdf = pyogrio.read_dataframe(path, layer="countries")
    gdf = gdf.set_crs("EPSG:4326", allow_override=True)
    gdf = gdf.rename(columns={"id": "iso_n3"})[["name", "iso_n3", "geometry"]]
    gdf["geometry"] = [cut_at_antimeridian(g) for g in gdf.geometry]
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    gdf["geometry"] = [polygonal(g) for g in gdf.geometry]
    return gdf[~gdf.geometry.is_empty].reset_index(drop=True)


def shared_border(countries: gpd.GeoDataFrame, a: str, b: str) -> LineString:
    """Shared edge of two countries as one LineString.

    Parameters
    ----------
    countries
        Output of :func:`read_countries`.
    a, b
        Country names as spelled in Natural Earth.

    Returns
    -------
    shapely.LineString
        The merged edge, lon/lat, oriented so that it starts at its northernmost end.
    """
    ga = countries.loc[countries["name"] == a, "geometry"].iloc[0]
    gb = countries.loc[countries["name"] == b, "geometry"].iloc[0]
    edge = ga.boundary.intersection(gb.boundary)
    lines = [g for g in getattr(edge, "geoms", [edge]) if g.geom_type == "LineString"]
    merged = shapely.line_merge(MultiLineString(lines))
    if merged.geom_type != "LineString":
        msg = f"{a}-{b}: shared edge merges into {len(merged.geoms)} lines, expected one"
        raise RuntimeError(msg)
    if merged.coords[0][1] < merged.coords[-1][1]:
        merged = merged.reverse()
    return merged


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


class BorderFrame:
    """The border in lon/lat and metric CRS, with geodesic chainage.

    Parameters
    ----------
    line_ll
        Border line, lon/lat.
    """

    def __init__(self, line_ll: LineString) -> None:
        self.line_ll = line_ll
        self.to_m = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
        self.to_ll = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
        ll = np.asarray(line_ll.coords)
        _, _, seg_geod = GEOD.inv(ll[:-1, 0], ll[:-1, 1], ll[1:, 0], ll[1:, 1])
        self.cum_geod_m = np.r_[0.0, np.cumsum(seg_geod)]
        x, y = self.to_m.transform(ll[:, 0], ll[:, 1])
        self.line_m = LineString(np.c_[x, y])
        self.cum_proj_m = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
        self.length_km = float(GEOD.geometry_length(line_ll)) / 1000.0

    def proj_dist(self, chainage_km: np.ndarray | float) -> np.ndarray:
        """Distance along the metric line (m) for geodesic chainage (km)."""
        return np.interp(np.asarray(chainage_km) * 1000.0, self.cum_geod_m, self.cum_proj_m)

    def chainage_km(self, proj_dist_m: np.ndarray | float) -> np.ndarray:
        """Geodesic chainage (km) for distance along the metric line (m)."""
        return np.interp(np.asarray(proj_dist_m), self.cum_proj_m, self.cum_geod_m) / 1000.0

    def point_m(self, chainage_km: float) -> Point:
        """Border point at a chainage, metric CRS."""
        return self.line_m.interpolate(float(self.proj_dist(chainage_km)))

    def normal_m(self, chainage_km: float, *, half_window_m: float = 1_000.0) -> np.ndarray:
        """Return the unit vector to the left of the border direction at a chainage (metric CRS)."""
        d = float(self.proj_dist(chainage_km))
        p0 = self.line_m.interpolate(max(d - half_window_m, 0.0))
        p1 = self.line_m.interpolate(min(d + half_window_m, self.line_m.length))
        t = np.array([p1.x - p0.x, p1.y - p0.y])
        t /= np.hypot(*t)
        return np.array([-t[1], t[0]])

    def geom_to_ll(self, geom: BaseGeometry) -> BaseGeometry:
        """Metric-CRS geometry to lon/lat."""
        return shapely.transform(geom, lambda c: np.c_[self.to_ll.transform(c[:, 0], c[:, 1])])

    def geom_to_m(self, geom: BaseGeometry) -> BaseGeometry:
        """Lon/lat geometry to metric CRS."""
        return shapely.transform(geom, lambda c: np.c_[self.to_m.transform(c[:, 0], c[:, 1])])


def footprint_ll(
    lon: float,
    lat: float,
    *,
    range_m: float,
    min_range_m: float = 0.0,
    azimuth_deg: float | None = None,
    fov_deg: float | None = None,
    circle_vertices: int = 64,
) -> Polygon:
    """Geodesic sensor footprint (disc, annulus or wedge), lon/lat.

    Vertices are placed with ``Geod.fwd``, so range and bearing are true on the ellipsoid.
    """
    if azimuth_deg is None or fov_deg is None or fov_deg >= 360:
        az = np.linspace(0.0, 360.0, circle_vertices, endpoint=False)
        lo, la, _ = GEOD.fwd(
            np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, range_m)
        )
        outer = Polygon(np.c_[lo, la])
        if min_range_m > 0:
            lo, la, _ = GEOD.fwd(
                np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, min_range_m)
            )
            return outer.difference(Polygon(np.c_[lo, la]))
        return outer
    n = max(math.ceil(circle_vertices * fov_deg / 360.0), 2) + 1
    az = np.linspace(azimuth_deg - fov_deg / 2.0, azimuth_deg + fov_deg / 2.0, n)
    lo, la, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, range_m))
    if min_range_m > 0:
        li, lai, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, min_range_m))
        ring = np.r_[np.c_[lo, la], np.c_[li, lai][::-1]]
    else:
        ring = np.r_[[[lon, lat]], np.c_[lo, la]]
    return Polygon(ring)


# --------------------------------------------------------------------------------------------
# Scenario parts
# --------------------------------------------------------------------------------------------


def build_sectors(frame: BorderFrame) -> gpd.GeoDataFrame:
    """Sector polygons: the border corridor split by nearest border chainage.

    The corridor (border buffered by :data:`SECTOR_HALF_WIDTH_M`) is cut into the Voronoi cells
    of points sampled along the border, so every point of a sector lies nearest to the border
    stretch of that sector; between neighbours the cut is perpendicular to the border.

    Returns
    -------
    geopandas.GeoDataFrame
        ``sector_id``, ``partner``, ``name``, ``start_km``, ``end_km``, geometry in EPSG:4326.
    """
    length_km = frame.length_km
    corridor = frame.line_m.buffer(SECTOR_HALF_WIDTH_M, quad_segs=16)
    breaks = sorted(
        {0.0, length_km}
        | {p.start_km for p in SECTOR_PLANS}
        | {p.end_km if p.end_km is not None else length_km for p in SECTOR_PLANS}
    )
    sample_km: list[float] = []
    for a, b in itertools.pairwise(breaks):
        n = max(math.ceil((b - a) * 1000.0 / SECTOR_SAMPLE_STEP_M), 1)
        sample_km.extend(a + (np.arange(n) + 0.5) * (b - a) / n)
    sample = np.asarray(sample_km)
    pts = shapely.points([(p.x, p.y) for p in (frame.point_m(s) for s in sample)])
    cells = shapely.voronoi_polygons(
        shapely.multipoints(pts), extend_to=corridor.buffer(1_000.0), ordered=True
    )
    cells_arr = np.asarray(cells.geoms)

    rows = []
    used_names: set[str] = set()
    for plan in SECTOR_PLANS:
        end_km = plan.end_km if plan.end_km is not None else length_km
        sel = (sample >= plan.start_km) & (sample < end_km)
        poly = shapely.union_all(cells_arr[sel]).intersection(corridor)
        poly = _largest_polygon(poly)
        poly_ll = frame.geom_to_ll(poly.simplify(10.0))
        poly_ll = shapely.set_precision(poly_ll, 1e-6)
        mid = frame.geom_to_ll(frame.point_m((plan.start_km + end_km) / 2.0))
        rows.append(
            {
                "sector_id": plan.sector_id,
                "partner": plan.partner,
                "name": _town_name(mid.y, mid.x, used_names),
                "start_km": round(plan.start_km, 1),
                "end_km": round(end_km, 1),
                "geometry": poly_ll,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def _largest_polygon(geom: BaseGeometry) -> Polygon:
    """Largest polygon of a (multi)polygon; drops slivers left by clipping."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    return max(parts, key=lambda g: g.area)


def _town_name(lat: float, lon: float, used: set[str]) -> str:
    """Nearest frontier town not yet used as a sector name."""
    order = sorted(TOWNS, key=lambda t: GEOD.inv(lon, lat, t[2], t[1])[2])
    for name, _, _ in order:
        if name not in used:
            used.add(name)
            return name
    msg = "more sectors than town names"
    raise RuntimeError(msg)


def _covered_intervals(length_km: float) -> list[tuple[float, float, str]]:
    """Chainage intervals where sensors are planned, with the sector that owns each."""
    out: list[tuple[float, float, str]] = []
    for plan in SECTOR_PLANS:
        a, b = plan.start_km, plan.end_km if plan.end_km is not None else length_km
        pieces = [(a, b)]
        for ga, gb in PLANNED_GAPS_KM:
            nxt = []
            for pa, pb in pieces:
                if gb <= pa or ga >= pb:
                    nxt.append((pa, pb))
                    continue
                if ga > pa:
                    nxt.append((pa, ga))
                if gb < pb:
                    nxt.append((gb, pb))
            pieces = nxt
        out.extend((pa, pb, plan.sector_id) for pa, pb in pieces if pb - pa > 0.5)
    return out


def build_sensors(
    frame: BorderFrame,
    sectors: gpd.GeoDataFrame,
    side_a_m: BaseGeometry,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Draw the sensors of the scenario.

    Sensors stand on side A (Lithuania) 0.2-4 km from the border, only on planned-covered
    stretches (so that the planned gaps stay open), except a few legacy sensors in the
    unassigned stretch. Wedge sensors face the nearest border point.

    Returns
    -------
    pandas.DataFrame
        One row per sensor with the columns of ``sensors.csv`` (numbers, NaN where blank) plus
        ``chainage_km``.
    """
    sectors_m = sectors.to_crs(METRIC_CRS)
    sector_partner = dict(zip(sectors["sector_id"], sectors["partner"], strict=True))
    border_m = frame.line_m
    drafts: list[dict[str, Any]] = []

    def place(lo_km: float, hi_km: float, offset_m: float) -> tuple[Point, float] | None:
        for _ in range(40):
            s = float(rng.uniform(lo_km, hi_km))
            foot = frame.point_m(s)
            n = frame.normal_m(s)
            for sign in (1.0, -1.0):
                p = Point(foot.x + sign * n[0] * offset_m, foot.y + sign * n[1] * offset_m)
                dist = border_m.distance(p)
                if side_a_m.contains(p) and 200.0 <= dist <= 4_000.0 and dist >= 0.7 * offset_m:
                    return p, s
        return None

    def draft(kind: str, lo_km: float, hi_km: float, sector_id: str | None) -> None:
        kp = KIND_PLANS[kind]
        range_m = float(rng.uniform(*kp.range_m))
        offset_m = float(rng.uniform(*kp.offset_m))
        offset_m = min(offset_m, 0.8 * range_m)
        reach_km = math.sqrt(range_m**2 - offset_m**2) / 1000.0
        lo, hi = lo_km + reach_km, hi_km - reach_km
        if lo > hi:  # interval shorter than the sensor's reach: shrink the range to fit
            half_km = (hi_km - lo_km) / 2.0
            range_m = max(math.hypot(half_km * 1000.0, offset_m), kp.range_m[0])
            lo = hi = (lo_km + hi_km) / 2.0
        got = place(lo, hi, offset_m)
        if got is None:
            return
        p, s = got
        drafts.append(
            {"kind": kind, "point": p, "chainage_km": s, "range_m": range_m, "sector": sector_id}
        )

    for a, b, sector_id in _covered_intervals(frame.length_km):
        for kind, kp in KIND_PLANS.items():
            expected = (b - a) * kp.per_km  # floor plus a Bernoulli remainder: low variance
            for _ in range(int(expected) + int(rng.random() < expected % 1.0)):
                draft(kind, a, b, sector_id)
    for s, kind in UNASSIGNED_SENSORS:
        draft(kind, s - 0.5, s + 0.5, None)

    drafts.sort(key=lambda d: d["chainage_km"])
    rows = []
    counters: dict[tuple[str, str], int] = {}
    for d in drafts:
        p = d["point"]
        holders = sectors_m.loc[sectors_m.contains(p), "sector_id"].tolist()
        if holders:
            partner = sector_partner[str(rng.choice(holders))]
        elif d["sector"] is not None:
            partner = sector_partner[d["sector"]]
        else:
            partner = HOME_PARTNER
        kind = d["kind"]
        kp = KIND_PLANS[kind]
        key = (partner, kp.code)
        counters[key] = counters.get(key, 0) + 1
        sensor_id = f"{partner}-{kp.code}-{counters[key]:03d}"
        ll = frame.geom_to_ll(p)
        range_m = d["range_m"]
        azimuth = fov = min_range = np.nan
        if kind == "camera":
            fov = float(rng.choice(np.arange(30, 125, 5)))
        elif kind == "radar":
            if rng.random() < 0.45:
                fov = 120.0
            if rng.random() < 0.3:
                min_range = float(round(rng.uniform(300, 500), -1))
        if not np.isnan(fov):
            foot = border_m.interpolate(border_m.project(p))
            foot_ll = frame.geom_to_ll(foot)
            az, _, _ = GEOD.inv(ll.x, ll.y, foot_ll.x, foot_ll.y)
            azimuth = float(round((az + rng.normal(0, 5)) % 360.0))
        height = float(round(rng.uniform(*kp.height_m), 1)) if rng.random() < 0.6 else np.nan
        rows.append(
            {
                "sensor_id": sensor_id,
                "partner": partner,
                "kind": kind,
                "lat": round(ll.y, 6),
                "lon": round(ll.x, 6),
                "range_m": float(round(range_m, -1)),
                "min_range_m": min_range,
                "azimuth_deg": azimuth,
                "fov_deg": fov,
                "height_m": height,
                "status": "active",
                "chainage_km": d["chainage_km"],
            }
        )
    sensors = pd.DataFrame(rows)
    n_inactive = round(INACTIVE_SHARE * len(sensors))
    inactive = rng.choice(len(sensors), size=n_inactive, replace=False)
    sensors.loc[np.sort(inactive), "status"] = "inactive"
    return sensors


def sensor_footprints_m(sensors: pd.DataFrame, frame: BorderFrame) -> list[BaseGeometry]:
    """Flat-earth (no terrain) footprint of every sensor, metric CRS."""
    out = []
    for r in sensors.itertuples():
        fp = footprint_ll(
            r.lon,
            r.lat,
            range_m=r.range_m,
            min_range_m=0.0 if np.isnan(r.min_range_m) else r.min_range_m,
            azimuth_deg=None if np.isnan(r.azimuth_deg) else r.azimuth_deg,
            fov_deg=None if np.isnan(r.fov_deg) else r.fov_deg,
        )
        out.append(frame.geom_to_m(fp))
    return out


def coverage_report(
    frame: BorderFrame, footprints_m: list[BaseGeometry], active: np.ndarray
) -> tuple[float, list[tuple[float, float]]]:
    """Share of the border inside active footprints, and the uncovered stretches (km).

    Returns
    -------
    covered_share : float
        Covered border length / border length (0-1), metric CRS.
    gaps_km : list of (start_km, end_km)
        Uncovered stretches as geodesic chainages.
    """
    union = shapely.union_all([f for f, a in zip(footprints_m, active, strict=True) if a])
    line = frame.line_m.segmentize(200.0)
    covered = line.intersection(union)
    share = covered.length / line.length
    uncovered = shapely.line_merge(line.difference(union))
    gaps = []
    for g in getattr(uncovered, "geoms", [uncovered]):
        if g.is_empty:
            continue
        a = float(frame.chainage_km(line.project(Point(g.coords[0]))))
        b = float(frame.chainage_km(line.project(Point(g.coords[-1]))))
        gaps.append((min(a, b), max(a, b)))
    gaps.sort()
    return share, gaps


def _diurnal_weights(minutes: np.ndarray, *, amplitude: float) -> np.ndarray:
    """Relative activity per minute: peaks around 01:00 local time, lowest around 13:00."""
    local_h = (minutes / 60.0 + LOCAL_UTC_OFFSET_H) % 24.0
    return 1.0 + amplitude * (1.0 + np.cos(2.0 * np.pi * (local_h - 1.0) / 24.0)) / 2.0


def _draw_times(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """Draw ``n`` times (seconds since the start) from per-minute weights."""
    p = weights / weights.sum()
    minute = rng.choice(weights.size, size=n, p=p)
    return minute * 60 + rng.integers(0, 60, size=n)


def build_detections(
    frame: BorderFrame,
    sectors: gpd.GeoDataFrame,
    sensors: pd.DataFrame,
    footprints_m: list[BaseGeometry],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Draw a week of detections around crossing hotspots plus background noise.

    A detection inside the footprint of an active sensor is mostly reported by that sensor;
    elsewhere it comes from a patrol or a hunter's report.

    Returns
    -------
    pandas.DataFrame
        The columns of ``detections.csv``, sorted by time.
    """
    n_minutes = DETECTION_DAYS * 24 * 60
    minutes = np.arange(n_minutes)
    n_bg = round(DETECTIONS_TOTAL * BACKGROUND_SHARE)
    n_hot = DETECTIONS_TOTAL - n_bg

    weights = np.array([w for _, w in HOTSPOTS_KM]) * rng.gamma(4.0, 0.25, len(HOTSPOTS_KM))
    counts = rng.multinomial(n_hot, weights / weights.sum())
    xs, ys, ts, hot = [], [], [], []
    for (s_km, _), count in zip(HOTSPOTS_KM, counts, strict=True):
        foot = frame.point_m(s_km)
        nrm = frame.normal_m(s_km, half_window_m=2_000.0)
        centre = np.array([foot.x, foot.y]) + nrm * rng.uniform(-1_500.0, 1_500.0)
        sigma_m = rng.uniform(500.0, 3_000.0)
        xy = centre + rng.normal(0.0, sigma_m, size=(count, 2))
        day_factor = rng.gamma(2.0, 0.5, DETECTION_DAYS)  # some nights are busier
        w = _diurnal_weights(minutes, amplitude=2.5) * np.repeat(day_factor, 24 * 60)
        xs.append(xy[:, 0])
        ys.append(xy[:, 1])
        ts.append(_draw_times(rng, count, w))
        hot.append(np.ones(count, dtype=bool))

    # Background: anywhere along the border, mostly within the 5 km corridor.
    s_km = rng.uniform(0.0, frame.length_km, n_bg)
    far = rng.random(n_bg) < 0.25
    off_m = np.where(far, rng.uniform(5_000.0, 20_000.0, n_bg), rng.uniform(0.0, 5_000.0, n_bg))
    off_m *= rng.choice([-1.0, 1.0], n_bg)
    bx, by = [], []
    for s, o in zip(s_km, off_m, strict=True):
        foot = frame.point_m(float(s))
        nrm = frame.normal_m(float(s))
        bx.append(foot.x + nrm[0] * o)
        by.append(foot.y + nrm[1] * o)
    xs.append(np.asarray(bx))
    ys.append(np.asarray(by))
    ts.append(_draw_times(rng, n_bg, _diurnal_weights(minutes, amplitude=0.8)))
    hot.append(np.zeros(n_bg, dtype=bool))

    x = np.concatenate(xs)
    y = np.concatenate(ys)
    t = np.concatenate(ts)
    is_hot = np.concatenate(hot)
    n = x.size
    pts = shapely.points(x, y)

    # Who reported it.
    active_idx = np.flatnonzero(sensors["status"].to_numpy() == "active")
    tree = shapely.STRtree([footprints_m[i] for i in active_idx])
    pairs = tree.query(pts, predicate="within")
    seen_by: list[list[int]] = [[] for _ in range(n)]
    for det, fp in zip(pairs[0], pairs[1], strict=True):
        seen_by[det].append(int(active_idx[fp]))
    sectors_m = sectors.to_crs(METRIC_CRS)
    sec_tree = shapely.STRtree(sectors_m.geometry.values)
    sec_pairs = sec_tree.query(pts, predicate="within")
    in_sectors: list[list[int]] = [[] for _ in range(n)]
    for det, sec in zip(sec_pairs[0], sec_pairs[1], strict=True):
        in_sectors[det].append(int(sec))

    sensor_ids = sensors["sensor_id"].to_numpy()
    sensor_partner = sensors["partner"].to_numpy()
    sensor_kind = sensors["kind"].to_numpy()
    sector_partner = sectors["partner"].to_numpy()
    source = np.empty(n, dtype=object)
    partner = np.empty(n, dtype=object)
    src_kind = np.empty(n, dtype=object)
    u = rng.random(n)
    for i in range(n):
        if seen_by[i] and u[i] < 0.88:
            k = seen_by[i][int(rng.integers(len(seen_by[i])))]
            source[i], partner[i], src_kind[i] = sensor_ids[k], sensor_partner[k], sensor_kind[k]
            continue
        source[i] = "hunter-report" if rng.random() < 0.2 else "patrol"
        src_kind[i] = source[i]
        if in_sectors[i]:
            partner[i] = sector_partner[in_sectors[i][int(rng.integers(len(in_sectors[i])))]]
        else:
            partner[i] = HOME_PARTNER

    cls = np.where(
        is_hot,
        rng.choice(len(CLASSES), n, p=HOTSPOT_CLASS_P),
        rng.choice(len(CLASSES), n, p=BACKGROUND_CLASS_P),
    )
    classes = np.asarray(CLASSES, dtype=object)[cls]
    # A ground sensor cannot tell a drone overhead; a hunter does not report on radar targets.
    classes[(src_kind == "ground_sensor") & (classes == "drone")] = "unknown"

    conf_ab = {
        "camera": (8.0, 2.0),
        "radar": (5.0, 2.5),
        "tower": (7.0, 2.5),
        "ground_sensor": (3.0, 3.0),
        "drone": (8.0, 2.5),
        "patrol": (9.0, 1.5),
        "hunter-report": (3.0, 3.0),
    }
    conf = np.empty(n)
    for kind, (a, b) in conf_ab.items():
        m = src_kind == kind
        conf[m] = rng.beta(a, b, int(m.sum()))
    conf = np.clip(conf, 0.05, 0.99)

    lon, lat = frame.to_ll.transform(x, y)
    order = np.lexsort((lon, lat, t))
    t0 = DETECTION_START
    times = [(t0 + timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ") for s in t[order]]
    return pd.DataFrame(
        {
            "detection_id": [f"D{i:06d}" for i in range(1, n + 1)],
            "time": times,
            "lat": np.round(lat[order], 6),
            "lon": np.round(lon[order], 6),
            "source": source[order],
            "partner": partner[order],
            "class": classes[order],
            "confidence": np.round(conf[order], 2),
        }
    )


# --------------------------------------------------------------------------------------------
# Writers (deterministic: fixed key order, fixed number formats, "\n" line ends)
# --------------------------------------------------------------------------------------------


def _round_coords(obj: object, ndigits: int) -> object:
    """Round every number in a nested GeoJSON coordinate list."""
    if isinstance(obj, (list, tuple)):
        return [_round_coords(o, ndigits) for o in obj]
    return round(float(obj), ndigits)  # type: ignore[arg-type]


def write_geojson(
    path: Path,
    records: list[dict[str, Any]],
    geometries: list[BaseGeometry],
    *,
    name: str,
    ndigits: int,
) -> None:
    """Write a GeoJSON FeatureCollection (EPSG:4326, RFC 7946), one feature per line."""
    lines = []
    for props, geom in zip(records, geometries, strict=True):
        g = mapping(geom)
        feature = {
            "type": "Feature",
            "properties": props,
            "geometry": {
                "type": g["type"],
                "coordinates": _round_coords(g["coordinates"], ndigits),
            },
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    text = (
        '{"type":"FeatureCollection","name":'
        + json.dumps(name, ensure_ascii=False)
        + ',"features":[\n'
        + ",\n".join(lines)
        + "\n]}\n"
    )
    path.write_text(text, encoding="utf-8", newline="\n")


def _fmt(value: float | None, decimals: int) -> str:
    """Fixed-decimal number, or an empty cell for NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.{decimals}f}"


#: Outage of the sample: a radar down for maintenance on the detections' third day. Radar
#: LTU-RAD-002 alone watches about 9.6 km of border (flat), so the outage shows in the timeline.
SAMPLE_OUTAGE = ("LTU-RAD-002", "2026-11-03T08:00:00Z/2026-11-03T14:00:00Z")


def sensor_schedules(sensors: pd.DataFrame) -> pd.DataFrame:
    """When the sample's sensors watch (``schedule``, ``outages``; blank = all the time).

    Every third camera is a day camera (06:00-20:00 UTC), the sensors of kind ``drone``
    (tethered drones) fly two shifts (06:00-12:00;14:00-20:00), and one radar has
    :data:`SAMPLE_OUTAGE`. Decided by order, kind and id only, so it is deterministic.
    ``analyse`` ignores these columns; ``timeline`` and the app's Map page use them.
    """
    kinds = sensors["kind"].astype(str).reset_index(drop=True)
    schedule = pd.Series([""] * len(kinds), dtype=object)
    outages = pd.Series([""] * len(kinds), dtype=object)
    cameras = kinds.index[kinds == "camera"]
    schedule[cameras[::3]] = "06:00-20:00"
    schedule[kinds == "drone"] = "06:00-12:00;14:00-20:00"
    down, when = SAMPLE_OUTAGE
    outages[(sensors["sensor_id"] == down).to_numpy()] = when
    return pd.DataFrame({"schedule": schedule, "outages": outages})


def write_sensors_csv(path: Path, sensors: pd.DataFrame) -> None:
    """Write ``sensors.csv`` with blank cells for unused optional fields."""
    when = sensor_schedules(sensors)
    out = pd.DataFrame(
        {
            "sensor_id": sensors["sensor_id"],
            "partner": sensors["partner"],
            "kind": sensors["kind"],
            "lat": [_fmt(v, 6) for v in sensors["lat"]],
            "lon": [_fmt(v, 6) for v in sensors["lon"]],
            "range_m": [_fmt(v, 0) for v in sensors["range_m"]],
            "min_range_m": [_fmt(v, 0) for v in sensors["min_range_m"]],
            "azimuth_deg": [_fmt(v, 0) for v in sensors["azimuth_deg"]],
            "fov_deg": [_fmt(v, 0) for v in sensors["fov_deg"]],
            "height_m": [_fmt(v, 1) for v in sensors["height_m"]],
            "status": sensors["status"],
            "schedule": when["schedule"].to_numpy(),
            "outages": when["outages"].to_numpy(),
        }
    )
    out.to_csv(path, index=False, lineterminator="\n")


def write_detections_csv(path: Path, detections: pd.DataFrame) -> None:
    """Write ``detections.csv`` with 6-decimal coordinates and 2-decimal confidence."""
    out = detections.copy()
    out["lat"] = [f"{v:.6f}" for v in out["lat"]]
    out["lon"] = [f"{v:.6f}" for v in out["lon"]]
    out["confidence"] = [f"{v:.2f}" for v in out["confidence"]]
    out.to_csv(path, index=False, lineterminator="\n")


def write_basemap(path: Path, countries: gpd.GeoDataFrame) -> None:
    """Write country outline polygons for the offline basemap.

    Coordinates are snapped to a 1e-4 degree grid (about 11 m) with GEOS' precision reducer,
    which keeps polygons valid and shared edges identical between neighbours.
    """
    geoms = []
    records = []
    for name, iso, geom in zip(
        countries["name"], countries["iso_n3"], countries.geometry, strict=True
    ):
        g = polygonal(shapely.set_precision(geom, 1e-4))
        if g.is_empty:
            continue
        if not g.is_valid:
            g = polygonal(shapely.make_valid(g))
        geoms.append(g)
        records.append({"name": name, "iso_n3": iso if isinstance(iso, str) else None})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_geojson(path, records, geoms, name="countries", ndigits=4)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _check_outputs(paths: dict[str, Path]) -> None:
    """Re-read every written file and check geometries are valid lon/lat in EPSG:4326."""
    for key in ("border", "sectors", "basemap"):
        gdf = pyogrio.read_dataframe(paths[key])
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            msg = f"{paths[key]}: CRS is {gdf.crs}, expected EPSG:4326"
            raise RuntimeError(msg)
        if not gdf.geometry.is_valid.all():
            msg = f"{paths[key]}: invalid geometries: {gdf.loc[~gdf.is_valid].index.tolist()}"
            raise RuntimeError(msg)
        minx, miny, maxx, maxy = gdf.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            msg = f"{paths[key]}: bounds {gdf.total_bounds} are not lon/lat"
            raise RuntimeError(msg)
        jumping = [i for i, g in enumerate(gdf.geometry) if jumps_antimeridian(g)]
        if jumping:
            msg = f"{paths[key]}: features {jumping} jump across the antimeridian"
            raise RuntimeError(msg)
    for key in ("sensors", "detections"):
        df = pd.read_csv(paths[key])
        if not (df["lat"].between(50, 60).all() and df["lon"].between(20, 30).all()):
            msg = f"{paths[key]}: coordinates outside the border region"
            raise RuntimeError(msg)


def main(argv: list[str] | None = None) -> int:
    """Build the sample scenario and the basemap; print a summary."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--world-atlas",
        type=Path,
        help="countries-50m.json from world-atlas 2.0.2 (default: fetch it with npm pack)",
    )
    parser.add_argument("--out-dir", type=Path, default=here, help="scenario folder")
    parser.add_argument(
        "--basemap",
        type=Path,
        default=here.parent / "geo" / "basemap" / "data" / "countries.geojson",
        help="where to write the basemap countries GeoJSON",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="limes-world-atlas-") as tmp:
        src = args.world_atlas if args.world_atlas else fetch_world_atlas(Path(tmp))
        countries = read_countries(src)

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    border_ll = shared_border(countries, COUNTRY_A, COUNTRY_B)
    frame = BorderFrame(border_ll)
    side_a_ll = countries.loc[countries["name"] == COUNTRY_A, "geometry"].iloc[0]
    side_a_m = frame.geom_to_m(side_a_ll)
    shapely.prepare(side_a_m)

    sectors = build_sectors(frame)
    sensors = build_sensors(frame, sectors, side_a_m, rng)
    footprints_m = sensor_footprints_m(sensors, frame)
    active = (sensors["status"] == "active").to_numpy()
    share, gaps = coverage_report(frame, footprints_m, active)
    detections = build_detections(frame, sectors, sensors, footprints_m, rng)

    paths = {
        "border": out_dir / "border.geojson",
        "sectors": out_dir / "sectors.geojson",
        "sensors": out_dir / "sensors.csv",
        "detections": out_dir / "detections.csv",
        "scenario": out_dir / "scenario.json",
        "basemap": args.basemap,
    }
    write_geojson(
        paths["border"],
        [{"name": BORDER_NAME, "length_km": round(frame.length_km, 1)}],
        [border_ll],
        name="border",
        ndigits=6,
    )
    write_geojson(
        paths["sectors"],
        sectors.drop(columns="geometry").to_dict("records"),
        list(sectors.geometry),
        name="sectors",
        ndigits=6,
    )
    write_sensors_csv(paths["sensors"], sensors)
    write_detections_csv(paths["detections"], detections)
    scenario = {
        "name": f"Limes sample: {BORDER_NAME} joint operation",
        "description": (
            f"Fictional joint surveillance operation on the real {BORDER_NAME} land border "
            f"({frame.length_km:.0f} km at Natural Earth 1:50m). Four partners hold ten "
            "sectors; one stretch is in no sector and one is claimed by two partners. "
            "Sensors and a week of detections are synthetic."
        ),
        "border": paths["border"].name,
        "sectors": paths["sectors"].name,
        "sensors": paths["sensors"].name,
        "detections": paths["detections"].name,
        "dem": "dem.tif",  # written by make_dem.py
        "tracks": "tracks.csv",  # written by make_tracks.py
        "partners": PARTNERS,
        "source": f"Natural Earth 1:50m via {WORLD_ATLAS_PACKAGE} {WORLD_ATLAS_VERSION}",
    }
    paths["scenario"].write_text(
        json.dumps(scenario, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
    )
    write_basemap(paths["basemap"], countries)
    _check_outputs(paths)

    _print_summary(
        frame=frame,
        sectors=sectors,
        sensors=sensors,
        share=share,
        gaps=gaps,
        detections=detections,
        paths=paths,
    )
    return 0


def _print_summary(
    *,
    frame: BorderFrame,
    sectors: gpd.GeoDataFrame,
    sensors: pd.DataFrame,
    share: float,
    gaps: list[tuple[float, float]],
    detections: pd.DataFrame,
    paths: dict[str, Path],
) -> None:
    """Print what was built."""
    print(f"border {BORDER_NAME}: {frame.length_km:.1f} km geodesic (WGS84)")
    for r in sectors.itertuples():
        where = f"{r.start_km:6.1f}-{r.end_km:6.1f} km"
        print(f"  sector {r.sector_id:6s} {r.partner:4s} {r.name:14s} {where}")
    sectors_m = sectors.to_crs(METRIC_CRS).geometry.to_numpy()
    outside = frame.line_m.difference(shapely.union_all(sectors_m))
    print(f"border in no sector: {outside.length / 1000:.1f} km (metric)")
    partners = sectors["partner"].to_numpy()
    ids = sectors["sector_id"].to_numpy()
    for i, j in itertools.combinations(range(len(ids)), 2):
        shared = frame.line_m.intersection(sectors_m[i].intersection(sectors_m[j]))
        if shared.length > 0:
            kind = "contested" if partners[i] != partners[j] else "SAME-PARTNER OVERLAP"
            print(f"{kind}: {ids[i]} / {ids[j]} share {shared.length / 1000:.1f} km of border")
    print("sensors by kind and status:")
    print(sensors.groupby(["kind", "status"]).size().unstack(fill_value=0).to_string())
    print(f"border covered by active sensors (flat earth, {METRIC_CRS}): {share:.1%}")
    big = [(a, b) for a, b in gaps if b - a >= 1.0]
    print(
        "uncovered stretches >= 1 km: "
        + ", ".join(f"{a:.1f}-{b:.1f} ({b - a:.1f})" for a, b in big)
    )
    print(
        f"detections: {len(detections)} from {detections['time'].iloc[0]} "
        f"to {detections['time'].iloc[-1]}"
    )
    for key, p in paths.items():
        print(f"  {key:10s} {p} {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    sys.exit(main())
