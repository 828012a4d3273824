"""Map layers of the timeline (``docs/timeline.md``): exposure, tracks and one moment.

Pure pydeck/pandas (no streamlit): the Map page's main map and ``snapshot --exposure`` /
``--at`` draw them from what :mod:`geo.timeline.views` returns (``exposed_layer``), a
:class:`geo.timeline.Moment` (what is watched at one moment), the report's ``by_hour`` and
the scenario's track fixes. :func:`with_layers` adds them to a view's deck (built and cached
by :mod:`layers.map`) without changing it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from numpy.typing import NDArray

from layers import deck as lk

__all__ = [
    "EXPOSED_RGB",
    "TIMELINE_LAYERS",
    "WATCHED_NOW_RGB",
    "by_hour_frame",
    "exposed_km",
    "exposure_deck",
    "exposure_layer",
    "moment_layers",
    "track_lines",
    "tracks_layer",
    "with_layers",
    "with_length",
]

#: Map layers of the timeline the user can switch (beside :data:`layers.map.LAYERS`).
TIMELINE_LAYERS: dict[str, str] = {
    "exposure": "Exposed longer than τ (over time)",
    "tracks": "Tracks of drones and patrols",
}

#: Colour of the border exposed longer than the crossing time: an amber band, wide and
#: translucent like a highlighter over the border's own lines (the gap crimson beneath
#: stays readable; a red line was hard to tell from it).
EXPOSED_RGB: tuple[int, int, int] = (255, 176, 0)
EXPOSED_ALPHA = 170
EXPOSED_WIDTH_PX = 11
#: The border watched at the moment shown (playback, ``snapshot --at``): white, lit, unlike
#: any partner or status colour, drawn over the border line.
WATCHED_NOW_RGB: tuple[int, int, int] = (255, 255, 255)
#: Its dark casing (RGBA).
WATCHED_NOW_CASING: tuple[int, int, int, int] = (25, 25, 25, 230)
#: Alpha of another partner's track in a partner view (as its sensors are muted).
MUTED_ALPHA = 70
#: Track lines are drawn simplified to this tolerance (degrees of lon/lat: a screen
#: tolerance, about 11 m north-south, under a pixel at the zooms the map opens on). A week
#: of sorties repeats the same paths: the sample's 21,910 fixes draw as about 3,400 vertices,
#: and deck.gl's picking (on software WebGL) stays fast enough for a click to count.
TRACK_DRAW_TOLERANCE_DEG = 1e-4


def by_hour_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """A timeline report's ``by_hour``: 24 rows, ``hour`` (UTC), ``watched_pct`` (NaN = never)."""
    rows = report["by_hour"]
    return pd.DataFrame(
        {
            "hour": [int(r["hour"]) for r in rows],
            "watched_pct": [np.nan if r["watched_pct"] is None else r["watched_pct"] for r in rows],
        }
    )


def with_length(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Runs of border (``geo.timeline.exposed_layer``) with their ``length_km`` along it."""
    return lines.assign(length_km=(lines["end_km"] - lines["start_km"]).round(6))


def exposed_km(lines: gpd.GeoDataFrame) -> float:
    """Border km in :func:`with_length`'s runs (for exposed runs: ``border.exposed_km``)."""
    return float(lines["length_km"].sum()) if len(lines) else 0.0


def exposure_layer(
    lines: gpd.GeoDataFrame, crossing_time_min: float, *, centre_deg: float | None = None
) -> pdk.Layer:
    """The exposed runs as a wide amber band, the tooltip giving km and longest unwatched.

    ``centre_deg``: the map's centre longitude (the analysis CRS's); the runs are drawn
    wrapped round it (:func:`layers.deck.wrap_frame`), as every layer of the map.
    """

    def props(r: pd.Series) -> dict[str, Any]:
        return {
            "c": [*EXPOSED_RGB, EXPOSED_ALPHA],
            "tooltip": lk._tooltip(
                f"Exposed longer than {crossing_time_min:g} min",
                {
                    "segment": int(r["segment"]),
                    "km": f"{r['start_km']:,.1f}–{r['end_km']:,.1f}",
                    "stretch": f"{r['end_km'] - r['start_km']:,.1f} km",
                    "longest unwatched": f"{r['max_unwatched_min']:,.0f} min",
                },
            ),
        }

    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(lk.wrap_frame(lines, centre_deg), props),
        id="exposed",
        get_path="path",
        get_color="c",
        width_units="'pixels'",
        get_width=EXPOSED_WIDTH_PX,
        cap_rounded=True,
        pickable=True,
    )


def track_lines(tracks: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """One line per track (fixes in time order): ``track_id``, ``partner``, ``kind``, ``fixes``.

    The lines are for drawing: simplified to :data:`TRACK_DRAW_TOLERANCE_DEG`. A track that
    crosses the antimeridian goes on past ±180° (its longitudes continuous from its first
    fix), not round the world: the map wraps it round its centre (``centre_deg`` of
    :func:`tracks_layer`).

    Empty (same columns) without tracks; a track of one fix is left out.
    """
    cols = ["track_id", "partner", "kind", "fixes"]
    if tracks is None or not len(tracks):
        return gpd.GeoDataFrame(pd.DataFrame(columns=cols), geometry=[], crs="EPSG:4326")
    ordered = tracks.sort_values(["track_id", "time"], kind="stable")
    rows, geoms = [], []
    for tid, fixes in ordered.groupby("track_id", sort=True):
        if len(fixes) < 2:
            continue
        xy = np.column_stack([_continuous_lon(fixes.geometry.x.to_numpy()), fixes.geometry.y])
        partner, kind = fixes["partner"].iloc[0], fixes["kind"].iloc[0]
        rows.append(
            {
                "track_id": str(tid),
                "partner": "unknown" if pd.isna(partner) else str(partner),
                "kind": "other" if pd.isna(kind) else str(kind),
                "fixes": len(fixes),
            }
        )
        geoms.append(shapely.LineString(xy))
    # topology need not be kept: a track crosses itself; only its drawing is simplified
    drawn = shapely.simplify(
        np.asarray(geoms, dtype=object), TRACK_DRAW_TOLERANCE_DEG, preserve_topology=False
    )
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=drawn, crs="EPSG:4326")


def _continuous_lon(lon: NDArray[np.float64]) -> NDArray[np.float64]:
    """Longitudes (degrees) with every step of more than 180° undone by whole turns.

    Consecutive fixes of a track are close: a step from 179.9° to -179.9° is 0.2° east.
    """
    dx = np.diff(lon)
    turns = np.cumsum(np.where(dx > 180.0, -360.0, np.where(dx < -180.0, 360.0, 0.0)))
    return np.r_[lon[:1], lon[1:] + turns]


def tracks_layer(
    lines: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
    centre_deg: float | None = None,
) -> pdk.Layer:
    """Track lines coloured by partner; in a partner view the others' are muted (as sensors).

    ``centre_deg``: the map's centre longitude; the lines are drawn wrapped round it
    (:func:`layers.deck.wrap_frame`): a track across 180° is one line, not one round the world.

    Not pickable: a week of tracks is thousands of vertices in deck.gl's picking pass, and
    on software WebGL that made a click on the map (a gap, a sector) miss. The drones and
    patrols at a moment of playback are pickable (their tooltips name them).
    """

    def props(r: pd.Series) -> dict[str, Any]:
        p = str(r["partner"])
        alpha = 220 if highlight is None or p == highlight else MUTED_ALPHA
        return {"c": [*colors.get(p, (120, 120, 120)), alpha], "track_id": str(r["track_id"])}

    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(lk.wrap_frame(lines, centre_deg), props),
        id="tracks",
        get_path="path",
        get_color="c",
        width_units="'pixels'",
        get_width=1.5,
        pickable=False,
    )


def exposure_deck(
    border: gpd.GeoDataFrame,
    exposed: gpd.GeoDataFrame,
    crossing_time_min: float,
    tracks: gpd.GeoDataFrame | None = None,
    track_layer: pdk.Layer | None = None,
) -> lk.CompactDeck:
    """The section's map: basemap, border, the exposed runs and (optionally) the tracks."""
    bounds = tuple(border.total_bounds)
    if tracks is not None and len(tracks):
        tb = tracks.total_bounds
        bounds = (
            min(bounds[0], tb[0]),
            min(bounds[1], tb[1]),
            max(bounds[2], tb[2]),
            max(bounds[3], tb[3]),
        )
    box = (bounds[0] - 4.0, bounds[1] - 1.0, bounds[2] + 4.0, bounds[3] + 1.0)  # the map's sides
    layers = [
        lk.basemap_layer(lk.load_countries(box), clip_to=box),
        lk.border_line_layer(border),
    ]
    if track_layer is not None:
        layers.append(track_layer)
    layers.append(exposure_layer(exposed, crossing_time_min))
    view = lk.view_state(bounds, width_px=900, height_px=460, margin_px=20)
    return lk.deck(layers, view, height=460)


def moment_layers(
    moment: Any,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
    simplify_deg: float = lk.SIMPLIFY_DEG,
    tz: str = "UTC",
    centre_deg: float | None = None,
) -> dict[str, pdk.Layer]:
    """What is watched at one moment (a :class:`geo.timeline.Moment`), as deck layers.

    Returns, by id: ``footprints`` (the flat footprints of the static sensors active at the
    moment only: it takes the place of the view's footprint layer), ``moment_watched`` (the
    border watched then, over ``moment_watched_casing``), ``moment_track_footprints`` (each
    drone's or patrol's range disk or wedge) and ``moment_tracks`` (their positions, with a
    tooltip). In a partner view the others' are muted, as their sensors are. ``centre_deg``:
    the map's centre longitude; all of them are drawn wrapped round it
    (:func:`layers.deck.wrap_frame`).
    """
    from geo.core.times import zone_text  # geo is below layers; kept local to the moment

    when = f"{zone_text(moment.when, tz)} {tz}"
    footprints = lk.wrap_frame(moment.sensor_footprints, centre_deg)
    return {
        "footprints": lk.footprints_layer(
            footprints, colors, highlight=highlight, simplify_deg=simplify_deg
        ),
        **_watched_layers(lk.wrap_frame(moment.watched_lines, centre_deg), when),
        **_track_layers(
            lk.wrap_frame(moment.positions, centre_deg),
            lk.wrap_frame(moment.track_footprints, centre_deg),
            (colors, highlight, when),
        ),
    }


def _watched_layers(lines: gpd.GeoDataFrame, when: str) -> dict[str, pdk.Layer]:
    """The border watched at the moment: white over a dark casing (seen on land and amber)."""

    def watched(r: pd.Series) -> dict[str, Any]:
        return {
            "c": [*WATCHED_NOW_RGB, 255],
            "tooltip": lk._tooltip(
                f"Watched at {when}",
                {"segment": int(r["segment"]), "km": f"{r['start_km']:,.1f}–{r['end_km']:,.1f}"},
            ),
        }

    common = {"get_path": "path", "width_units": "'pixels'"}
    return {
        "moment_watched_casing": pdk.Layer(
            "PathLayer",
            data=lk._path_records(lines, lambda r: {}),
            id="moment_watched_casing",
            get_color=list(WATCHED_NOW_CASING),
            get_width=6,
            pickable=False,
            **common,
        ),
        "moment_watched": pdk.Layer(
            "PathLayer",
            data=lk._path_records(lines, watched),
            id="moment_watched",
            get_color="c",
            get_width=3,
            pickable=True,
            **common,
        ),
    }


def _track_layers(
    pos: gpd.GeoDataFrame,
    shapes: gpd.GeoDataFrame,
    style: tuple[Mapping[str, tuple[int, int, int]], str | None, str],
) -> dict[str, pdk.Layer]:
    """Drones and patrols at the moment: their range disks or wedges and their positions.

    ``pos`` and ``shapes``: the moment's ``positions`` and ``track_footprints`` as drawn;
    ``style``: the partners' colours, the partner whose view it is, the moment's text.
    """
    colors, highlight, when = style

    def alpha(p: str, lead: int, muted: int) -> int:
        return lead if highlight is None or p == highlight else muted

    def disk(r: pd.Series) -> dict[str, Any]:
        rgb = colors.get(str(r["partner"]), (120, 120, 120))
        return {
            "fill": [*rgb, alpha(str(r["partner"]), 70, 15)],
            "line": [*rgb, alpha(str(r["partner"]), 230, 60)],
        }

    points = [
        {
            "p": [round(float(g.x), 6), round(float(g.y), 6)],
            "c": [*colors.get(str(p), (120, 120, 120)), alpha(str(p), 255, 90)],
            "tooltip": lk._tooltip(
                f"{tid} at {when}", {"partner": p, "kind": k, "range": f"{float(rng):,.0f} m"}
            ),
        }
        for g, tid, p, k, rng in zip(
            pos.geometry, pos["track_id"], pos["partner"], pos["kind"], pos["range_m"], strict=True
        )
    ]
    return {
        "moment_track_footprints": pdk.Layer(
            "PolygonLayer",
            data=lk._polygon_records(shapes, disk, simplify_deg=0.0),
            id="moment_track_footprints",
            get_polygon="polygon",
            get_fill_color="fill",
            get_line_color="line",
            line_width_min_pixels=1.5,
            stroked=True,
            pickable=False,
        ),
        "moment_tracks": pdk.Layer(
            "ScatterplotLayer",
            data=points,
            id="moment_tracks",
            get_position="p",
            get_fill_color="c",
            get_line_color=[255, 255, 255, 255],
            stroked=True,
            line_width_min_pixels=1.5,
            radius_units="'pixels'",
            get_radius=6,
            pickable=True,
        ),
    }


#: Where each timeline layer goes in a view's deck: just below the first of these ids.
_BELOW = ("sensors", "sensor_symbols", "country_labels", "places", "place_labels")
#: Drawing order of the timeline's layers, bottom first.
_TIMELINE_ORDER = (
    "moment_track_footprints",
    "tracks",
    "exposed",
    "moment_watched_casing",
    "moment_watched",
    "moment_tracks",
)


def with_layers(deck: lk.CompactDeck, layers: Mapping[str, pdk.Layer]) -> lk.CompactDeck:
    """A new deck: ``deck``'s layers with ``layers`` (by id) added, or replacing the same id.

    The timeline's layers go above the border and below the sensors and labels, in their
    own order; ``deck`` (shared by a cache) is not changed.
    """
    replaced = [layers.get(x.id, x) for x in deck.layers]
    ids = {x.id for x in replaced}
    new = [layers[k] for k in _TIMELINE_ORDER if k in layers and k not in ids]
    at = next((i for i, x in enumerate(replaced) if x.id in _BELOW), len(replaced))
    out = copy.copy(deck)
    out.layers = [*replaced[:at], *new, *replaced[at:]]
    out._json = None  # a CompactDeck memoises its JSON: this one is new
    return out
