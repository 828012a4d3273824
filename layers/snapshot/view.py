"""The view a snapshot draws, computed once: the deck, its JSON, titles, time window and region."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.core.errors import ValidationError
from geo.core.projection import AnalysisCRS, to_projected
from geo.core.times import zone_text
from geo.coverage.views import JOINT
from layers.map import DEFAULT_SHOWN, LAYERS, build_map
from layers.style import partner_colors
from layers.timeline import with_layers


@dataclass
class View:
    """Everything the pages of a snapshot draw (made by :func:`prepare_view`).

    Attributes
    ----------
    result
        The analysis (already restricted to the time window).
    acrs
        Its analysis CRS: the map's projection.
    partner
        The partner whose view is drawn; ``None`` for the joint view.
    partner_names
        Partner id -> full name.
    colors
        Partner id -> RGB, as the map draws them.
    deck
        The pydeck Deck of the view (its legend is the app's).
    spec_layers
        The deck's layers as deck.gl JSON, the spec the browser receives.
    title, subtitle, banner
        Texts of the page header and the classification banners.
    generated_at
        Time of rendering, ISO 8601 UTC (``...Z``).
    limits
        The region to show, analysis CRS (m): xmin, ymin, xmax, ymax.
    content
        The corridor, analysis CRS: map furniture keeps off it.
    time_text
        The detection time window; ``None``: no detections.
    counted
        When the map counts the window's detections in hexagons (more than the
        ``detections`` layer holds): how many; else ``None``.
    """

    result: Any
    acrs: AnalysisCRS
    partner: str | None
    partner_names: Mapping[str, str]
    colors: Mapping[str, tuple[int, int, int]]
    deck: Any
    spec_layers: list[dict[str, Any]]
    title: str
    subtitle: str
    banner: str
    generated_at: str
    limits: tuple[float, float, float, float]
    content: shapely.Geometry
    time_text: str | None
    counted: int | None = None


def prepare_view(
    result: Any,
    *,
    partner: str | None,
    shown: Iterable[str] | None,
    title: str | None,
    banner: str,
    extent: tuple[float, float, float, float] | None,
    dem: str | Path | None,
    partner_names: Mapping[str, str] | None,
    timezone: str = "UTC",
    extra_layers: Sequence[Any] = (),
    timeline_layers: Mapping[str, Any] | None = None,
    note: str | None = None,
    hexagons: gpd.GeoDataFrame | None = None,
    detections_total: int | None = None,
    detections_span: tuple[datetime, datetime] | None = None,
) -> View:
    """Check the options of a snapshot and compute its :class:`View`.

    Parameters are those of :func:`layers.snapshot.render_snapshot`.

    Raises
    ------
    ValidationError
        For an unknown partner or layer, or an unusable extent.
    """
    report = result.report
    partner = None if partner in (None, JOINT) else str(partner)
    if partner is not None and partner not in report["partners"]:
        raise ValidationError(
            f"partner: unknown partner {partner!r}; expected one of: "
            f"{', '.join(sorted(report['partners'])) or '(none)'}"
        )
    shown = DEFAULT_SHOWN if shown is None else tuple(shown)
    unknown = sorted(set(shown) - set(LAYERS))
    if unknown:
        raise ValidationError(f"layers: unknown {unknown}; expected some of {list(LAYERS)}")
    counted = _counted(result, hexagons, detections_total)
    deck = build_map(
        result, partner=partner, shown=shown, dem=dem,
        hexagons=hexagons if counted else None, total=counted,
    )  # fmt: skip
    if timeline_layers:
        deck = with_layers(deck, timeline_layers)
    if extra_layers:
        deck.layers = [*deck.layers, *extra_layers]
    spec = json.loads(deck.to_json())
    acrs = result.acrs
    names = dict(partner_names or {})
    if title is None:
        title = _default_title(result)
    view_text = _view_text(partner, names)
    time_text = _time_text(result, timezone, detections_span)
    content = shapely.union_all(to_projected(result.layers["corridor"].geometry.to_numpy(), acrs))
    # Default: the corridor, the region the app's map opens on (fitted to it).
    limits = tuple(shapely.bounds(content).tolist()) if extent is None else _limits(acrs, extent)
    return View(
        result=result,
        acrs=acrs,
        partner=partner,
        partner_names=names,
        colors=partner_colors(report["partners"], result.partner_colours),
        deck=deck,
        spec_layers=spec["layers"],
        title=str(title),
        subtitle=f"{view_text} · "
        + (f"detections {time_text}" if time_text else "no detections loaded")
        + (f" · {counted:,} detections counted in hexagons" if counted else "")
        + (f" · {note}" if note else ""),
        banner=str(banner),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        limits=limits,
        content=content,
        time_text=time_text,
        counted=counted,
    )


def _view_text(partner: str | None, names: Mapping[str, str]) -> str:
    """Whose view the snapshot is, as the subtitle starts."""
    if partner is None:
        return f"{JOINT}: every partner's assets"
    full = f" ({names[partner]})" if partner in names else ""
    return f"{partner} view{full}: its sectors and sensors lead, other partners muted"


def _default_title(result: Any) -> str:
    """``"Border coverage"`` and the names of the border's lines, if they have any."""
    border_names = [
        str(n) for n in result.layers["border"].get("name", []) if isinstance(n, str) and n
    ]
    return "Border coverage" + (
        f": {', '.join(dict.fromkeys(border_names))}" if border_names else ""
    )


def _counted(result: Any, hexagons: gpd.GeoDataFrame | None, total: int | None) -> int | None:
    """How many detections the map counts in hexagons: ``total`` when the layer holds fewer.

    ``None`` (the map draws the layer as it is) without hexagons, without a total, or when
    the ``detections`` layer holds every detection of the window.
    """
    det = result.layers.get("detections")
    if hexagons is None or total is None or det is None or total <= len(det):
        return None
    return int(total)


def _time_text(
    result: Any, timezone: str = "UTC", span: tuple[datetime, datetime] | None = None
) -> str | None:
    """The detection time window in ``timezone``, named.

    E.g. ``"2026-11-01 00:00 – 2026-11-07 23:59 UTC (all)"``. Without a window, the span of
    the detections: ``span`` (first, last) when given, else that of ``result.all_detections``.
    """
    params = result.report["parameters"]
    det = getattr(result, "all_detections", None)
    if span is None:
        if det is None or not len(det):
            return None
        span = (det["time"].min(), det["time"].max())

    def fmt(value: Any) -> str:
        return zone_text(datetime.fromisoformat(str(value).replace("Z", "+00:00")), timezone)

    first, last = span
    t0 = params.get("time_from") or first.isoformat()
    t1 = params.get("time_to") or last.isoformat()
    whole = "" if params.get("time_from") or params.get("time_to") else " (all)"
    return f"{fmt(t0)} – {fmt(t1)} {timezone}{whole}"


def _limits(acrs: AnalysisCRS, extent: Sequence[float]) -> tuple[float, float, float, float]:
    """Bounds in the analysis CRS of a lon/lat box (its outline densified)."""
    try:
        west, south, east, north = (float(v) for v in extent)
    except (TypeError, ValueError):
        raise ValidationError(
            f"extent: expected (west, south, east, north) in degrees, got {extent!r}"
        ) from None
    ok = all(map(math.isfinite, (west, south, east, north)))
    if not ok or not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
        raise ValidationError(
            "extent: expected (west, south, east, north) in degrees with west < east and "
            f"south < north, inside ±180° and ±85°, got {tuple(extent)!r}"
        )
    t = np.linspace(0.0, 1.0, 65)
    lon = np.concatenate(
        [west + (east - west) * t, np.full(65, east), east - (east - west) * t, np.full(65, west)]
    )
    lat = np.concatenate(
        [
            np.full(65, south),
            south + (north - south) * t,
            np.full(65, north),
            north - (north - south) * t,
        ]
    )
    x, y = acrs.to_proj.transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValidationError(
            f"extent: {tuple(extent)!r} is too far from the border to draw in its map projection"
        )
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())
