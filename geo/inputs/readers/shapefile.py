"""ESRI Shapefiles: a ``.zip`` holding one or more, or a ``.shp`` next to its other parts.

A shapefile is several files; without its ``.shx``, ``.dbf`` or ``.prj`` it is refused
(Limes never guesses a CRS). Only the parts (``.shp``, ``.shx``, ``.dbf``, ``.prj``,
``.cpg``) are handed to GDAL, as one uncompressed in-memory zip per shapefile.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.files import check_file, max_file_bytes, mb, read_bytes, too_large
from geo.inputs.readers.gdal import list_layers
from geo.inputs.readers.ogr import choose_layers, merge_raws, read_vector
from geo.inputs.readers.raw import Family, RawLayer
from geo.inputs.readers.zips import open_zip, read_zip_entry

__all__ = ["read_shapefile", "read_shapefile_zip"]


def _sidecar_problem(base: str, have: set[str], source: str) -> None:
    """Raise if the .shx/.dbf/.prj of a shapefile ``base`` is missing from ``have``."""
    stem = Path(base).name
    for ext, what in ((".shx", "the shape index"), (".dbf", "the attribute table")):
        if (base + ext).lower() not in have:
            raise ValidationError(
                describe(
                    source,
                    f"the shapefile '{stem}.shp' has no '{stem}{ext}' ({what})",
                    expected=".shp, .shx, .dbf and .prj together",
                    got=f"no {ext}",
                    fix="A shapefile is several files: include all of them (.shp, .shx, "
                    ".dbf, .prj) in the zip",
                )
            )
    if (base + ".prj").lower() not in have:
        raise ValidationError(
            describe(
                source,
                f"CRS unknown, add the .prj: the shapefile '{stem}.shp' has no '{stem}.prj'",
                expected="a .prj file naming the CRS",
                got="no .prj",
                fix="Limes never guesses a shapefile's CRS; export it again with its .prj "
                "(or save as GeoPackage)",
            )
        )


#: Parts of a shapefile handed to GDAL (lower case); others in a zip are not read.
_SHAPEFILE_PARTS: tuple[str, ...] = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile_bundle(parts: dict[str, bytes], stem: str) -> bytes:
    """One shapefile's parts as an uncompressed in-memory zip, for GDAL."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for ext, part in parts.items():
            out.writestr(f"{stem}{ext}", part)
    return buf.getvalue()


def _safe_stem(name: str) -> str:
    """A file name's stem usable inside the in-memory zip."""
    return re.sub(r"[^\w.-]", "_", Path(name).stem) or "layer"


def read_shapefile_zip(data: bytes, source: str, family: Family) -> RawLayer:
    """The shapefiles of a zip (its bytes), each with its .shx, .dbf and .prj."""
    zf, files = open_zip(data, source, "zip")
    with zf:
        by_lower = {i.filename.lower(): i for i in files}
        shps = [i.filename for i in files if i.filename.lower().endswith(".shp")]
        if not shps:
            shown = ", ".join(i.filename for i in files[:10]) or "nothing"
            raise ValidationError(
                describe(
                    source,
                    "the zip holds no shapefile",
                    expected="a .shp with its .shx, .dbf and .prj",
                    got=shown,
                    fix="Zip the shapefile's parts (.shp, .shx, .dbf, .prj), or upload "
                    "another supported format directly",
                )
            )
        have = set(by_lower)
        for shp in shps:
            _sidecar_problem(shp[:-4], have, source)
        bundles = []
        for shp in shps:
            base = shp[:-4].lower()
            parts = {
                ext: read_zip_entry(zf, by_lower[base + ext], source)
                for ext in _SHAPEFILE_PARTS
                if base + ext in by_lower
            }
            bundles.append(_shapefile_bundle(parts, _safe_stem(shp)))
    return _read_shapefiles(
        bundles, [Path(m).stem for m in shps], source, "ESRI Shapefile (zip)", family
    )


def read_shapefile(path: Path, source: str, family: Family) -> RawLayer:
    """A ``.shp`` given on the command line, next to its other parts."""
    siblings = {p.name.lower(): p for p in path.parent.iterdir()} if path.parent.is_dir() else {}
    base = path.name[:-4]
    _sidecar_problem(base, set(siblings), source)
    parts: dict[str, bytes] = {}
    total = 0
    for ext in _SHAPEFILE_PARTS:
        part = siblings.get((base + ext).lower())
        if part is None:
            continue
        check_file(part, part.name)
        parts[ext] = read_bytes(part, part.name)
        total += len(parts[ext])
        if total > max_file_bytes():
            raise too_large(source, f"{mb(total)} with its .shx/.dbf/.prj")
    bundle = _shapefile_bundle(parts, _safe_stem(path.name))
    return _read_shapefiles([bundle], [path.stem], source, "ESRI Shapefile", family)


def _read_shapefiles(
    bundles: list[bytes], names: list[str], source: str, label: str, family: Family
) -> RawLayer:
    """Read the shapefiles whose geometry fits ``family`` and concatenate them."""
    notes: list[str] = []
    if len(bundles) == 1:
        return read_vector(bundles[0], source, "shp", label, family, layers=None, notes=notes)
    found: list[tuple[str, str]] = []
    for b, n in zip(bundles, names, strict=True):
        types = list_layers(b, source, label, notes)
        found.append((n, types[0][1] if types else "Unknown"))
    chosen = choose_layers(found, family, "shp", source, label, notes)
    pairs = [
        (n, read_vector(b, source, "shp", label, family, layers=None, notes=notes))
        for b, n in zip(bundles, names, strict=True)
        if n in chosen
    ]
    return merge_raws([r for _, r in pairs], [n for n, _ in pairs], source)
