"""Coverage over time in a snapshot: the timeline's layers of a view, its note and summary.

One code path for every snapshot that draws the timeline (``docs/timeline.md``):
``python -m geo snapshot --at/--exposure`` (``cli/snapshot_timeline.py``), the Map page's
"Download this view" and the Export page. The caller hands over what it computed (the
tracks' lines, the exposed runs for τ, one :class:`geo.timeline.Moment`) and gets the layers
to draw (:func:`layers.snapshot.render_snapshot`'s ``timeline_layers``), the line added to
the subtitle (``note``) and a JSON-ready summary of what is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from layers import timeline as lt


@dataclass(frozen=True)
class OverTime:
    """The timeline's part of one snapshot.

    Attributes
    ----------
    layers
        Deck layers by id (:mod:`layers.timeline`): ``tracks``, ``exposed`` and the moment's
        (``footprints`` of the sensors active then, ``moment_watched``, ``moment_tracks``…).
    note
        The subtitle's line: the moment and the share of the border watched then, the
        exposure and its km; ``None`` when neither is drawn.
    summary
        ``tracks`` (ids drawn; given tracks, even none), ``exposure``
        (``crossing_time_min``, ``exposed_km``, ``stretches``), ``moment`` (``at``,
        ``watched_pct``, ``watched_km``, ``active_sensors``, ``inactive_sensors``,
        ``tracks_watching``), each when drawn.
    """

    layers: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def over_time(
    *,
    colors: Mapping[str, tuple[int, int, int]],
    partner: str | None = None,
    timezone: str = "UTC",
    tracks: gpd.GeoDataFrame | None = None,
    exposed: gpd.GeoDataFrame | None = None,
    crossing_time_min: float | None = None,
    moment: Any = None,
    centre_deg: float | None = None,
) -> OverTime:
    """The timeline's layers, note and summary of one view (see :class:`OverTime`).

    Parameters
    ----------
    colors
        Partner -> RGB (:func:`layers.style.partner_colors`).
    partner
        The partner whose view is drawn (the others' tracks muted, as their sensors).
    timezone
        IANA zone the moment is named in (named beside it).
    tracks
        Track lines (:func:`layers.timeline.track_lines`), drawn when given and not empty.
    exposed
        The exposed runs for ``crossing_time_min``
        (:func:`geo.timeline.exposed_layer` with :func:`layers.timeline.with_length`).
    crossing_time_min
        τ of ``exposed`` (min); required with it.
    moment
        A :class:`geo.timeline.Moment`: the border watched then, the sensors and tracks.
    centre_deg
        The map's centre longitude (the analysis CRS's, ``result.acrs.lon_centre_deg``):
        every layer is drawn wrapped round it (:func:`layers.deck.wrap_frame`), as the
        analysis' own layers are, so nothing across 180° is drawn a world away. ``None``:
        longitudes as they are.

    Returns
    -------
    OverTime
        Empty (no layers, no note) when nothing is given.

    Examples
    --------
    >>> over_time(colors={}).note is None
    True
    """
    layers: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    if tracks is not None:
        if len(tracks):
            layers["tracks"] = lt.tracks_layer(
                tracks, colors, highlight=partner, centre_deg=centre_deg
            )
        summary["tracks"] = sorted(tracks["track_id"].astype(str))
    if exposed is not None:
        tau = _tau(crossing_time_min)
        layers["exposed"] = lt.exposure_layer(exposed, tau, centre_deg=centre_deg)
        summary["exposure"] = {
            "crossing_time_min": tau,
            "exposed_km": round(lt.exposed_km(exposed), 6),
            "stretches": len(exposed),
        }
    if moment is not None:
        layers.update(
            lt.moment_layers(moment, colors, highlight=partner, tz=timezone, centre_deg=centre_deg)
        )
        summary["moment"] = moment_summary(moment)
    note = over_time_note(
        exposed=exposed, crossing_time_min=crossing_time_min, moment=moment, timezone=timezone
    )
    return OverTime(layers=layers, note=note, summary=summary)


def _tau(crossing_time_min: float | None) -> float:
    if crossing_time_min is None:
        raise ValueError("over_time: exposed runs need their crossing_time_min")
    return float(crossing_time_min)


def over_time_note(
    *,
    exposed: gpd.GeoDataFrame | None = None,
    crossing_time_min: float | None = None,
    moment: Any = None,
    timezone: str = "UTC",
) -> str | None:
    """The subtitle's line of :func:`over_time` (same arguments): the moment, the exposure.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"length_km": [1.25, 2.0]})
    >>> over_time_note(exposed=runs, crossing_time_min=45)
    'amber: border exposed longer than 45 min (3.2 km)'
    """
    from geo.core.times import zone_text  # geo is below layers; the one time format

    notes = []
    if moment is not None:
        notes.append(
            f"moment {zone_text(moment.when, timezone)} {timezone}: "
            f"{moment.watched_pct:.1f} % of the border watched"
        )
    if exposed is not None:
        tau = _tau(crossing_time_min)
        notes.append(
            f"amber: border exposed longer than {tau:g} min ({lt.exposed_km(exposed):,.1f} km)"
        )
    return " · ".join(notes) or None


def moment_summary(moment: Any) -> dict[str, Any]:
    """What is watched at one :class:`geo.timeline.Moment`, JSON-ready."""
    return {
        "at": moment.when.isoformat().replace("+00:00", "Z"),
        "watched_pct": round(moment.watched_pct, 4),
        "watched_km": round(moment.watched_km, 6),
        "active_sensors": moment.active_ids,
        "inactive_sensors": [str(s) for s in moment.sensor_ids[~moment.active]],
        "tracks_watching": sorted(moment.positions["track_id"].astype(str)),
    }
