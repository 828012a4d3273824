"""Uploaded layer files: grouped, read and checked, their validation report shown (Streamlit).

The Operations page takes a border, sensors, sectors and a DEM from file uploaders that
accept several files, so a shapefile can come as its ``.shp``/``.shx``/``.dbf``/``.prj``
(and ``.cpg``) files together; they are grouped by stem. Every format :mod:`geo.inputs`
reads works (a zipped shapefile too). Each layer's files are written to a temporary folder
under their safe names (:func:`safe_name`) and read with :func:`geo.inputs.read_border`,
:func:`~geo.inputs.read_sensors` or :func:`~geo.inputs.read_sectors` in the server process:
:mod:`geo.inputs.bounded` reads detections only. A DEM must be a GeoTIFF (checked by its
first bytes before GDAL opens it) that :func:`geo.terrain.open_dem` opens.

:func:`show_report` (rows read, accepted, rejected and why) is the Upload page's report too.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs import LoadReport, read_border, read_sectors, read_sensors
from geo.terrain import open_dem

__all__ = [
    "CheckedLayer",
    "check_layer",
    "checked_uploads",
    "on_disk",
    "safe_name",
    "show_checked",
    "show_report",
]

#: A shapefile's parts, grouped by stem into one layer.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")

_READERS: dict[str, Callable[..., tuple[gpd.GeoDataFrame, LoadReport]]] = {
    "border": read_border,
    "sensors": read_sensors,
    "sectors": read_sectors,
}

#: A GeoTIFF's first bytes: TIFF and BigTIFF, little- and big-endian.
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def safe_name(name: str) -> str:
    """The file's base name, kept only for messages and the format (never a path GDAL reads)."""
    base = Path(name.replace("\\", "/")).name or "upload"
    return re.sub(r"[^\w.\- ]", "_", base)[:200]


@dataclass
class CheckedLayer:
    """One layer's uploaded files, read and checked (or why they are refused).

    ``name``: the file read (a shapefile's ``.shp``); ``files``: every file by safe name;
    ``frame`` and ``report``: as :mod:`geo.inputs` returns them; ``dem``: a DEM's figures.
    """

    layer: str
    name: str
    files: dict[str, bytes]
    frame: gpd.GeoDataFrame | None = None
    report: LoadReport | None = None
    refused: str | None = None
    dem: dict[str, Any] = field(default_factory=dict)

    @property
    def problem(self) -> str | None:
        """Why the layer cannot be stored: refused, or the first rejected row (as the store)."""
        if self.refused:
            return self.refused
        if self.report is not None and self.report.rejected:
            first, more = self.report.rejected[0], len(self.report.rejected) - 1
            return describe(
                self.name,
                first.reason,
                row=first.row,
                field=first.field,
                fix="An operation keeps every row of its layers: correct the row"
                + (f" (and {more} more rejected row(s))" if more else "")
                + " and upload the file again",
            )
        return None


def _dataset(layer: str, files: dict[str, bytes]) -> str:
    """The one file to read of a layer's uploads: a shapefile's ``.shp``, or the only file."""
    shps = [n for n in files if n.lower().endswith(".shp")]
    parts = [n for n in files if Path(n).suffix.lower() in SHAPEFILE_PARTS]
    others = [n for n in files if n not in parts]
    stems = {Path(n).stem.lower() for n in parts}
    if len(shps) == 1 and not others and len(stems) == 1:
        return shps[0]
    if not shps and not parts and len(others) == 1:
        return others[0]
    if parts and not shps:
        got = ", ".join(sorted(parts))
        problem, fix = "a shapefile's parts without its .shp", "Add the .shp file"
    else:
        got = ", ".join(sorted(files))
        problem = "more than one layer file"
        fix = "Give one file, or one shapefile's .shp, .shx, .dbf and .prj files (same name)"
    raise ValidationError(
        describe(
            f"{layer} files",
            problem,
            expected="one file, or one shapefile as its .shp/.shx/.dbf/.prj files",
            got=got,
            fix=fix,
        )
    )


@contextlib.contextmanager
def on_disk(checked: CheckedLayer) -> Iterator[Path]:
    """The layer's files written to a temporary folder; yields the path of the one to read."""
    with tempfile.TemporaryDirectory(prefix="limes-layer-") as tmp:
        for name, data in checked.files.items():
            (Path(tmp) / name).write_bytes(data)
        yield Path(tmp) / checked.name


def _check_dem(checked: CheckedLayer) -> None:
    data = checked.files[checked.name]
    if not data.startswith(_TIFF_MAGIC):
        raise ValidationError(
            describe(
                checked.name,
                "not a GeoTIFF",
                expected="a GeoTIFF file (heights in band 1, with a CRS)",
                got=f"a file starting with {data[:4]!r}",
                fix="Export the terrain model as GeoTIFF, e.g. gdal_translate -of GTiff",
            )
        )
    with on_disk(checked) as path:
        try:
            with open_dem(str(path)) as dem:
                checked.dem = {
                    "CRS": dem.crs.to_string(),
                    "Size": f"{dem.width:,} × {dem.height:,} cells",
                    "Cell": " × ".join(f"{abs(v):g}" for v in dem.res),
                }
        except ValidationError as exc:  # its message names the temporary path: name the file
            raise ValidationError(str(exc).replace(str(path), checked.name)) from None


def check_layer(layer: str, uploads: Sequence[tuple[str, bytes]]) -> CheckedLayer:
    """Read and check one layer's uploaded files (``layer``: border, sensors, sectors or dem).

    Never raises for the files' content: a file that cannot be used comes back with
    ``refused`` saying why (naming the file, and the row and field where there is one).
    """
    files = {safe_name(name): data for name, data in uploads}
    checked = CheckedLayer(layer, next(iter(files), ""), files)
    try:
        checked.name = _dataset(layer, files)
        total = sum(len(d) for d in files.values())
        if total > settings.MAX_UPLOAD_MB * 1024 * 1024:
            raise ValidationError(
                describe(
                    checked.name,
                    "the file is too large",
                    expected=f"at most {settings.MAX_UPLOAD_MB} MB",
                    got=f"{total / 1024 / 1024:,.0f} MB",
                )
            )
        if layer == "dem":
            _check_dem(checked)
        else:
            with on_disk(checked) as path:
                checked.frame, checked.report = _READERS[layer](path)
    except ValidationError as exc:
        checked.refused = str(exc)
    return checked


def checked_uploads(layer: str, uploads: Sequence[Any] | None, key: str) -> CheckedLayer | None:
    """The files of a file uploader read as one layer; checked once per set of files.

    The check is kept in this session (``st.session_state[key]``) until the files change.
    """
    if not uploads:
        st.session_state.pop(key, None)
        return None
    ids = tuple(f.file_id for f in uploads)
    held = st.session_state.get(key)
    if held is None or held[0] != ids:
        with st.spinner(f"Checking the {layer} file(s)…"):
            held = (ids, check_layer(layer, [(f.name, f.getvalue()) for f in uploads]))
        st.session_state[key] = held
    return held[1]


def show_report(report: LoadReport) -> None:
    """A file's validation report: rows read, accepted and rejected, and the rejected rows."""
    c = st.columns(3)
    c[0].metric("Rows read", f"{report.rows_read:,}")
    c[1].metric("Accepted", f"{report.rows_accepted:,}")
    c[2].metric("Rejected", f"{len(report.rejected):,}")
    st.caption(report.summary())
    if report.rejected:
        with st.expander(f"Rejected rows and why ({len(report.rejected):,})"):
            st.dataframe(
                pd.DataFrame(
                    [{"row": e.row, "field": e.field, "reason": e.reason} for e in report.rejected]
                ),
                hide_index=True,
                width="stretch",
            )
    if report.repaired:
        st.caption(f"Repaired: {report.repaired:,}")


def show_checked(checked: CheckedLayer) -> None:
    """One layer's check in a bordered box: its report, or why it is refused."""
    with st.container(border=True):
        others = sorted(n for n in checked.files if n != checked.name)
        st.markdown(
            f"**{checked.layer.capitalize()}**: {checked.name}"
            + (f" (with {', '.join(others)})" if others else "")
        )
        if checked.refused:
            st.error(f"Refused, nothing will be stored: {checked.refused}")
            return
        if checked.report is not None:
            show_report(checked.report)
        if checked.dem:
            st.caption(" · ".join(f"{k}: {v}" for k, v in checked.dem.items()))
        if checked.problem:
            st.error(checked.problem)
