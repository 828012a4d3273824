"""The side panel of page 1: the legend of what the map draws, headline numbers and parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydeck as pdk
from matplotlib.figure import Figure

from geo.coverage.views import Headline, headline
from layers.legend import LegendEntry, legend_entries
from layers.map import LAYERS
from layers.snapshot.column import Column, Painter
from layers.snapshot.view import View


def _style_of(layer: Mapping[str, Any], key: str, default: Any, *, lead: bool = False) -> Any:
    """A style value of a deck layer for its legend swatch.

    A constant is returned as it is. For a value read from each record: with ``lead``, the
    value of the most opaque record (in a partner's view: the leading partner's style, as
    the others are muted); otherwise the most common value.
    """
    value = layer.get(key, default)
    if not (isinstance(value, str) and value.startswith("@@=")):
        return value
    recs = layer.get("data") or []
    if not recs:
        return default
    name = value[3:]
    if lead:
        fill = layer.get("getFillColor")
        fill_name = fill[3:] if isinstance(fill, str) and fill.startswith("@@=") else None

        def opacity(rec: Mapping[str, Any]) -> float:
            c = rec.get(fill_name) if fill_name else None
            return float(c[3]) if isinstance(c, list) and len(c) == 4 else 255.0

        return max(recs, key=opacity).get(name, default)
    counts: dict[str, tuple[int, Any]] = {}
    for rec in recs:
        v = rec.get(name, default)
        n, _ = counts.get(repr(v), (0, v))
        counts[repr(v)] = (n + 1, v)
    return max(counts.values(), key=lambda nv: nv[0])[1]


def side_panel(
    fig: Figure,
    view: View,
    box: tuple[float, float, float, float],
    *,
    unit: float,
    off_paper: set[str],
) -> tuple[list[str], dict[str, str]]:
    """Legend, headline numbers and parameters; returns the legend lines and the headline rows.

    Rows that would run out of ``box`` at the bottom (a long legend: a moment's layers, the
    tracks, the exposure) are drawn again smaller, to fit it.
    """
    first_text, first_artist = len(fig.texts), len(fig.artists)
    col, rows = _panel(fig, view, box, unit=unit, off_paper=off_paper)
    used = box[1] + box[3] - col.y
    if used > box[3]:
        for artist in [*fig.texts[first_text:], *fig.artists[first_artist:]]:
            artist.remove()
        col, rows = _panel(fig, view, box, unit=unit * box[3] / used, off_paper=off_paper)
    return col.labels, rows


def _panel(
    fig: Figure,
    view: View,
    box: tuple[float, float, float, float],
    *,
    unit: float,
    off_paper: set[str],
) -> tuple[Column, dict[str, str]]:
    """Write the side panel's rows with ``unit``; the column (where it ended) and the rows."""
    col = Column(fig, box, unit=unit)
    col.heading("Legend")
    _legend(col, view, off_paper)
    head = headline(view.result.report, view.partner)
    col.gap(0.05)
    col.heading(f"Headline ({head.scope})")
    for label, value in _headline_rows(head):
        col.pair(label, value)
    rows = dict(col.pairs)
    col.gap(0.05)
    col.heading("Analysis parameters")
    for label, value in _parameter_rows(view):
        col.pair(label, value)
    return col, rows


def _legend(col: Column, view: View, off_paper: set[str]) -> None:
    """The app's legend (:func:`layers.legend.legend_entries`) of what this page's map draws.

    The legend is read from the view's deck less the layers this map leaves out: those
    shown only when zoomed in (``off_paper``) and sub-layers with nothing to draw. A layer
    switched on with nothing in the view is listed as "none in this view".
    """
    spec = {layer["id"]: layer for layer in view.spec_layers}
    kept = [
        layer
        for layer in view.deck.layers
        if layer.id not in off_paper and (layer.id in LAYERS or not _empty(spec.get(layer.id, {})))
    ]
    entries = legend_entries(
        pdk.Deck(layers=kept, map_provider=None),
        partner_colours=view.colors,
        partner_names=view.partner_names,
        partner=view.partner,
        corridor_km=view.result.report["parameters"]["corridor_km"],
    )
    if view.counted:
        entries = [_counted_note(e, view.counted, spec.get(e.layer, {})) for e in entries]
    _partner_rows(col, [e for e in entries if e.layer == "partners"], view.partner)
    said_none: set[str] = set()
    for e in entries:
        if e.layer == "partners" or e.layer in said_none:
            continue
        if e.layer in LAYERS and _empty(spec.get(e.layer, {})):
            said_none.add(e.layer)
            col.entry(f"{e.label}: none in this view", col.blank)
            continue
        col.entry(e.label, _swatch(col, e, spec.get(e.layer, {})))
        for note in e.notes:
            col.text(note, indent=0.36, size=6.5, color="#555555")
            col.labels.append(note)
        col.gap(0.015 if e.notes else 0.0)


def _counted_note(entry: LegendEntry, counted: int, layer: Mapping[str, Any]) -> LegendEntry:
    """The hexagons' entry with how many detections they count and their range per hexagon.

    Other entries are returned as they are. ``layer``: the hexagons' deck layer (JSON).
    """
    if entry.layer != "detections" or entry.symbol != "ramp":
        return entry
    per = [int(rec.get("n", 0)) for rec in layer.get("data") or []]
    spread = f" ({min(per):,}–{max(per):,} per hexagon)" if per else ""
    note = f"{counted:,} detections counted in hexagons{spread}"
    return dataclasses.replace(entry, notes=(*entry.notes, note))


def _empty(layer: Mapping[str, Any]) -> bool:
    """Whether a deck layer (JSON; ``{}``: not in the deck) has nothing to draw."""
    return not layer.get("data") and layer.get("@@type") != "BitmapLayer"


def _partner_rows(col: Column, partners: list[LegendEntry], mine: str | None) -> None:
    """The legend's partner colours (not recorded in the summary's legend lines), if any."""
    if not partners:
        return
    col.text(
        "Partners" + ("" if mine is None else f" ({mine} leads, others muted)"), color="#444444"
    )
    for e in partners:
        col.entry(e.label, col.box(e.colours[0], (20, 20, 20, 255), 0.4), indent=0.1, record=False)
    col.gap(0.03)


def _swatch(col: Column, entry: LegendEntry, layer: Mapping[str, Any]) -> Painter:
    """The swatch painter of a legend entry (:class:`layers.legend.LegendEntry`).

    ``layer``: its deck layer.
    """
    colours = entry.colours or ((0, 0, 0, 0),)
    if entry.symbol == "line":
        width = float(_style_of(layer, "getWidth", 4)) * 0.75  # px of the app's legend -> pt
        dash = layer.get("getDashArray")
        return col.line(
            colours[0],
            width,
            dash if isinstance(dash, list) and len(dash) >= 2 and dash[0] else None,
        )
    if entry.symbol == "dot":
        if (
            entry.layer == "sensors"
        ):  # the leading partner's colour (the app takes the first sensor's)
            fill = _style_of(layer, "getFillColor", colours[0], lead=True)
            return col.dot(fill, entry.outline or (255, 255, 255, 255), size=6.0)
        return col.dot(colours[0], entry.outline, size=4.0)
    if entry.symbol == "ramp":
        return col.ramp(colours)
    if entry.symbol == "box":
        return col.box(colours[0], entry.outline)
    return col.blank


def _headline_rows(head: Headline) -> list[tuple[str, str]]:
    """Label and value of each :class:`geo.coverage.views.Headline` number as the page prints them.

    In a partner's view a border-wide figure (named in ``head.joint``) is labelled
    "(joint)", as in the app; the contested border is the partner's own: "contested with P".
    """

    def joint(name: str) -> str:
        return " (joint)" if head.partner is not None and head.scope_of(name) != head.scope else ""

    lg = head.longest
    contested = (
        "contested"
        if head.partner is None or joint("contested_km")
        else f"contested with {head.partner}"
    )
    return [
        (
            "Coverage",
            f"{head.coverage_pct:.1f} % ({head.covered_km:,.1f} of {head.length_km:,.1f} km)",
        ),
        ("Gaps", f"{head.gap_km:,.1f} km, {len(head.gaps)} stretches listed"),
        (
            "Longest gap",
            f"{lg['length_km']:,.1f} km (G1: segment {lg['segment']}, km "
            f"{lg['start_km']:,.1f}–{lg['end_km']:,.1f})"
            if lg
            else "none",
        ),
        (f"Partner overlap{joint('overlap_km')}", f"{head.overlap_km:,.1f} km"),
        (
            f"Unassigned{joint('unassigned_km')} / {contested}{joint('contested_km')}",
            f"{head.unassigned_km:,.1f} / {head.contested_km:,.1f} km",
        ),
        ("Detections in gaps", f"{head.detections_in_gaps:,} of {head.detections:,}"),
    ]


def _parameter_rows(view: View) -> list[tuple[str, str]]:
    """Label and value of each analysis parameter, terrain settings in one row."""
    params = view.result.report["parameters"]
    rows = [
        ("Corridor depth", f"{params['corridor_km']:g} km each side of the border"),
        ("Shortest gap listed", f"{params['min_gap_m']:g} m"),
        ("Detection window", view.time_text or "no detections loaded"),
    ]
    known = {"corridor_km", "min_gap_m", "time_from", "time_to"}
    extra = {k: v for k, v in params.items() if k not in known and v is not None}
    if extra.get("dem"):
        terrain = f"line of sight over DEM {Path(str(extra.pop('dem'))).name}"
        cells = view.result.report.get("terrain", {}).get("cell_size_m")
        if cells:
            terrain += f" ({cells[0]:.0f} × {cells[1]:.0f} m cells)"
        for key, text in (
            ("target_height_m", "target {:g} m above ground"),
            ("refraction_coeff", "refraction k {:g}"),
        ):
            if key in extra:
                terrain += ", " + text.format(extra.pop(key))
        rows.append(("Terrain", terrain))
    else:
        rows.append(("Terrain", "not used: flat-earth footprints (range and wedge only)"))
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in extra.items()]
    return rows
