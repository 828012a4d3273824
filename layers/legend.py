"""The map's legend: exactly the layers drawn, in the colours they are drawn with.

:func:`legend_entries` reads the deck itself (its layers' ids and colours), so the legend
cannot drift from the map: a layer switched off, or absent from a view, has no entry. The
app shows :func:`legend_html` beside the map.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pydeck as pdk

from layers import style

__all__ = ["LegendEntry", "legend_entries", "legend_html"]

Symbol = Literal["box", "line", "dot", "ramp", "text", "none"]


@dataclass(frozen=True)
class LegendEntry:
    """One line of the legend.

    Attributes
    ----------
    layer
        Key of :data:`layers.map.LAYERS` the entry stands for.
    label
        What the user reads.
    symbol
        How the swatch is drawn.
    colours
        RGBA colours of the swatch (a ramp has several).
    outline
        Outline colour of a box or dot, if any.
    notes
        Smaller lines under the entry (e.g. the ramp's ends, the sensor letters).
    """

    layer: str
    label: str
    symbol: Symbol
    colours: tuple[tuple[int, ...], ...] = ()
    outline: tuple[int, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def legend_entries(
    deck: pdk.Deck,
    *,
    partner_colours: Mapping[str, tuple[int, int, int]],
    partner_names: Mapping[str, str] | None = None,
    partner: str | None = None,
    corridor_km: float | None = None,
) -> list[LegendEntry]:
    """The legend of a deck made by :func:`layers.map.build_map`, in drawing order, top first.

    Parameters
    ----------
    deck
        The map.
    partner_colours
        Partner id to RGB, as the map draws them.
    partner_names
        Display names of the partners.
    partner
        The view's partner (others are muted), ``None`` for the joint view.
    corridor_km
        Corridor depth, for the corridor's label.
    """
    names = partner_names or {}
    by_id = {layer.id: layer for layer in deck.layers}
    out: list[LegendEntry] = []
    if {"sectors", "footprints", "sensors"} & by_id.keys():
        out += _partner_entries(partner_colours, names, partner)
    out += _line_entries(by_id, partner_colours, partner)
    if "detections" in by_id:
        out += _detection_entries(by_id)
    out += _area_entries(by_id, partner=partner, corridor_km=corridor_km)
    out += _timeline_entries(by_id, partner_colours, partner)
    if "plan_sites" in by_id:
        out.append(
            LegendEntry(
                "plan_sites",
                "Suggested site (number: its rank)",
                "dot",
                (style.SITE_FILL,),
                outline=style.SITE_LINE,
            )
        )
    return out


def _timeline_entries(
    by_id: Mapping[str, pdk.Layer],
    partner_colours: Mapping[str, tuple[int, int, int]],
    partner: str | None,
) -> list[LegendEntry]:
    """Coverage over time (``layers.timeline``): exposure, tracks and the moment shown."""
    lead = (
        partner_colours.get(partner, (90, 90, 90))
        if partner
        else next(iter(partner_colours.values()), (90, 90, 90))
    )
    out = []
    if "moment_watched" in by_id:
        out.append(
            LegendEntry(
                "moment",
                "Border watched at the moment shown (white)",
                "line",
                ((255, 255, 255, 255),),
                outline=(20, 20, 20, 255),
            )
        )
    if "moment_tracks" in by_id:
        out.append(
            LegendEntry(
                "moment",
                "Drone or patrol at the moment, with its range (partner colour)",
                "dot",
                ((*lead[:3], 255),),
                outline=(255, 255, 255, 255),
                notes=("only the sensors active at the moment show their footprints",),
            )
        )
    if "exposed" in by_id:
        out.append(
            LegendEntry(
                "exposure",
                "Exposed: unwatched longer than the crossing time τ",
                "line",
                ((255, 176, 0, 170),),
            )
        )
    if "tracks" in by_id:
        out.append(
            LegendEntry(
                "tracks", "Track of a drone or patrol (partner colour)", "line", ((*lead[:3], 220),)
            )
        )
    return out


def _partner_entries(
    partner_colours: Mapping[str, tuple[int, int, int]],
    names: Mapping[str, str],
    partner: str | None,
) -> list[LegendEntry]:
    """One box per partner in its colour; in a partner's view the others are muted."""
    out = []
    for p, rgb in partner_colours.items():
        lead = partner in (None, p)
        label = f"{p} — {names[p]}" if names.get(p) and names[p] != p else p
        out.append(
            LegendEntry(
                "partners",
                label + ("" if lead else " (muted)"),
                "box",
                ((*rgb, 255 if lead else 90),),
            )
        )
    return out


def _line_entries(
    by_id: Mapping[str, pdk.Layer],
    partner_colours: Mapping[str, tuple[int, int, int]],
    partner: str | None,
) -> list[LegendEntry]:
    """The border's layers (gaps, watched border, overlaps) and the sensors."""
    out = []
    if "gaps" in by_id:
        notes = (
            ("G1, G2 … : the longest gaps, as in the gap table",) if "gap_labels" in by_id else ()
        )
        out.append(
            LegendEntry(
                "gaps", "Gap: border no sensor watches", "line", (tuple(style.GAP),), notes=notes
            )
        )
        if "gaps_others" in by_id:
            out.append(
                LegendEntry(
                    "gaps", "Gap in other partners' sectors", "line", ((*style.GAP[:3], 110),)
                )
            )
    if "border" in by_id:
        out.append(
            LegendEntry(
                "border",
                "Border, watched",
                "line",
                (tuple(style.COVERED),),
                notes=("thin dark line: the border itself",),
            )
        )
    if "overlaps" in by_id:
        out.append(
            LegendEntry(
                "overlaps",
                "Partner overlap: border watched by 2+ partners",
                "line",
                (tuple(style.OVERLAP),),
            )
        )
    if "sensors" in by_id:
        kinds = " · ".join(
            f"{sym} {kind.replace('_', ' ')}" for kind, sym in _kind_symbols().items()
        )
        lead = (
            partner_colours.get(partner, (90, 90, 90))
            if partner
            else next(iter(partner_colours.values()), (90, 90, 90))
        )
        out.append(
            LegendEntry(
                "sensors",
                "Sensor (partner colour; grey: inactive)",
                "dot",
                ((*lead[:3], 255),),
                outline=(255, 255, 255, 255),
                notes=(f"letters when zoomed in: {kinds}",),
            )
        )
    return out


def _detection_entries(by_id: Mapping[str, pdk.Layer]) -> list[LegendEntry]:
    """The detections: hexagons (a ramp with its ends) and circles in gaps, or points."""
    out = []
    layer = by_id["detections"]
    if layer.type == "PolygonLayer":
        ramp = tuple(tuple(int(v) for v in c) for c in style.DENSITY_RAMP)
        data = layer.data if isinstance(layer.data, list) else []
        counts = [int(d.get("n", 0)) for d in data]
        top = int(np.percentile(counts, 98)) if counts else 0
        out.append(
            LegendEntry(
                "detections",
                "Detections per hexagon",
                "ramp",
                ramp,
                notes=(f"light: 1 · dark: {top:,} or more",),
            )
        )
        if "gap_detections" in by_id:
            out.append(
                LegendEntry(
                    "detections",
                    "Detections in gaps (circle area: count)",
                    "dot",
                    (tuple(style.DETECTION["gap"]),),
                )
            )
    else:
        out.append(LegendEntry("detections", "Detections", "none"))
    if "detection_points_gap" in by_id or layer.type == "ScatterplotLayer":
        label = "zoomed in, as points:" if layer.type == "PolygonLayer" else "points:"
        out.append(
            LegendEntry("detections", f"{label} in a gap", "dot", (tuple(style.DETECTION["gap"]),))
        )
        out.append(
            LegendEntry(
                "detections", f"{label} in coverage", "dot", (tuple(style.DETECTION["coverage"]),)
            )
        )
        out.append(
            LegendEntry(
                "detections",
                f"{label} outside the corridor",
                "dot",
                (tuple(style.DETECTION["outside"]),),
            )
        )
    return out


def _area_entries(
    by_id: Mapping[str, pdk.Layer], *, partner: str | None, corridor_km: float | None
) -> list[LegendEntry]:
    """The areas under the border: corridor areas, footprints, sectors, terrain and the basemap."""
    out = []
    if "overlap_areas" in by_id:
        out.append(
            LegendEntry(
                "overlap_areas", "Overlap area in corridor", "box", (tuple(style.OVERLAP_AREA),)
            )
        )
    if "gap_areas" in by_id:
        out.append(
            LegendEntry("gap_areas", "Blind area in corridor", "box", (tuple(style.GAP_AREA),))
        )
    if "footprints" in by_id:
        out.append(
            LegendEntry(
                "footprints",
                "Sensor footprint (partner colour)",
                "box",
                ((120, 120, 120, 50),),
                outline=(120, 120, 120, 200),
            )
        )
    if "sectors" in by_id:
        out.append(
            LegendEntry(
                "sectors",
                "Patrol sector (partner colour, labelled)",
                "box",
                ((120, 120, 120, 45),),
                outline=(120, 120, 120, 230),
            )
        )
    if "corridor" in by_id:
        depth = f" ({corridor_km:g} km each side)" if corridor_km else ""
        out.append(
            LegendEntry(
                "corridor",
                f"Corridor{depth}",
                "box",
                (tuple(style.CORRIDOR),),
                outline=(90, 90, 90, 160),
            )
        )
    if "coverage_count" in by_id:
        ramp = tuple((*(int(v) for v in c), style.COVERAGE_ALPHA) for c in style.COVERAGE_RAMP)
        whose = "the partner's sensors" if partner else "sensors"
        out.append(
            LegendEntry(
                "coverage_count",
                f"Line of sight: {whose} seeing each place",
                "ramp",
                ramp,
                notes=("light: 1 · dark: 6 or more",),
            )
        )
    if "hillshade" in by_id:
        out.append(LegendEntry("hillshade", "Terrain (hillshade)", "box", ((150, 150, 150, 160),)))
    if "basemap" in by_id:
        out.append(
            LegendEntry(
                "basemap",
                "Land · sea (country outlines)",
                "box",
                (tuple(style.BASEMAP_FILL),),
                outline=tuple(style.BASEMAP_LINE),
            )
        )
        if "places" in by_id:
            out.append(
                LegendEntry("basemap", "Town or city (GeoNames)", "dot", (tuple(style.PLACE),))
            )
    return out


def _kind_symbols() -> dict[str, str]:
    from layers.deck import KIND_SYMBOLS

    return KIND_SYMBOLS


def _css(rgba: Sequence[int]) -> str:
    r, g, b = (int(v) for v in rgba[:3])
    a = (int(rgba[3]) if len(rgba) > 3 else 255) / 255
    return f"rgba({r},{g},{b},{a:.2f})"


def _swatch(entry: LegendEntry) -> str:
    outline = f"border:1px solid {_css(entry.outline)};" if entry.outline else ""
    if entry.symbol == "line":
        return (
            '<span style="display:inline-block;width:22px;height:5px;border-radius:3px;'
            f"background:{_css(entry.colours[0])};{outline}margin:0 6px 2px 0;"
            "vertical-align:middle"
            '"></span>'
        )
    if entry.symbol == "dot":
        return (
            '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
            f"background:{_css(entry.colours[0])};{outline}margin:0 8px 0 6px;"
            'vertical-align:middle;box-shadow:0 0 0 1px rgba(0,0,0,.25)"></span>'
        )
    if entry.symbol == "ramp":
        stops = ",".join(_css(c) for c in entry.colours)
        return (
            '<span style="display:inline-block;width:22px;height:12px;'
            f"background:linear-gradient(90deg,{stops});margin:0 6px 0 0;"
            'vertical-align:middle;border:1px solid rgba(0,0,0,.2)"></span>'
        )
    if entry.symbol == "box":
        return (
            '<span style="display:inline-block;width:20px;height:12px;'
            f"background:{_css(entry.colours[0])};{outline}margin:0 7px 0 1px;"
            'vertical-align:middle"></span>'
        )
    return '<span style="display:inline-block;width:29px"></span>'


def legend_html(entries: Sequence[LegendEntry]) -> str:
    """The legend as a compact HTML block (one line per entry, notes in small grey type).

    Each entry carries ``data-layer`` so a browser test can read which layers it lists.
    """
    rows = []
    for e in entries:
        notes = "".join(
            '<div style="margin-left:29px;color:#666;font-size:0.72rem;line-height:1.25">'
            f"{html.escape(n)}</div>"
            for n in e.notes
        )
        rows.append(
            f'<div class="limes-legend-entry" data-layer="{html.escape(e.layer)}" '
            'style="margin:1px 0">'
            f"{_swatch(e)}<span>{html.escape(e.label)}</span>{notes}</div>"
        )
    return (
        '<div class="limes-legend" style="font-size:0.8rem;line-height:1.45">'
        '<div style="font-weight:600;margin-bottom:2px">Legend</div>' + "".join(rows) + "</div>"
    )
