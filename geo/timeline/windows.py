"""When each static sensor watches, as exact time intervals within the window.

Times are seconds after the window's start (``time_from``), float64: a year is resolved to
well under a microsecond. A sensor watches when it is active (``status``), inside
``[active_from, active_to]``, inside one of its daily ``schedule`` windows (UTC) when it has
a schedule, and outside its ``outages``. Without those columns it watches all the time.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.coverage import intervals as iv
from geo.inputs.checks.schedule import daily_windows, outage_intervals

__all__ = ["Window", "daily_intervals", "sensor_windows"]

_DAY_S = 86_400.0


class Window:
    """The analysed time window: ``start`` (UTC) and its length ``length_s`` (s).

    Examples
    --------
    >>> w = Window(pd.Timestamp("2026-05-01T00:00Z"), pd.Timestamp("2026-05-02T00:00Z"))
    >>> w.length_s, w.seconds(pd.Timestamp("2026-05-01T06:00Z"))
    (86400.0, 21600.0)
    """

    def __init__(self, start: pd.Timestamp, end: pd.Timestamp) -> None:
        self.start = start
        self.end = end
        self.length_s = (end - start).total_seconds()
        #: Seconds from the Unix epoch (a UTC midnight) to the window's start.
        self.epoch_s = (start - pd.Timestamp("1970-01-01T00:00Z")).total_seconds()

    def seconds(self, ts: pd.Timestamp) -> float:
        """``ts`` as seconds after the window's start."""
        return float((ts - self.start).total_seconds())

    def seconds_array(self, times: pd.Series) -> NDArray[np.float64]:
        """A column of UTC times as seconds after the window's start."""
        utc = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
        us = utc.dt.as_unit("us").astype("int64").to_numpy()
        start_us = int(self.start.value) // 1000  # Timestamp.value: nanoseconds, any unit
        return (us - start_us).astype(np.float64) / 1e6


def daily_intervals(windows: list[tuple[int, int]], window: Window) -> iv.Intervals:
    """Daily windows (seconds after midnight UTC, ``end < start`` wraps) within ``window``.

    Examples
    --------
    >>> w = Window(pd.Timestamp("2026-05-01T00:00Z"), pd.Timestamp("2026-05-02T00:00Z"))
    >>> daily_intervals([(79200, 21600)], w)
    (array([    0., 79200.]), array([21600., 86400.]))
    """
    first_day = np.floor(window.epoch_s / _DAY_S) - 1
    last_day = np.floor((window.epoch_s + window.length_s) / _DAY_S) + 1
    days = np.arange(first_day, last_day + 1) * _DAY_S - window.epoch_s
    starts, ends = [], []
    for s, e in windows:
        end = e if e > s else e + _DAY_S
        starts.append(days + s)
        ends.append(days + end)
    s_all = np.clip(np.concatenate(starts), 0.0, window.length_s)
    e_all = np.clip(np.concatenate(ends), 0.0, window.length_s)
    return iv.union((s_all, e_all))


def sensor_windows(sensors: gpd.GeoDataFrame, window: Window) -> list[iv.Intervals]:
    """For each sensor, the times (s after the window's start) it watches within the window.

    Parameters
    ----------
    sensors
        Sensors as :func:`geo.inputs.read_sensors` returns them; the optional columns
        ``status``, ``active_from``, ``active_to``, ``schedule`` and ``outages`` gate them.
    window
        The analysed window.

    Returns
    -------
    list of (starts, ends)
        Merged intervals per sensor, in the sensors' order.
    """
    out: list[iv.Intervals] = []
    for i in range(len(sensors)):
        row = sensors.iloc[i]
        if "status" in sensors and str(row["status"]) != "active":
            out.append((np.empty(0), np.empty(0)))
            continue
        lo, hi = 0.0, window.length_s
        if "active_from" in sensors and pd.notna(row["active_from"]):
            lo = max(lo, window.seconds(row["active_from"]))
        if "active_to" in sensors and pd.notna(row["active_to"]):
            hi = min(hi, window.seconds(row["active_to"]))
        if hi <= lo:
            out.append((np.empty(0), np.empty(0)))
            continue
        watch: iv.Intervals = (np.array([lo]), np.array([hi]))
        if "schedule" in sensors and pd.notna(row["schedule"]):
            watch = iv.intersect(watch, daily_intervals(daily_windows(row["schedule"]), window))
        if "outages" in sensors and pd.notna(row["outages"]):
            down = outage_intervals(row["outages"])
            watch = iv.subtract(
                watch,
                (
                    np.array([window.seconds(a) for a, _ in down]),
                    np.array([window.seconds(b) for _, b in down]),
                ),
            )
        out.append(watch)
    return out
