"""Where the positions are in a plain table (CSV, Parquet without GeoParquet metadata).

A WKT column (:data:`WKT_NAMES`, an EWKT ``SRID=`` prefix setting the CRS) or latitude and
longitude columns (:data:`LAT_NAMES`, :data:`LON_NAMES`), matched by normalised name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.raw import CURVE_REASON, decode_geometries, normalise_name

__all__ = ["LAT_NAMES", "LON_NAMES", "WKT_NAMES", "find_geometry_columns", "parse_wkt"]


#: Names (normalised) of a WKT geometry column and of lat/lon columns, in order of preference.
WKT_NAMES: tuple[str, ...] = ("wkt", "geometry", "geom", "the_geom")
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "y")
LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x")


def find_geometry_columns(
    columns: Sequence[str], source: str
) -> tuple[str | None, tuple[str, str] | None, list[str]]:
    """Find a WKT column or lat/lon columns; return (wkt, (lon, lat), notes)."""
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalise_name(c), c)
    wkt = next((by_norm[n] for n in WKT_NAMES if n in by_norm), None)
    lat = next((by_norm[n] for n in LAT_NAMES if n in by_norm), None)
    lon = next((by_norm[n] for n in LON_NAMES if n in by_norm), None)
    if wkt is not None:
        notes = [f"geometry read from WKT column {wkt!r}"]
        if lat is not None or lon is not None:
            notes.append(f"ignored coordinate columns {lon!r}/{lat!r}: the WKT column is used")
        return wkt, None, notes
    if lat is not None and lon is not None:
        return (
            None,
            (lon, lat),
            [f"positions read from columns {lat!r} (latitude) and {lon!r} (longitude)"],
        )
    shown = ", ".join(repr(c) for c in columns[:20]) or "none"
    if lat is not None or lon is not None:
        have, miss, names = (
            ("latitude", "longitude", LON_NAMES) if lat else ("longitude", "latitude", LAT_NAMES)
        )
        raise ValidationError(
            describe(
                source,
                f"found a {have} column but no {miss} column",
                field=miss,
                expected=f"a column named one of {', '.join(names)}",
                got=shown,
                fix=f"Add or rename the {miss} column",
            )
        )
    raise ValidationError(
        describe(
            source,
            "no geometry columns",
            field="geometry",
            expected="a WKT column (" + ", ".join(WKT_NAMES) + ") or latitude/longitude "
            "columns (" + "/".join(LAT_NAMES) + " and " + "/".join(LON_NAMES) + ")",
            got=f"columns {shown}",
            fix="Add 'lat' and 'lon' columns in WGS84 degrees, or a 'wkt' column",
        )
    )


def parse_wkt(values: pd.Series) -> tuple[np.ndarray, list[tuple[int, str]], int | None]:
    """Parse a WKT column; return geometries, (position, reason) failures and an EWKT SRID."""
    text = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    srid: int | None = None
    present = pd.notna(text)
    if present.any():
        s = pd.Series(text[present]).astype(str).str.strip()
        m = s.str.extract(r"^SRID=(\d+);", expand=False)
        if m.notna().all() and m.nunique() == 1:
            srid = int(m.iloc[0])
        if m.notna().any():
            s = s.str.replace(r"^SRID=\d+;", "", regex=True)
        text = text.copy()
        text[present] = s.to_numpy(dtype=object)
    geoms, curves = decode_geometries(text, "wkt")
    fails = [
        (
            int(i),
            f"could not parse the WKT {str(text[i])[:60]!r}: "
            + (
                CURVE_REASON
                if curves[i]
                else "expected e.g. 'POINT (14.5 45.8)' (longitude latitude)"
            ),
        )
        for i in np.flatnonzero(present & pd.isna(geoms))
    ]
    return np.asarray(geoms, dtype=object), fails, srid
