"""Export the map layers of an analysis for briefings: GeoJSON, GeoPackage, KML or CSV.

Exports read analysis results (:class:`geo.coverage.analysis.Analysis`), never widgets. The
layers are what the map shows:

``gaps``
    uncovered border stretches (lines);
``coverage``
    footprints of *active* sensors (polygons);
``overlaps``
    border stretches seen by more than one sensor (lines);
``sectors``
    patrol sectors with their coverage statistics (polygons);
``detections``
    detections in the time window (points).

All layers are EPSG:4326. List-valued cells (``sector_ids``, ``partners``) are joined with
``","`` in every format.

Text is escaped for the format that reads it, since detections carry text other partners
supplied: in KML every text (placemark name, description and the data fields) is HTML-escaped,
as Google Earth renders them as HTML (:func:`escape_kml_text`).

Every CSV the app or the command line writes goes through :func:`csv_bytes` (files:
:func:`write_csv`), which escapes text a spreadsheet would run as a formula.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.core.antimeridian import cut_geometries_at_antimeridian
from geo.core.errors import ValidationError

__all__ = [
    "FORMATS",
    "append_detections",
    "csv_bytes",
    "escape_csv_cell",
    "escape_csv_frame",
    "escape_kml_text",
    "export_layers",
    "write_csv",
    "write_export",
    "write_export_pages",
]

ExportFormat = Literal["geojson", "gpkg", "kml", "csv"]
#: The export formats, in the order the command line lists them.
FORMATS: tuple[str, ...] = get_args(ExportFormat)
#: The exported layers, in the order they are written.
LAYERS: tuple[str, ...] = ("gaps", "coverage", "overlaps", "sectors", "detections")

#: First characters that make a spreadsheet read a text cell as a formula (CSV injection).
CSV_FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def escape_csv_cell(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula (CSV injection).

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    single quote; everything else, numbers included, is returned unchanged.

    Examples
    --------
    >>> escape_csv_cell("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> escape_csv_cell("patrol")
    'patrol'
    >>> escape_csv_cell(-3.5)
    -3.5
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with :func:`escape_csv_cell` applied to its text columns.

    Numeric, boolean and datetime columns are left as they are, so a negative longitude stays
    a number.

    Examples
    --------
    >>> escape_csv_frame(pd.DataFrame({"s": ["-x", "ok"], "lon": [-3.5, 1.0]})).to_dict("list")
    {'s': ["'-x", 'ok'], 'lon': [-3.5, 1.0]}
    """
    out = df.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):  # text categories are cells like any other
            out[col] = out[col].astype(object).map(escape_csv_cell)
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[col] = out[col].map(escape_csv_cell)
    return out


def escape_kml_text(value: Any) -> Any:
    """Text as HTML shows it literally: Google Earth renders a placemark's text as HTML.

    ``&``, ``<``, ``>`` and quotes become character references, so ``<script>`` or
    ``<img onerror=...>`` in a partner's field is shown as text, not run; a reader that is
    not a browser sees the references. Anything but text is returned unchanged.

    Examples
    --------
    >>> escape_kml_text('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape_kml_text(2.5)
    2.5
    """
    if isinstance(value, str):
        return html.escape(value, quote=True)
    return value


def csv_bytes(df: pd.DataFrame) -> bytes:
    r"""The CSV of ``df``: the one writer every CSV of the app and the command line goes through.

    UTF-8 without a byte-order mark, no index, ``\r\n`` line ends (RFC 4180: with ``\n``
    alone Python's csv writer leaves a cell holding a bare ``\r`` unquoted, and readers split
    the row there). Text cells and column names a spreadsheet would run as a formula are
    escaped (:func:`escape_csv_cell`); numbers, booleans and datetimes are written as they
    are, so a negative longitude stays a number. ``df`` is not changed.

    Parameters
    ----------
    df
        The table to write (a GeoDataFrame's geometry should already be text, e.g. WKT).

    Returns
    -------
    bytes
        The CSV file.

    Examples
    --------
    >>> csv_bytes(pd.DataFrame({"sector": ["=1+1", "LTU-1"], "lon": [-3.5, 24.0]}))
    b"sector,lon\r\n'=1+1,-3.5\r\nLTU-1,24.0\r\n"
    """
    table = escape_csv_frame(df)
    table.columns = [escape_csv_cell(c) for c in table.columns]
    return table.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    r"""Write :func:`csv_bytes` of ``df`` to the file ``path`` (replaced if it exists).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_csv(pd.DataFrame({"id": ["@x"]}), Path(tmp) / "t.csv")
    ...     (Path(tmp) / "t.csv").read_bytes()
    b"id\r\n'@x\r\n"
    """
    Path(path).write_bytes(csv_bytes(df))


def export_layers(result: Any, *, partner: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Pick the exported layers from an analysis, optionally one partner's view only.

    Parameters
    ----------
    result
        A :class:`geo.coverage.analysis.Analysis` (its ``layers`` are used).
    partner
        Keep only this partner's sectors, the gaps whose ``partners`` include it, its active
        sensors' footprints and the detections in its sectors. ``overlaps`` is left out of a
        partner's view: overlaps carry no partner and would show others' coverage.

    Returns
    -------
    dict
        Layer name -> EPSG:4326 GeoDataFrame (copies; ``result`` is not changed).

    Raises
    ------
    ValidationError
        If ``partner`` is not a partner of the sectors or sensors.
    """
    src: Mapping[str, gpd.GeoDataFrame] = result.layers
    fp = src["footprints"]
    # Sensors without a status column are all active (as geo.coverage.scene takes them).
    active = fp["status"] == "active" if "status" in fp else pd.Series(True, index=fp.index)
    layers: dict[str, gpd.GeoDataFrame] = {
        "gaps": src["gaps"].copy(),
        "coverage": fp[active].copy(),
        "overlaps": src["overlaps"].copy(),
        "sectors": src["sectors"].copy(),
    }
    if "detections" in src:
        layers["detections"] = src["detections"].copy()
    for name, gdf in layers.items():
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            raise ValidationError(
                f"export layer {name!r}: expected EPSG:4326, got {gdf.crs}; "
                "analysis layers should always be lon/lat"
            )
        # A gap or a footprint across 180° is written cut there (RFC 7946), not as a band
        # round the world; every other geometry as it is.
        gdf[gdf.geometry.name] = gpd.GeoSeries(
            cut_geometries_at_antimeridian(gdf.geometry.to_numpy()), index=gdf.index, crs=gdf.crs
        )
    if partner is None:
        return {name: gdf.reset_index(drop=True) for name, gdf in layers.items()}

    sectors = layers["sectors"]
    known = sorted(
        set(sectors["partner"].dropna().astype(str)) | set(fp["partner"].dropna().astype(str))
    )
    if partner not in known:
        raise ValidationError(
            f"--partner: unknown partner {partner!r}; expected one of: "
            f"{', '.join(known) or '(none: no sectors or sensors carry a partner)'}"
        )
    mine = sectors[sectors["partner"] == partner]
    my_ids = set(mine["sector_id"].astype(str))
    out: dict[str, gpd.GeoDataFrame] = {"sectors": mine}
    gaps = layers["gaps"]
    out["gaps"] = gaps[gaps["partners"].map(lambda v: partner in _as_list(v))]
    cov = layers["coverage"]
    out["coverage"] = cov[cov["partner"] == partner]
    if "detections" in layers:
        det = layers["detections"]
        out["detections"] = det[det["sector_ids"].map(lambda v: bool(my_ids & set(_as_list(v))))]
    return {name: out[name].reset_index(drop=True) for name in LAYERS if name in out}


def write_export(
    layers: Mapping[str, gpd.GeoDataFrame], out: str | Path, *, fmt: ExportFormat
) -> dict[str, Any]:
    """Write ``layers`` to ``out`` in format ``fmt`` and return a summary.

    Parameters
    ----------
    layers
        Layer name -> EPSG:4326 GeoDataFrame, as from :func:`export_layers`. Not changed.
    out
        ``geojson``/``csv``: a directory (created) with one ``<layer>.<ext>`` per layer.
        ``gpkg``/``kml``: one file holding every layer (replaced if it exists).
    fmt
        One of :data:`FORMATS`.

    Returns
    -------
    dict
        ``{"format": fmt, "out": str(out), "layers": {name: feature_count}}``.
    """
    if fmt not in FORMATS:
        raise ValidationError(f"export format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    try:
        if fmt in ("geojson", "csv"):
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.is_dir():
                raise ValidationError(f"--out {out}: expected a file for {fmt}, got a directory")
            out.unlink(missing_ok=True)
        for i, (name, gdf) in enumerate(layers.items()):
            if fmt == "geojson":
                path = out / f"{name}.geojson"
                path.unlink(missing_ok=True)
                pyogrio.write_dataframe(
                    _for_gdal(gdf, datetimes_as_text=False),
                    path,
                    driver="GeoJSON",
                    layer=name,
                    layer_options={"RFC7946": "YES"},
                )
            elif fmt == "gpkg":
                pyogrio.write_dataframe(
                    _for_gdal(gdf, datetimes_as_text=False),
                    out,
                    driver="GPKG",
                    layer=name,
                    append=i > 0,
                )
            elif fmt == "kml":
                pyogrio.write_dataframe(
                    _for_kml(gdf, name),
                    out,
                    driver="LIBKML",
                    layer=name,
                    append=i > 0,
                    layer_options={"FOLDER": "YES"},
                )
            else:
                write_csv(_to_csv_table(gdf), out / f"{name}.csv")
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    return {"format": fmt, "out": str(out), "layers": {n: len(g) for n, g in layers.items()}}


def write_export_pages(
    layers: Mapping[str, gpd.GeoDataFrame],
    detections: Iterable[gpd.GeoDataFrame],
    out: str | Path,
    *,
    fmt: ExportFormat,
    sector_ids: frozenset[str] | None = None,
) -> dict[str, Any]:
    """:func:`write_export` with the ``detections`` layer written from pages, one at a time.

    Parameters
    ----------
    layers
        As for :func:`write_export`; its ``detections`` (if any) is not written, only its
        columns are used when ``detections`` holds no page.
    detections
        Pages of detections with the same columns (e.g.
        :func:`geo.mapview.window_detections`), appended to the layer as they come: memory
        holds a page (KML excepted: LIBKML cannot append to a layer it wrote, so its
        detections are gathered and written once).
    out, fmt
        As for :func:`write_export`.
    sector_ids
        A partner's view: only the rows in one of these sectors (as :func:`export_layers`
        keeps them); ``None``: every row.

    Returns
    -------
    dict
        The summary of :func:`write_export`, with the detections counted.
    """
    summary = write_export({k: v for k, v in layers.items() if k != "detections"}, out, fmt=fmt)
    pages: Iterator[gpd.GeoDataFrame] = (_in_sectors(p, sector_ids) for p in detections)
    if fmt == "kml":
        held = list(pages)
        pages = iter([pd.concat(held, ignore_index=True)] if held else [])
    n = 0
    try:
        for k, page in enumerate(pages):
            if k == 0 or len(page):
                append_detections(page, out, fmt=fmt, first=k == 0)
                n += len(page)
        if not n and "detections" in layers and not _written(out, fmt):
            append_detections(layers["detections"].iloc[:0], out, fmt=fmt, first=True)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    summary["layers"]["detections"] = n
    return summary


def _in_sectors(page: gpd.GeoDataFrame, sector_ids: frozenset[str] | None) -> gpd.GeoDataFrame:
    """The rows of ``page`` in one of ``sector_ids`` (all of them for ``None``)."""
    if sector_ids is None:
        return page
    keep = page["sector_ids"].map(lambda v: bool(sector_ids & set(_as_list(v))))
    return page[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def _written(out: str | Path, fmt: str) -> bool:
    """Whether the export at ``out`` holds a ``detections`` layer already."""
    out = Path(out)
    if fmt in ("geojson", "csv"):
        return (out / f"detections.{fmt}").exists()
    return "detections" in [name for name, _ in pyogrio.list_layers(out)]


def append_detections(gdf: gpd.GeoDataFrame, out: str | Path, *, fmt: str, first: bool) -> None:
    """Add a page of detections to the ``detections`` layer of an export (``first``: create it).

    ``out`` and ``fmt`` as for :func:`write_export`, which wrote the other layers; every
    page has the columns of the first.
    """
    out = Path(out)
    if fmt == "geojson":
        pyogrio.write_dataframe(
            _for_gdal(gdf, datetimes_as_text=False),
            out / "detections.geojson",
            driver="GeoJSON",
            layer="detections",
            append=not first,
            layer_options={"RFC7946": "YES"} if first else None,
        )
    elif fmt == "gpkg":
        pyogrio.write_dataframe(
            _for_gdal(gdf, datetimes_as_text=False),
            out,
            driver="GPKG",
            layer="detections",
            append=True,
        )
    elif fmt == "kml":
        pyogrio.write_dataframe(
            _for_kml(gdf, "detections"),
            out,
            driver="LIBKML",
            layer="detections",
            append=True,
            layer_options={"FOLDER": "YES"} if first else None,
        )
    else:
        data = csv_bytes(_to_csv_table(gdf))
        path = out / "detections.csv"
        if first:
            path.write_bytes(data)
        else:
            with path.open("ab") as f:
                f.write(data.split(b"\r\n", 1)[1])


# ---- helpers ---------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    """Cell -> list of text items: lists/tuples/arrays as they are, text split on ","."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def _field_name(name: str) -> str:
    """A field name valid in GeoPackage and KML: letters, digits and ``_``, not a digit first."""
    clean = re.sub(r"[^0-9A-Za-z_]", "_", str(name)) or "field"
    return f"f_{clean}" if clean[0].isdigit() else clean


def _flatten(df: pd.DataFrame, *, datetimes_as_text: bool) -> pd.DataFrame:
    """Copy with list cells joined by ",", categoricals as text, valid unique field names."""
    out = df.copy()
    geom = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for col in out.columns:
        if col == geom:
            continue
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).where(s.notna(), None)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            if datetimes_as_text:
                text = s.map(lambda t: t.isoformat() if pd.notna(t) else None)
                out[col] = text.astype(object)
        elif (
            pd.api.types.is_object_dtype(s.dtype)
            and s.map(lambda v: isinstance(v, (list, tuple, set))).any()
        ):
            out[col] = s.map(lambda v: ",".join(_as_list(v)) if v is not None else None)
    renames: dict[str, str] = {}
    seen: set[str] = {geom} if geom else set()
    for col in out.columns:
        if col == geom:
            continue
        new = _field_name(col)
        while new.lower() in {s.lower() for s in seen}:
            new += "_"
        seen.add(new)
        if new != col:
            renames[col] = new
    return out.rename(columns=renames)


def _for_gdal(gdf: gpd.GeoDataFrame, *, datetimes_as_text: bool) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(_flatten(gdf, datetimes_as_text=datetimes_as_text))


_KML_NAME_FIELDS = ("sector_id", "sensor_id", "detection_id")


def _for_kml(gdf: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    """Flatten for KML: datetimes as ISO text, a ``name`` and a ``description`` per placemark.

    Every text is HTML-escaped (:func:`escape_kml_text`): Google Earth renders names,
    descriptions and data fields as HTML.
    """
    flat = _for_gdal(gdf, datetimes_as_text=True)
    attrs = [c for c in flat.columns if c != flat.geometry.name]
    label = next((c for c in _KML_NAME_FIELDS if c in flat.columns), None)
    if label is not None:
        names = flat[label].astype(object).where(flat[label].notna(), layer)
    elif {"start_km", "length_km"} <= set(flat.columns):
        names = pd.Series(
            [
                f"{layer} at km {s:.1f} ({ln:.2f} km)"
                for s, ln in zip(flat["start_km"], flat["length_km"], strict=True)
            ],
            index=flat.index,
            dtype=object,
        )
    else:
        names = pd.Series(
            [f"{layer} {i + 1}" for i in range(len(flat))], index=flat.index, dtype=object
        )
    descriptions = [
        "\n".join(f"{c}: {v}" for c, v in zip(attrs, row, strict=True) if pd.notna(v))
        for row in flat[attrs].itertuples(index=False, name=None)
    ]
    # LIBKML writes the "name"/"description" fields as the placemark's own name/description.
    flat = flat.rename(columns={c: f"{c}_" for c in ("name", "description") if c in flat})
    for col in flat.columns:  # the data fields (ExtendedData): Google Earth shows them too
        dtype = flat[col].dtype
        if col != flat.geometry.name and (
            pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
        ):
            flat[col] = flat[col].map(escape_kml_text)
    flat.insert(
        0,
        "description",
        pd.Series([escape_kml_text(d) for d in descriptions], index=flat.index, dtype=object),
    )
    flat.insert(0, "name", names.astype(object).map(escape_kml_text))
    return flat


def _to_csv_table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes, geometry as WKT ``wkt``, and ``lon``/``lat`` for point layers.

    Not escaped here: :func:`write_csv` escapes every text cell it writes.
    """
    flat = _flatten(gdf, datetimes_as_text=True)
    geom = flat.geometry
    table = pd.DataFrame(flat.drop(columns=geom.name))
    table["wkt"] = geom.to_wkt().astype(object)
    if len(geom) and (geom.geom_type == "Point").all():
        table["lon"] = geom.x.to_numpy()
        table["lat"] = geom.y.to_numpy()
    return table
