"""What the planner is asked for: the new sensors' kind and parameters, and how to choose.

:class:`SiteParams` holds them (metres and degrees, as in a sensors file);
:func:`check_params` refuses values out of range with a message naming the option;
:func:`new_sensors` turns points into a sensors frame with these parameters, the columns
:func:`geo.inputs.read_sensors` gives, so :func:`geo.coverage.analyse` reads it like any
other sensors file.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core import settings
from geo.core.errors import ValidationError

#: The objectives the planner maximises.
WEIGHTS: tuple[str, ...] = ("length", "detections")
Weight = Literal["length", "detections"]

#: Partner of the new sensors when none is given.
DEFAULT_PARTNER = "PLAN"

#: The columns of a sensors frame the planner writes (besides ``geometry``), in order.
SENSOR_COLUMNS: tuple[str, ...] = (
    "sensor_id",
    "partner",
    "kind",
    "range_m",
    "min_range_m",
    "azimuth_deg",
    "fov_deg",
    "height_m",
    "status",
)


@dataclass(frozen=True)
class SiteParams:
    """The new sensors (their kind and parameters) and how to choose their sites.

    Attributes
    ----------
    count
        How many sites to choose (>= 1).
    range_m, min_range_m
        Outer and inner range of each new sensor (ground m; ``0 <= min_range_m < range_m``).
    height_m
        The new sensors' eye above the ground (m, >= 0); used with a DEM.
    target_height_m
        Height above the ground of what must be seen (m, >= 0); used with a DEM, for every
        sensor of the analysis (as ``analyse --target-height-m``).
    azimuth_deg, fov_deg
        A wedge: centre (degrees clockwise from true north, [0, 360)) and full width
        ((0, 360]); both ``None`` for all round.
    kind
        The new sensors' kind (one of :data:`geo.core.settings.SENSOR_KINDS`).
    partner
        The new sensors' partner. With sectors it also restricts the plan to that partner:
        candidates on its side of the border, and only its sectors' border counts.
    spacing_m
        Spacing of the generated candidate grid (m, > 0), in the analysis CRS.
    corridor_km
        Depth of the corridor on each side of the border (km, > 0): where candidates are
        generated, and the corridor of the before and after analyses.
    weight
        ``"length"``: maximise the covered border km; ``"detections"``: maximise the
        detections in today's gaps that the new sensors would watch.
    time_limit_s
        Time limit of the exact solve (s, >= 0; 0 skips it).

    Examples
    --------
    >>> SiteParams(count=3, range_m=8000.0).fov_deg is None
    True
    """

    count: int
    range_m: float
    min_range_m: float = 0.0
    height_m: float = 10.0
    target_height_m: float = 2.0
    azimuth_deg: float | None = None
    fov_deg: float | None = None
    kind: str = "tower"
    partner: str | None = None
    spacing_m: float = 1000.0
    corridor_km: float = 5.0
    weight: str = "length"
    time_limit_s: float = 10.0

    def as_dict(self) -> dict[str, Any]:
        """The parameters as JSON-ready values."""
        return asdict(self)

    @property
    def sensor_partner(self) -> str:
        """The partner the new sensors get (:data:`DEFAULT_PARTNER` without one)."""
        return self.partner if self.partner else DEFAULT_PARTNER


def _number(name: str, value: float, *, low: float, strict: bool, unit: str) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low)
    if not ok:
        sign = ">" if strict else ">="
        raise ValidationError(f"{name}: expected a number {sign} {low:g} ({unit}), got {value!r}")


def check_params(params: SiteParams) -> None:
    """Refuse parameters out of range, naming the parameter, what was expected and what came.

    Raises
    ------
    geo.core.errors.ValidationError

    Examples
    --------
    >>> check_params(SiteParams(count=0, range_m=5000.0))
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: count: expected a whole number >= 1 (sites), got 0
    """
    if isinstance(params.count, bool) or not isinstance(params.count, (int, np.integer)):
        raise ValidationError(f"count: expected a whole number >= 1 (sites), got {params.count!r}")
    if params.count < 1:
        raise ValidationError(f"count: expected a whole number >= 1 (sites), got {params.count!r}")
    _number("range_m", params.range_m, low=0.0, strict=True, unit="m")
    _number("min_range_m", params.min_range_m, low=0.0, strict=False, unit="m")
    if params.min_range_m >= params.range_m:
        raise ValidationError(
            f"min_range_m: expected less than range_m ({params.range_m:g} m), "
            f"got {params.min_range_m!r}"
        )
    _number("height_m", params.height_m, low=0.0, strict=False, unit="m")
    _number("target_height_m", params.target_height_m, low=0.0, strict=False, unit="m")
    _number("spacing_m", params.spacing_m, low=0.0, strict=True, unit="m")
    _number("corridor_km", params.corridor_km, low=0.0, strict=True, unit="km")
    _number("time_limit_s", params.time_limit_s, low=0.0, strict=False, unit="s")
    _check_wedge(params.azimuth_deg, params.fov_deg)
    if params.kind not in settings.SENSOR_KINDS:
        raise ValidationError(
            f"kind: expected one of {', '.join(settings.SENSOR_KINDS)}, got {params.kind!r}"
        )
    if params.weight not in WEIGHTS:
        raise ValidationError(
            f"weight: expected one of {', '.join(WEIGHTS)}, got {params.weight!r}"
        )


def _check_wedge(azimuth_deg: float | None, fov_deg: float | None) -> None:
    if (azimuth_deg is None) != (fov_deg is None):
        raise ValidationError(
            "azimuth_deg, fov_deg: give both (a wedge) or neither (all round), "
            f"got azimuth_deg={azimuth_deg!r}, fov_deg={fov_deg!r}"
        )
    if azimuth_deg is None or fov_deg is None:
        return
    if not (math.isfinite(azimuth_deg) and 0.0 <= azimuth_deg < 360.0):
        raise ValidationError(f"azimuth_deg: expected a number in [0, 360), got {azimuth_deg!r}")
    if not (math.isfinite(fov_deg) and 0.0 < fov_deg <= 360.0):
        raise ValidationError(f"fov_deg: expected a number in (0, 360], got {fov_deg!r}")


def site_ids(n: int, taken: set[str], *, prefix: str = "SITE") -> list[str]:
    """``n`` sensor ids ``SITE-001``, ``SITE-002``, ... none of them in ``taken``.

    Examples
    --------
    >>> site_ids(2, {"SITE-001"})
    ['SITE-002', 'SITE-003']
    """
    out: list[str] = []
    k = 0
    while len(out) < n:
        k += 1
        name = f"{prefix}-{k:03d}"
        if name not in taken:
            out.append(name)
    return out


def new_sensors(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    params: SiteParams,
    *,
    sensor_ids: list[str] | None = None,
) -> gpd.GeoDataFrame:
    """A sensors frame (EPSG:4326) of new sensors at the given points, with ``params``.

    The columns are those of :func:`geo.inputs.read_sensors` (:data:`SENSOR_COLUMNS`);
    ``azimuth_deg`` is NaN and ``fov_deg`` 360 for sensors that look all round.
    """
    n = int(np.asarray(lon).size)
    ids = sensor_ids if sensor_ids is not None else site_ids(n, set())
    azimuth = np.nan if params.azimuth_deg is None or params.fov_deg is None else params.azimuth_deg
    fov = 360.0 if params.azimuth_deg is None or params.fov_deg is None else params.fov_deg
    frame = pd.DataFrame(
        {
            "sensor_id": pd.array(ids, dtype="str"),
            "partner": pd.array([params.sensor_partner] * n, dtype="str"),
            "kind": pd.array([params.kind] * n, dtype="str"),
            "range_m": np.full(n, float(params.range_m)),
            "min_range_m": np.full(n, float(params.min_range_m)),
            "azimuth_deg": np.full(n, float(azimuth)),
            "fov_deg": np.full(n, float(fov)),
            "height_m": np.full(n, float(params.height_m)),
            "status": pd.array(["active"] * n, dtype="str"),
        }
    )
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(np.asarray(lon), np.asarray(lat)), crs="EPSG:4326"
    )


__all__ = [
    "DEFAULT_PARTNER",
    "SENSOR_COLUMNS",
    "WEIGHTS",
    "SiteParams",
    "Weight",
    "check_params",
    "new_sensors",
    "site_ids",
]
