"""The sensor editor's table: an operation's sensors as rows to edit, and the edits checked.

The table holds what a planner may change (``kind``, ``status``, ``range_m``,
``azimuth_deg``, ``fov_deg``, ``height_m``, the position ``lon``/``lat`` and, when the
sensors have them, the schedule columns) beside what identifies a sensor (id, partner). A
partner's planner changes that partner's sensors only (:func:`refuse_other_partners`). An
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
    "refuse_other_partners",
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
#: Optional columns kept after :data:`TABLE_COLUMNS` when the sensors have them (when a
#: sensor watches: see ``docs/timeline.md``); never dropped by an edit.
SCHEDULE_COLUMNS: tuple[str, ...] = SCHEDULE_FIELDS
#: The columns a planner edits in the table (the id and partner identify the sensor).
EDITABLE_COLUMNS: tuple[str, ...] = (
    "kind",
    "status",
    "range_m",
    "azimuth_deg",
    "fov_deg",
    "height_m",
    "lon",
    "lat",
    *SCHEDULE_COLUMNS,
)

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


def refuse_other_partners(before: pd.DataFrame, after: pd.DataFrame, partner: str) -> None:
    """Refuse an edit that adds, removes or changes a sensor of a partner other than ``partner``.

    ``before``: the saved sensors; ``after``: the edited table (frames with ``sensor_id`` and
    ``partner``). A partner's planner manages that partner's sensors; an admin, any (the
    caller does not call this for an admin). Raises :class:`ValidationError` naming the first
    such sensor, its partner and what was done to it.

    Examples
    --------
    >>> a = pd.DataFrame({"sensor_id": ["L1", "P1"], "partner": ["LTU", "POL"],
    ...                   "range_m": [1000.0, 500.0]})
    >>> b = a.assign(range_m=[2000.0, 500.0])
    >>> refuse_other_partners(a, b, "LTU")  # its own sensor: allowed
    >>> refuse_other_partners(a, b.iloc[:1], "LTU")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: the sensor table, sensor P1, field 'partner': POL's \
sensor was removed, and a planner of LTU changes LTU's sensors only. Ask a planner of POL, \
or an admin, to change it; undo the change to go on
    """
    from geo.operations.changes import sensor_changes

    changes = sensor_changes(before, after)
    owner = {
        str(s): str(p)
        for frame in (before, after)
        for s, p in zip(frame["sensor_id"], frame["partner"], strict=True)
    }
    done = [
        *((s, "added") for s in changes.added),
        *((s, "removed") for s in changes.removed),
        *((s, "changed") for s in changes.changed),
    ]
    for sid, what in done:
        if owner.get(sid) != partner:
            raise ValidationError(
                describe(
                    f"{SOURCE}, sensor {sid}",
                    f"{owner.get(sid)}'s sensor was {what}, and a planner of {partner} "
                    f"changes {partner}'s sensors only",
                    field="partner",
                    fix=f"Ask a planner of {owner.get(sid)}, or an admin, to change it; undo "
                    "the change to go on",
                )
            )
