"""Vector files GDAL reads (GeoJSON, GeoPackage, FlatGeobuf), layer by layer.

The layer reading here is shared by the Shapefile, KML/KMZ and GPX readers.

:func:`read_vector` reads the layers of one file whose geometry fits the layer (all of them
for KML/KMZ), numbering features on across layers and refusing layers in different CRSs;
:func:`merge_raws` joins the raw layers of several files of one upload (the shapefiles of a
zip, the documents of a KMZ).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.gdal import list_layers, open_vector
from geo.inputs.readers.raw import (
    CURVE_REASON,
    WGS84_BY_STANDARD,
    Family,
    RawLayer,
    concat_frames,
    decode_geometries,
    is_wgs84,
    parse_crs,
)

__all__ = ["choose_layers", "merge_raws", "read_vector"]

#: Geometry types GDAL declares for a layer, by family.
_DECLARED_TYPES: dict[Family, frozenset[str]] = {
    "point": frozenset(
        {"Point", "MultiPoint", "Point Z", "MultiPoint Z", "3D Point", "3D MultiPoint"}
    ),
    "line": frozenset(
        {
            "LineString",
            "MultiLineString",
            "LineString Z",
            "MultiLineString Z",
            "3D LineString",
            "3D MultiLineString",
        }
    ),
    "polygon": frozenset(
        {"Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z", "3D Polygon", "3D MultiPolygon"}
    ),
}


#: GDAL dataset open options by format. GeoJSON has no date type, so GDAL guesses one from
#: text that starts like a date and keeps only that start: a sensor's ``outages``
#: (``FROM/TO;FROM/TO``) would lose all but its first time. Every text stays text, and
#: Limes parses times itself (:mod:`geo.inputs.checks.times`), as for CSV. The other
#: formats GDAL reads declare their field types (GeoPackage, FlatGeobuf, Shapefile, KML
#: schemas, GPX), so text there stays text.
_OPEN_OPTIONS: dict[str, dict[str, str]] = {"geojson": {"DATE_AS_STRING": "YES"}}


def _fits(gtype: str, family: Family) -> bool:
    """Whether a layer's declared geometry type is of ``family``."""
    return gtype in _DECLARED_TYPES[family]


def read_vector(
    data: bytes,
    source: str,
    kind: str,
    label: str,
    family: Family,
    *,
    layers: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> RawLayer:
    """Read one or several layers of a GDAL vector file (its bytes) and concatenate them."""
    notes = [] if notes is None else notes
    found = list_layers(data, source, label, notes)
    if layers is None:
        layers = choose_layers(found, family, kind, source, label, notes)
    # layers are read by position: GDAL names a layer without a name of its own after the
    # (random) in-memory file name, which changes from one call to the next
    wanted = set(layers)
    positions = [(i, name) for i, (name, _) in enumerate(found) if name in wanted]
    frames: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    rejects: list[tuple[int, str | None, str]] = []
    first_crs: tuple[str, str] | None = None  # (CRS text, layer) of the first layer with rows
    offset = 0
    ranges: list[str] = []
    for pos, lyr in positions:
        meta, table = open_vector(
            data,
            source,
            label,
            notes,
            layer=pos,
            before=offset,
            open_options=_OPEN_OPTIONS.get(kind),
        )
        table, g = _split_geometry(meta, table, offset, rejects)
        if table.num_rows:
            first_crs = _same_crs(first_crs, meta.get("crs"), lyr, source)
        frames.append(table.to_pandas())
        geoms.append(g)
        if len(positions) > 1 and table.num_rows:
            ranges.append(f"{lyr!r} (features {offset + 1}-{offset + table.num_rows})")
        offset += table.num_rows
    if len(positions) > 1 and len(ranges) > 1:
        notes.append(f"read {len(ranges)} layers: " + ", ".join(ranges))
    attrs = concat_frames(frames)
    geometry = np.concatenate(geoms) if geoms else np.empty(0, dtype=object)
    crs, assumed = _layer_crs(first_crs[0] if first_crs else None, kind, source)
    return RawLayer(
        source=source,
        format=label,
        attrs=attrs,
        geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64),
        row_label="feature",
        crs=crs,
        crs_assumed=assumed,
        kind=kind,
        notes=notes,
        rejects=rejects,
    )


def _split_geometry(
    meta: dict[str, object],
    table: pa.Table,
    offset: int,
    rejects: list[tuple[int, str | None, str]],
) -> tuple[pa.Table, np.ndarray]:
    """The attribute table and the decoded geometries of one layer read by GDAL.

    Features whose geometry cannot be decoded are added to ``rejects``, numbered on from
    ``offset`` (the features of the layers read before).
    """
    geom_name = str(meta.get("geometry_name") or "wkb_geometry")
    if geom_name in table.column_names:
        wkb = table.column(geom_name).to_numpy(zero_copy_only=False)
        table = table.drop_columns([geom_name])
    else:
        wkb = np.full(table.num_rows, None, dtype=object)
    g, curves = decode_geometries(wkb, "wkb")
    for i in np.flatnonzero(pd.notna(wkb) & pd.isna(g)):
        rejects.append(
            (
                offset + int(i),
                "geometry",
                CURVE_REASON
                if curves[i]
                else "the geometry could not be decoded (unsupported or corrupt geometry, "
                "e.g. a TIN or a polyhedral surface); export it as simple features",
            )
        )
    return table, np.asarray(g, dtype=object)


def _same_crs(
    first: tuple[str, str] | None, layer_crs: object, lyr: str, source: str
) -> tuple[str, str]:
    """``(CRS text, layer)`` of the first layer with features; raise if ``lyr``'s differs."""
    text = str(layer_crs) if layer_crs else ""
    if first is None:
        return text, lyr
    crs_text, crs_layer = first
    if text != crs_text:
        raise ValidationError(
            describe(
                source,
                "layers use different CRSs",
                got=f"layer {lyr!r}: {layer_crs}, layer {crs_layer!r}: {crs_text or 'none'}",
                expected="one CRS for all layers read",
                fix="Export the layers to one CRS, or keep only one layer",
            )
        )
    return first


def _layer_crs(
    crs_text: str | None, kind: str, source: str
) -> tuple[pyproj.CRS | None, str | None]:
    """The CRS of the layers read, and why it is assumed (formats that are WGS84 by standard)."""
    crs = parse_crs(crs_text, source) if crs_text else None
    assumed: str | None = None
    standard = WGS84_BY_STANDARD.get(kind)
    if standard is not None and crs is None:
        crs, assumed = pyproj.CRS.from_epsg(4326), standard
    elif standard is not None and crs is not None and is_wgs84(crs):
        assumed = standard
    return crs, assumed


def choose_layers(
    found: list[tuple[str, str]],
    family: Family,
    kind: str,
    source: str,
    label: str,
    notes: list[str],
) -> list[str]:
    """Pick the layers to read: all for KML/KMZ, else the ones whose geometry type fits."""
    if not found:
        raise ValidationError(describe(source, "contains no layers", expected=f"a {label} layer"))
    if kind in ("kml", "kmz") or len(found) == 1:
        return [name for name, _ in found]
    fitting = [name for name, gtype in found if _fits(gtype, family)]
    if not fitting:
        fitting = [
            name for name, gtype in found if gtype in ("Unknown", "Geometry", "GeometryCollection")
        ]
    listing = ", ".join(f"{n!r} ({t})" for n, t in found)
    if not fitting:
        hint = {
            "line": "The border must be lines: use the polygon's boundary (e.g. QGIS 'Polygons "
            "to lines') or export the border as LineString",
            "polygon": "Sectors must be polygons (Polygon/MultiPolygon)",
            "point": "Sensors and detections must be points",
        }[family]
        raise ValidationError(
            describe(
                source,
                f"has no layer with {family} geometries",
                expected=f"a layer of {family}s",
                got=listing,
                fix=hint,
            )
        )
    skipped = [f"{n!r} ({t})" for n, t in found if n not in fitting]
    if skipped or len(fitting) > 1:
        notes.append(
            f"used layer(s) {', '.join(repr(n) for n in fitting)} whose geometry fits; "
            + (f"skipped {', '.join(skipped)}" if skipped else "no layer skipped")
        )
    return fitting


def merge_raws(
    raws: list[RawLayer], names: list[str], source: str, *, what: str = "shapefiles"
) -> RawLayer:
    """Concatenate the shapefiles (or KML documents) of one zip (same CRS required)."""
    first = raws[0]
    if len(raws) == 1:
        return first
    for r in raws[1:]:
        if (r.crs is None) != (first.crs is None) or (
            r.crs is not None and first.crs is not None and not r.crs.equals(first.crs)
        ):
            raise ValidationError(
                describe(
                    source,
                    f"the {what} in the zip use different CRSs",
                    fix="Export them to one CRS, or zip only one of them",
                )
            )
    offsets = np.cumsum([0] + [len(r.attrs) for r in raws])
    first.notes.append(
        f"read {what} "
        + ", ".join(
            f"{n!r} (features {o + 1}-{o + len(r.attrs)})"
            for n, r, o in zip(names, raws, offsets, strict=False)
        )
    )
    rejects = [
        (int(o) + i, f, why) for r, o in zip(raws, offsets, strict=False) for i, f, why in r.rejects
    ]
    geometry = np.concatenate([r.geometry for r in raws if r.geometry is not None])
    return RawLayer(
        source=source,
        format=first.format,
        attrs=concat_frames([r.attrs for r in raws]),
        geometry=geometry,
        src_row=np.arange(1, len(geometry) + 1, dtype=np.int64),
        row_label="feature",
        crs=first.crs,
        crs_assumed=first.crs_assumed,
        kind=first.kind,
        notes=first.notes,
        rejects=rejects,
    )
