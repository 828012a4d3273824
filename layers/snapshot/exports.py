"""The data export of one view (:mod:`geo.export`) as one downloadable file, for the app."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeGuard

import geopandas as gpd

from geo.core.errors import ValidationError
from geo.coverage.views import JOINT
from geo.export import FORMATS as EXPORT_FORMATS
from geo.export import ExportFormat, export_layers, write_export, write_export_pages

#: Data export format -> (file suffix, MIME type) of :func:`export_bytes`' one file.
EXPORT_FILES: dict[str, tuple[str, str]] = {
    "geojson": (".geojson.zip", "application/zip"),
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "kml": (".kml", "application/vnd.google-earth.kml+xml"),
    "csv": (".csv.zip", "application/zip"),
}
#: Data-export layers and the map layer that shows each (export only what the map shows).
EXPORT_SHOWN_BY: dict[str, str] = {
    "gaps": "gaps",
    "coverage": "footprints",
    "overlaps": "overlaps",
    "sectors": "sectors",
    "detections": "detections",
}
#: The data-export layer of the exposed stretches (coverage over time, ``docs/timeline.md``),
#: written after the analysis' layers when the map shows the exposure (``exposed=``).
EXPOSED_LAYER = "exposed_stretches"


def _is_export_format(value: str) -> TypeGuard[ExportFormat]:
    """Whether ``value`` is one of :data:`geo.export.FORMATS`."""
    return value in EXPORT_FORMATS


def export_bytes(
    result: Any,
    *,
    fmt: str,
    partner: str | None = None,
    shown: Iterable[str] | None = None,
    exposed: gpd.GeoDataFrame | None = None,
    detections: Callable[[], Iterable[gpd.GeoDataFrame]] | None = None,
) -> bytes:
    """The data export of one view (:mod:`geo.export`) as one downloadable file.

    Parameters
    ----------
    result
        The analysis (already restricted to the time window).
    fmt
        One of :data:`geo.export.FORMATS`. GeoJSON and CSV (a folder, one file per layer)
        come zipped; GeoPackage and KML are one file.
    partner
        Export only this partner's view (as ``python -m geo export --partner``).
    shown
        Map layers shown (keys of :data:`layers.map.LAYERS`): only the export layers they show
        are written (``coverage`` with ``footprints``). ``None``: every export layer.
    exposed
        The exposed stretches the map shows (:func:`geo.timeline.exposed_layer`, one line per
        run of border unwatched longer than τ, with ``length_km``), written as the layer
        :data:`EXPOSED_LAYER`. In a partner's view only those crossing its sectors.
    detections
        Every detection of the view as pages (:func:`geo.mapview.window_detections`), when
        ``result``'s layer holds fewer (the Map page's points past the limit): called when
        the file is written, and the ``detections`` layer written from its pages one at a
        time (:func:`geo.export.write_export_pages`; in a partner's view the rows in its
        sectors). ``None``: the layer of ``result``.

    Returns
    -------
    bytes
        The file; its suffix and MIME type are in :data:`EXPORT_FILES`.

    Raises
    ------
    ValidationError
        For an unknown format or partner, or when no exported layer is shown (nor ``exposed``).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from geo.coverage.analysis import analyse
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.5, 54.1)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...     "range_m": [8000.0], "status": ["active"]},
    ...     geometry=[shapely.Point(24.1, 54.02)], crs=4326)
    >>> export_bytes(analyse(b, s), fmt="kml", shown=["gaps"])[:5]
    b'<?xml'
    """
    if not _is_export_format(fmt):
        raise ValidationError(
            f"export format: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}"
        )
    layers = export_layers(result, partner=None if partner in (None, JOINT) else partner)
    view_sectors = layers["sectors"]  # a partner's own (its detections are those in them)
    if shown is not None:
        shown = set(shown)
        layers = {k: v for k, v in layers.items() if EXPORT_SHOWN_BY[k] in shown}
    if exposed is not None:
        layers[EXPOSED_LAYER] = _exposed_in_view(exposed, result, partner)
    if shown is not None and not layers:
        wanted = ", ".join(sorted(set(EXPORT_SHOWN_BY.values())))
        raise ValidationError(
            f"data export: no exported layer is shown on the map; show one of: {wanted}"
        )
    mine = None
    if detections is not None and partner not in (None, JOINT):
        mine = frozenset(view_sectors["sector_id"].astype(str))
    return _file(layers, fmt, detections if "detections" in layers else None, mine)


def _file(
    layers: dict[str, gpd.GeoDataFrame],
    fmt: ExportFormat,
    detections: Callable[[], Iterable[gpd.GeoDataFrame]] | None,
    sector_ids: frozenset[str] | None,
) -> bytes:
    """The export of ``layers`` as one file (GeoJSON and CSV zipped); see :func:`export_bytes`."""
    write = partial(write_export, fmt=fmt)
    if detections is not None:
        write = partial(_write_pages, pages=detections, fmt=fmt, sector_ids=sector_ids)
    with tempfile.TemporaryDirectory(prefix="limes-export-") as tmp:
        if fmt in ("gpkg", "kml"):
            path = Path(tmp) / f"limes.{fmt}"
            write(layers, path)
            return path.read_bytes()
        folder = Path(tmp) / f"limes_{fmt}"
        write(layers, folder)
        archive = shutil.make_archive(str(Path(tmp) / "export"), "zip", root_dir=folder)
        return Path(archive).read_bytes()


def _write_pages(
    layers: dict[str, gpd.GeoDataFrame],
    out: Path,
    *,
    pages: Callable[[], Iterable[gpd.GeoDataFrame]],
    fmt: ExportFormat,
    sector_ids: frozenset[str] | None,
) -> dict[str, Any]:
    """Write ``layers``, the detections from ``pages()`` (see :func:`export_bytes`)."""
    return write_export_pages(layers, pages(), out, fmt=fmt, sector_ids=sector_ids)


def _exposed_in_view(
    exposed: gpd.GeoDataFrame, result: Any, partner: str | None
) -> gpd.GeoDataFrame:
    """The exposed stretches of a view: all of them, or a partner's: those in its sectors."""
    out = exposed.reset_index(drop=True)
    if partner in (None, JOINT):
        return out.copy()
    sectors = result.layers["sectors"]
    mine = sectors[sectors["partner"] == partner].geometry.union_all()
    return out[out.intersects(mine)].reset_index(drop=True)
