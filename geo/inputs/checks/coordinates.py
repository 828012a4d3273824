"""Positions in range: latitude within ±90, longitude within ±180, not swapped, not (0, 0).

Row by row, a position out of range, at (0, 0) or swapped (far from the file's other
positions, and among them read the other way round) is rejected; when most rows are out
of range the whole file is refused with the likely cause (swapped columns, metres in a file
said to be in degrees, degrees in a file said to be projected).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely

from geo.core.errors import ValidationError, describe
from geo.inputs.checks.crs import crs_description, crs_label
from geo.inputs.checks.rejects import Rejects, fmt_value, reason
from geo.inputs.checks.values import to_float
from geo.inputs.readers.raw import RawLayer

__all__ = [
    "MOSTLY",
    "SWAP_MIN_POINTS",
    "all_within",
    "check_degrees",
    "check_not_degrees",
    "per_geometry",
    "points_from_columns",
    "reject_swapped",
    "swapped_outliers",
]


#: Share of rows out of the coordinate range above which a file is judged unusable.
MOSTLY: float = 0.5


def per_geometry(
    g: np.ndarray, mask: np.ndarray, test: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """True for rows in ``mask`` where ``test`` holds for any coordinate of the geometry."""
    out = np.zeros(len(g), dtype=bool)
    pos = np.flatnonzero(mask)
    if not pos.size:
        return out
    coords, idx = shapely.get_coordinates(g[pos], return_index=True)
    hit = test(coords)
    out[pos[np.unique(idx[hit])]] = True
    return out


def all_within(g: np.ndarray, mask: np.ndarray, lon_max: float, lat_max: float) -> np.ndarray:
    """True for rows in ``mask`` whose every coordinate is within +-lon_max / +-lat_max."""
    outside = per_geometry(
        g, mask, lambda c: (np.abs(c[:, 0]) > lon_max) | (np.abs(c[:, 1]) > lat_max)
    )
    return mask & ~outside


def _not_a_number(values: pd.Series, what: str) -> Callable[[int], str]:
    """The reason for the row at a position whose ``what`` (e.g. "latitude") is no number."""
    return lambda i: reason(
        "not a number", expected=f"a {what} in decimal degrees", got=fmt_value(values.iloc[i])
    )


def _not_finite(values: np.ndarray, what: str) -> Callable[[int], str]:
    """The reason for the row at a position whose ``what`` is infinite or NaN."""
    return lambda i: reason(
        "not a finite number", expected=f"a {what} in decimal degrees", got=float(values[i])
    )


def points_from_columns(raw: RawLayer, rej: Rejects) -> tuple[np.ndarray, np.ndarray]:
    """Checked longitude and latitude columns (CSV, plain Parquet); rows rejected in ``rej``."""
    assert raw.lonlat_cols is not None
    lon_col, lat_col = raw.lonlat_cols
    cols = {}
    for col, what in ((lon_col, "longitude"), (lat_col, "latitude")):
        vals, unparseable = to_float(raw.attrs[col])
        series = raw.attrs[col]
        rej.reject(unparseable, col, _not_a_number(series, what))
        cols[col] = vals
    lon, lat = cols[lon_col], cols[lat_col]
    for col, vals, what in ((lon_col, lon, "longitude"), (lat_col, lat, "latitude")):
        rej.reject(
            np.isnan(vals),
            col,
            reason("the value is missing", expected=f"a {what} in decimal degrees", got=None),
        )
        rej.reject(~np.isfinite(vals), col, _not_finite(vals, what))
    alive = rej.alive
    out_lon = alive & (np.abs(lon) > 180)
    out_lat = alive & (np.abs(lat) > 90)
    out = out_lon | out_lat
    n_ok = int(alive.sum())
    if n_ok and out.sum() > MOSTLY * n_ok:
        _raise_out_of_range(
            raw,
            lon[out],
            lat[out],
            y_name=f"the {lat_col!r} column",
            what="rows",
            swap_fix=f"Swap the columns: {lat_col!r} and {lon_col!r} hold each other's values",
        )
    swappable = out & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)

    def why_out(i: int) -> str:
        base = f"({lon_col}={fmt_value(lon[i])}, {lat_col}={fmt_value(lat[i])})"
        if swappable[i]:
            return reason(
                "coordinates out of range: latitude and longitude look swapped in this row",
                expected="latitude within ±90 and longitude within ±180",
                got=base,
                fix=f"Swap the {lat_col!r} and {lon_col!r} values",
            )
        return reason(
            "coordinates out of range",
            expected="latitude within ±90 and longitude within ±180",
            got=base,
        )

    rej.reject(out_lat, lat_col, why_out)
    rej.reject(out_lon, lon_col, why_out)
    reject_swapped(
        lon,
        lat,
        rej,
        lat_col,
        lon_col,
        lat_col,
        fix=f"Swap the {lat_col!r} and {lon_col!r} values of this row",
    )
    null_island = rej.alive & (lon == 0) & (lat == 0)
    rej.reject(
        null_island,
        lat_col,
        reason(
            "position (0, 0) is almost always a missing position",
            expected="a real position",
            got="latitude 0, longitude 0",
            fix="Fill in the position or remove the row",
        ),
    )
    return lon, lat


#: Fewest valid points from which swapped rows inside the coordinate range are looked for.
SWAP_MIN_POINTS: int = 10


def swapped_outliers(lon: np.ndarray, lat: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Rows whose latitude and longitude look swapped although both are in range.

    Such a row lies far outside the file's other positions, and read the other way round
    it falls among them: detections near (14.5 E, 45.5 N) and one row at (45.5 E, 14.5 N).
    "Among them" is within Tukey's fences (quartiles widened by 1.5 interquartile ranges, at
    least 1°) of the valid points, each axis. Needs :data:`SWAP_MIN_POINTS` valid points; a
    file where more than a tenth of the rows qualify gets none flagged (a genuine second
    area). Quartiles are taken from at most 100,000 points, so a million rows cost
    milliseconds.

    Examples
    --------
    >>> lon = np.r_[np.linspace(14.0, 15.0, 20), 45.5]
    >>> lat = np.r_[np.linspace(45.0, 46.0, 20), 14.5]
    >>> np.flatnonzero(swapped_outliers(lon, lat, np.ones(21, dtype=bool))).tolist()
    [20]
    """
    out = np.zeros(len(lon), dtype=bool)
    idx = np.flatnonzero(alive)
    if idx.size < SWAP_MIN_POINTS:
        return out
    sample = idx[:: max(1, idx.size // 100_000)]
    q1, q3 = np.percentile(np.stack([lon[sample], lat[sample]]), [25, 75], axis=1)
    pad = np.maximum(1.0, 1.5 * (q3 - q1))
    lo, hi = q1 - pad, q3 + pad

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])

    far = alive & ~inside(lon, lat)
    if not far.any():
        return out
    out = far & inside(lat, lon)
    if out.sum() > 0.1 * idx.size:
        return np.zeros(len(lon), dtype=bool)
    return out


def reject_swapped(
    lon: np.ndarray,
    lat: np.ndarray,
    rej: Rejects,
    field_name: str,
    lon_name: str,
    lat_name: str,
    *,
    fix: str,
) -> None:
    """Reject the rows :func:`swapped_outliers` finds, naming the coordinates as given."""
    with np.errstate(invalid="ignore"):
        swapped = swapped_outliers(lon, lat, rej.alive)
    rej.reject(
        swapped,
        field_name,
        lambda i: reason(
            "latitude and longitude look swapped: this position is far from all the others, and "
            "read the other way round it is among them",
            expected=f"{lon_name} (longitude) and {lat_name} (latitude) near the file's other "
            "positions",
            got=f"({lon_name}={fmt_value(lon[i])}, {lat_name}={fmt_value(lat[i])})",
            fix=fix,
        ),
    )


def _raise_out_of_range(
    raw: RawLayer, xs: np.ndarray, ys: np.ndarray, *, y_name: str, what: str, swap_fix: str
) -> None:
    """Most positions are out of range: say why (swapped, metres) and raise.

    ``xs``/``ys`` are the out-of-range positions (one per row, or every vertex), ``what``
    names them in the message ("rows", "vertices").
    """
    source = raw.source
    says = (
        f"the file is assumed to be in degrees ({raw.crs_assumed})"
        if raw.crs_assumed
        else f"the file says degrees ({crs_label(raw.crs) if raw.crs else '?'})"
    )
    big = (np.abs(xs) > 1000) | (np.abs(ys) > 1000)
    if big.mean() > 0.5:
        i = int(np.flatnonzero(big)[0])
        raise ValidationError(
            describe(
                source,
                f"coordinates look like metres (e.g. {xs[i]:.0f}, {ys[i]:.0f}) but {says}",
                expected="longitude within ±180 and latitude within ±90",
                got=f"{what} with values beyond ±1000: {int(big.sum())}",
                fix="Give the file's real CRS (e.g. add the .prj, or save as GeoPackage with its "
                "CRS), or convert the coordinates to WGS84 longitude/latitude",
            )
        )
    if np.all((np.abs(ys) <= 180) & (np.abs(xs) <= 90)):
        raise ValidationError(
            describe(
                source,
                f"looks like latitude and longitude are swapped ({y_name} holds values up "
                f"to {np.nanmax(np.abs(ys)):g}, but latitude must be within ±90)",
                expected="latitude within ±90",
                got=f"{what} out of range: {len(ys)}",
                fix=swap_fix,
            )
        )
    raise ValidationError(
        describe(
            source,
            "most coordinates are outside longitude ±180 / latitude ±90",
            expected="WGS84 degrees",
            got=f"{what} out of range: {len(ys)}, e.g. ({fmt_value(xs[0])}, {fmt_value(ys[0])})",
            fix="Check the coordinate columns and the file's CRS",
        )
    )


def check_degrees(g: np.ndarray, rej: Rejects, raw: RawLayer) -> None:
    """Range checks for a geographic CRS; decide whether the whole file is unusable."""
    alive = rej.alive.copy()
    n_ok = int(alive.sum())
    if not n_ok:
        return
    out = alive & ~all_within(g, alive, 180, 90)
    gf = raw.geometry_field
    if out.sum() > MOSTLY * n_ok:
        coords = shapely.get_coordinates(g[out])
        _raise_out_of_range(
            raw,
            coords[:, 0],
            coords[:, 1],
            y_name="y (latitude)",
            what="vertices",
            swap_fix="Swap the coordinates: the file holds "
            "(latitude, longitude) pairs where GeoJSON/WKT/GIS files expect "
            "(longitude, latitude)",
        )
    swappable = _all_within_swapped(g, out)

    def why(i: int) -> str:
        xy = shapely.get_coordinates(g[i])
        bad = xy[(np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)][0]
        got = f"({fmt_value(bad[0])}, {fmt_value(bad[1])})"
        if swappable[i]:
            return reason(
                "coordinates out of range: latitude and longitude look swapped",
                expected="(longitude within ±180, latitude within ±90)",
                got=got,
                fix="Swap the coordinates of this feature",
            )
        return reason(
            "coordinates out of range",
            expected="(longitude within ±180, latitude within ±90)",
            got=got,
        )

    rej.reject(out, gf, why)
    zero = per_geometry(g, rej.alive, lambda c: (c[:, 0] == 0) & (c[:, 1] == 0))
    rej.reject(
        zero,
        gf,
        reason(
            "a position at (0, 0) is almost always a missing or unreadable coordinate",
            expected="real coordinates",
            got="(0, 0)",
            fix="Check the coordinates of this feature",
        ),
    )


def _all_within_swapped(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    outside = per_geometry(g, mask, lambda c: (np.abs(c[:, 1]) > 180) | (np.abs(c[:, 0]) > 90))
    return mask & ~outside


def check_not_degrees(g: np.ndarray, rej: Rejects, raw: RawLayer, label: str) -> None:
    """A projected CRS whose coordinates all look like degrees is wrongly declared."""
    alive = rej.alive
    n_ok = int(alive.sum())
    if not n_ok:
        return
    small = all_within(g, alive, 180, 90)
    if small.sum() > MOSTLY * n_ok:
        assert raw.crs is not None
        unit = raw.crs.axis_info[0].unit_name if raw.crs.axis_info else "metre"
        c = shapely.get_coordinates(g[np.flatnonzero(small)[0]])[0]
        raise ValidationError(
            describe(
                raw.source,
                f"coordinates look like degrees (e.g. {c[0]:g}, {c[1]:g}) but the file "
                f"says {crs_description(raw.crs)}, whose unit is {unit}",
                expected="projected coordinates in metres",
                got=f"{int(small.sum())} of {n_ok} features within ±180/±90",
                fix="Set the file's CRS to WGS84 (EPSG:4326) without transforming the coordinates",
            )
        )
