"""The inputs of an analysis, checked and prepared once for every coverage engine.

:func:`prepare_scene` checks the layers and the options, prepares the border (segments and
chainage, :mod:`geo.coverage.border`), picks out the active sensors and the partners, draws
the corridor in the analysis CRS and cuts the border into the sectors (:class:`Sectors`).
Both engines (:mod:`geo.coverage.flat`, :mod:`geo.coverage.terrain`) and the report work on the
resulting :class:`Scene`; none of them changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core.errors import ValidationError
from geo.core.projection import AnalysisCRS, local_scale_and_convergence, to_projected
from geo.core.times import parse_utc
from geo.coverage import intervals as iv
from geo.coverage.border import Border, polygon_border_intervals, prepare_border

WGS84 = "EPSG:4326"


@dataclass(frozen=True, eq=False)
class Sectors:
    """The sectors, and the border each partner's sectors hold.

    Attributes
    ----------
    table
        The sectors as given (index reset when there are any), or ``None`` without sectors.
    polygons
        Their polygons in the analysis CRS.
    ids, partner
        ``sector_id`` and ``partner`` of each sector (str).
    per_sector
        The border (global chainage, m) inside each sector, merged.
    by_partner
        The border inside any sector of each partner, merged.
    unassigned
        The border in no sector.
    contested
        The border in the sectors of two or more partners.
    """

    table: gpd.GeoDataFrame | None
    polygons: NDArray[np.object_]
    ids: NDArray[np.object_]
    partner: NDArray[np.object_]
    per_sector: list[iv.Intervals]
    by_partner: dict[str, iv.Intervals]
    unassigned: iv.Intervals
    contested: iv.Intervals

    def __len__(self) -> int:
        return len(self.polygons)


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything an analysis works on, prepared (see :func:`prepare_scene`).

    Attributes
    ----------
    border
        The prepared border; its analysis CRS is the analysis'.
    sensors
        The sensors (index reset, every column kept).
    active
        Which sensors are active (``status`` is ``"active"``; all when there is no status).
    sensor_partner
        Each sensor's partner (str).
    partners
        Every partner of a sensor or a sector, sorted.
    corridor
        The corridor: the border buffered by ``corridor_km`` on the ground (analysis CRS).
    sectors
        The sectors and the border they hold.
    detections
        The detections (index reset), or ``None``.
    corridor_km, min_gap_m
        The options, as checked.
    time_from, time_to
        The time window for detections (UTC), open where ``None``.
    """

    border: Border
    sensors: gpd.GeoDataFrame
    active: NDArray[np.bool_]
    sensor_partner: NDArray[np.object_]
    partners: list[str]
    corridor: shapely.Geometry
    sectors: Sectors
    detections: gpd.GeoDataFrame | None
    corridor_km: float
    min_gap_m: float
    time_from: pd.Timestamp | None
    time_to: pd.Timestamp | None

    @property
    def acrs(self) -> AnalysisCRS:
        """The analysis CRS (the border's)."""
        return self.border.acrs


def check_wgs84(gdf: gpd.GeoDataFrame | None, what: str) -> None:
    """Refuse a layer that is not in EPSG:4326 (``None`` passes)."""
    if gdf is not None and (gdf.crs is None or not gdf.crs.equals(WGS84)):
        raise ValueError(
            f"{what} must be in EPSG:4326 (load it with geo.inputs.loader), got {gdf.crs}"
        )


def time_window(
    time_from: str | datetime | None, time_to: str | datetime | None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The time window in UTC, refused when it ends before it starts."""
    t_from = parse_utc(time_from, "time_from")
    t_to = parse_utc(time_to, "time_to")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ValidationError(f"time window: time_to ({t_to}) is before time_from ({t_from})")
    return t_from, t_to


def prepare_scene(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None,
    detections: gpd.GeoDataFrame | None,
    corridor_km: float,
    min_gap_m: float,
    time_from: str | datetime | None,
    time_to: str | datetime | None,
) -> Scene:
    """Check and prepare the inputs of :func:`geo.coverage.analysis.analyse` (same parameters).

    Raises
    ------
    geo.core.errors.ValidationError
        An option out of its range, a time that cannot be read or a window that ends before
        it starts, a border without lines.
    ValueError
        A layer not in EPSG:4326.
    """
    for gdf, what in (
        (border, "border"),
        (sensors, "sensors"),
        (sectors, "sectors"),
        (detections, "detections"),
    ):
        check_wgs84(gdf, what)
    if not np.isfinite(corridor_km) or corridor_km <= 0:
        raise ValidationError(f"corridor_km: expected a number > 0, got {corridor_km!r}")
    if not np.isfinite(min_gap_m) or min_gap_m < 0:
        raise ValidationError(f"min_gap_m: expected a number >= 0, got {min_gap_m!r}")
    t_from, t_to = time_window(time_from, time_to)

    b = prepare_border(border)
    sensors = sensors.reset_index(drop=True)
    status = (
        sensors["status"].to_numpy(dtype=object)
        if "status" in sensors
        else np.full(len(sensors), "active", dtype=object)
    )
    sensor_partner = sensors["partner"].astype(str).to_numpy(dtype=object)
    sector_partner = (
        sectors["partner"].astype(str).to_numpy(dtype=object)
        if sectors is not None
        else np.empty(0, dtype=object)
    )
    partners = sorted(set(sensor_partner) | set(sector_partner))
    return Scene(
        border=b,
        sensors=sensors,
        active=status == "active",
        sensor_partner=sensor_partner,
        partners=partners,
        corridor=corridor_polygon(b, corridor_km),
        sectors=prepare_sectors(b, sectors, sector_partner, partners),
        detections=None if detections is None else detections.reset_index(drop=True),
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        time_from=t_from,
        time_to=t_to,
    )


def corridor_polygon(b: Border, corridor_km: float) -> shapely.Geometry:
    """The border buffered by ``corridor_km`` on the ground, in the analysis CRS.

    The buffer distance is scaled by the mean scale factor of the analysis CRS along the
    border.
    """
    acrs = b.acrs
    border_lines = [shapely.LineString(xy) for xy in b.xy]
    k_mean = float(
        np.mean(local_scale_and_convergence(acrs, *shapely.get_coordinates(b.lines_lonlat).T)[0])
    )
    return shapely.union_all(
        shapely.buffer(np.asarray(border_lines, dtype=object), corridor_km * 1000.0 * k_mean)
    )


def prepare_sectors(
    b: Border,
    sectors: gpd.GeoDataFrame | None,
    sector_partner: NDArray[np.object_],
    partners: list[str],
) -> Sectors:
    """Project the sectors and cut the border into them (see :class:`Sectors`)."""
    if sectors is not None and len(sectors):
        sectors = sectors.reset_index(drop=True)
        sector_poly = to_projected(sectors.geometry.to_numpy(), b.acrs)
        sec_owner, sec_ivs = polygon_border_intervals(b, sector_poly)
        ids = sectors["sector_id"].astype(str).to_numpy(dtype=object)
    else:
        sector_poly = np.empty(0, dtype=object)
        sec_owner, sec_ivs = np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
        ids = np.empty(0, dtype=object)
    by_partner = {p: iv.union(iv.select(sec_ivs, sec_owner, sector_partner == p)) for p in partners}
    n = len(sector_poly)
    per_sector = [iv.union(iv.select(sec_ivs, sec_owner, np.arange(n) == j)) for j in range(n)]
    return Sectors(
        table=sectors,
        polygons=sector_poly,
        ids=ids,
        partner=sector_partner,
        per_sector=per_sector,
        by_partner=by_partner,
        unassigned=iv.subtract(b.spans, iv.union(sec_ivs)),
        contested=iv.at_least_of(by_partner.values(), k=2),
    )


__all__ = [
    "Scene",
    "Sectors",
    "check_wgs84",
    "corridor_polygon",
    "prepare_scene",
    "prepare_sectors",
    "time_window",
]
