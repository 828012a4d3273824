"""The sensor editor's table: an operation's sensors as rows to edit, and the edits checked.

The table holds what a planner may change (``status``, ``range_m``, ``azimuth_deg``,
``fov_deg``, ``height_m``) beside what identifies a sensor (id, partner, kind, position). An
edited table is checked exactly as ``python -m geo analyse`` checks a sensors file: it is
written as a CSV file and read back with :func:`geo.inputs.read_sensors`. A table with any
value ``read_sensors`` would reject is refused whole, the message naming the sensor and the
field, so nothing half-checked is ever analysed or saved.

Examples
--------
>>> from geo.core.settings import SAMPLE_DIR
>>> from geo.inputs import read_sensors
>>> sensors = read_sensors(SAMPLE_DIR / "sensors.csv")[0]
>>> table = sensor_table(sensors)
>>> table.loc[0, "range_m"] = -5
>>> checked_sensors(table, partners=["EU", "LTU", "LVA", "POL"])
Traceback (most recent call last):
...
geo.core.errors.ValidationError: the sensor table, sensor LTU-CAM-001, field 'range_m': the \
range must be positive: expected a number of metres > 0, got -5.0
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs import read_sensors
from geo.inputs.checks.schedule import SCHEDULE_FIELDS

__all__ = [
    "EDITABLE_COLUMNS",
    "SCHEDULE_COLUMNS",
    "TABLE_COLUMNS",
    "checked_sensors",
    "new_sensor",
    "sensor_table",
]

#: The columns of the editor's table, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "sensor_id",
    "partner",
    "kind",
    "status",
    "range_m",
    "azimuth_deg",
    "fov_deg",
    "height_m",
    "min_range_m",
    "lon",
    "lat",
)
#: The columns a planner edits in the table (the rest identify the sensor).
EDITABLE_COLUMNS: tuple[str, ...] = ("status", "range_m", "azimuth_deg", "fov_deg", "height_m")
#: Optional columns kept after :data:`TABLE_COLUMNS` when the sensors have them (when a
#: sensor watches: see ``docs/timeline.md``); never dropped by an edit.
SCHEDULE_COLUMNS: tuple[str, ...] = SCHEDULE_FIELDS

#: What a message calls the edited table.
SOURCE = "the sensor table"


def sensor_table(sensors: gpd.GeoDataFrame) -> pd.DataFrame:
    """A checked sensors frame as the editor's table (:data:`TABLE_COLUMNS`; lon/lat in degrees).

    The input is not changed. Examples: see the module.
    """
    if sensors.crs is None or not sensors.crs.equals("EPSG:4326"):
        raise ValueError(f"sensors: expected EPSG:4326 (lon/lat), got {sensors.crs}")
    table = pd.DataFrame(sensors.drop(columns="geometry")).reset_index(drop=True)
    table["lon"] = sensors.geometry.x.to_numpy()
    table["lat"] = sensors.geometry.y.to_numpy()
    for column in TABLE_COLUMNS:
        if column not in table:
            table[column] = np.nan
    return table.loc[:, _columns(table)]


def _columns(table: pd.DataFrame) -> list[str]:
    """:data:`TABLE_COLUMNS`, then the :data:`SCHEDULE_COLUMNS` the table has."""
    return [*TABLE_COLUMNS, *(c for c in SCHEDULE_COLUMNS if c in table)]


def new_sensor(
    *,
    sensor_id: str,
    partner: str,
    kind: str,
    lon: float,
    lat: float,
    range_m: float,
    status: str = "active",
    azimuth_deg: float | None = None,
    fov_deg: float = 360.0,
    height_m: float | None = None,
    min_range_m: float = 0.0,
) -> dict[str, Any]:
    """A row of the editor's table for a sensor to add.

    It is checked with the rest by :func:`checked_sensors`. ``height_m`` None: the default
    height of its kind.

    Examples
    --------
    >>> row = new_sensor(sensor_id="X-1", partner="LTU", kind="radar", lon=25.5, lat=54.5,
    ...                  range_m=4000)
    >>> row["height_m"], row["fov_deg"], row["status"]
    (10.0, 360.0, 'active')
    """
    default_height = settings.DEFAULT_HEIGHT_M.get(kind, math.nan)
    return {
        "sensor_id": sensor_id.strip(),
        "partner": partner,
        "kind": kind,
        "status": status,
        "range_m": float(range_m),
        "azimuth_deg": math.nan if azimuth_deg is None else float(azimuth_deg),
        "fov_deg": float(fov_deg),
        "height_m": default_height if height_m is None else float(height_m),
        "min_range_m": float(min_range_m),
        "lon": float(lon),
        "lat": float(lat),
    }


def _sensor_of_row(table: pd.DataFrame, row: int | str) -> str:
    """The sensor a 1-based row of the written table is (its id, else its row number)."""
    try:
        sid = table["sensor_id"].iloc[int(row) - 1]
    except (ValueError, IndexError):
        return f"row {row}"
    return f"row {row}" if pd.isna(sid) or not str(sid).strip() else f"sensor {sid}"


#: The first rejected row of ``read_sensors``' message when no row of a file can be used.
_FIRST_REJECTED = re.compile(
    r"sensors\.csv row (\d+)(, field '[^']*')?: (.*?)(?:; sensors\.csv row .*)?$"
)


def _about_sensor(rows: pd.DataFrame, message: str) -> str:
    """``read_sensors``' message on the written file, told of the table's sensor instead."""
    found = _FIRST_REJECTED.search(message)
    if found is None:
        return message.replace("sensors.csv", SOURCE)
    row, field, reason = found.groups()
    return f"{SOURCE}, {_sensor_of_row(rows, row)}{field or ''}: {reason}"


def _refuse_unknown_partners(table: pd.DataFrame, partners: Sequence[str]) -> None:
    for sid, partner in zip(table["sensor_id"], table["partner"], strict=True):
        if isinstance(partner, str) and partner and partner not in partners:
            raise ValidationError(
                describe(
                    f"{SOURCE}, sensor {sid}",
                    "the sensor's partner does not take part in the operation",
                    field="partner",
                    expected=f"one of {', '.join(partners)}",
                    got=partner,
                    fix="Choose one of the operation's partners",
                )
            )


def checked_sensors(table: pd.DataFrame, *, partners: Sequence[str]) -> gpd.GeoDataFrame:
    """The edited table checked as ``analyse`` checks a sensors file: the sensors frame.

    ``partners``: the operation's partner ids (a sensor of another partner is refused).
    Raises :class:`~geo.core.errors.ValidationError` naming the first sensor and field with
    a value :func:`geo.inputs.read_sensors` rejects, or an empty table. The table is not
    changed. Examples: see the module.
    """
    if not len(table):
        raise ValidationError(
            describe(
                SOURCE,
                "no sensors left",
                expected="at least one sensor",
                got="0 rows",
                fix="Keep or add a sensor before saving",
            )
        )
    rows = pd.DataFrame(table).reset_index(drop=True)
    rows = rows.loc[:, _columns(rows)]
    _refuse_unknown_partners(rows, partners)
    with tempfile.TemporaryDirectory(prefix="limes-sensors-") as tmp:
        path = Path(tmp) / "sensors.csv"
        rows.to_csv(path, index=False)  # floats as their shortest exact text
        try:
            frame, report = read_sensors(path, source_name="sensors.csv")
        except ValidationError as exc:  # no row left, or the whole table unusable
            raise ValidationError(_about_sensor(rows, str(exc))) from None
    if report.rejected:
        error = report.rejected[0]
        more = len(report.rejected) - 1
        raise ValidationError(
            f"{SOURCE}, {_sensor_of_row(rows, error.row)}"
            + (f", field '{error.field}'" if error.field else "")
            + f": {error.reason}"
            + (f" ({more} more value(s) to fix)" if more else "")
        )
    return frame
